"""The login lockout (django-axes) as the first authentication backend."""
from __future__ import annotations

from axes.backends import AxesStandaloneBackend


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check, for logins that come with a request.

    Password guessing comes over HTTP, and every HTTP login (allauth's forms, the admin) passes its
    request. A call without one (`Client.login` in tests, a script) has no address to lock out, and
    axes would raise rather than decide, so it is left to the next backend.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
