"""Reads for a signed-in person's own pages: their runs and their API token."""
from __future__ import annotations

from django.db.models import QuerySet
from rest_framework.authtoken.models import Token

from evaluations.models import Run
from evaluations.selectors import visible_runs

PROFILE_RUNS = 100


def profile_runs(*, user) -> QuerySet[Run]:
    """The user's own runs, newest first, private ones included (they are the owner)."""
    return (visible_runs(user).filter(created_by=user).select_related("model", "suite")
            .order_by("-created_at")[:PROFILE_RUNS])


def api_token_for(*, user) -> Token | None:
    return Token.objects.filter(user=user).first()
