"""The API's rate limits: DRF's anonymous, per-user and scoped throttles with rates read per request.

DRF's own classes copy DEFAULT_THROTTLE_RATES once, at import; reading them when a request comes lets a
changed setting (a test's override_settings, a reloaded configuration) take effect.
"""
from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from rest_framework import throttling
from rest_framework.settings import api_settings


class _RatesFromSettings:
    scope: str | None

    def get_rate(self) -> str | None:
        try:
            return api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        except KeyError as exc:
            raise ImproperlyConfigured(f"no REST_FRAMEWORK DEFAULT_THROTTLE_RATES for scope {self.scope!r}") from exc


class AnonThrottle(_RatesFromSettings, throttling.AnonRateThrottle):
    """Anonymous callers, by address."""


class UserThrottle(_RatesFromSettings, throttling.UserRateThrottle):
    """Callers with a token or a session, by user."""


class ScopedThrottle(_RatesFromSettings, throttling.ScopedRateThrottle):
    """Views that name a `throttle_scope` (e.g. "submissions" for writes), per user or address."""
