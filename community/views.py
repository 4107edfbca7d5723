"""A signed-in person's profile: their runs and their API token (created and revoked by POST)."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from community import selectors, services

# The new key travels to the next page in the session, once, so a reload does not show it again.
NEW_TOKEN_SESSION_KEY = "community_new_api_token"


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    context = {
        "runs": selectors.profile_runs(user=request.user),
        "token": selectors.api_token_for(user=request.user),
        "new_token": request.session.pop(NEW_TOKEN_SESSION_KEY, None),
    }
    return render(request, "account/profile.html", context)


@login_required
@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    token = services.api_token_create(user=request.user)
    request.session[NEW_TOKEN_SESSION_KEY] = token.key
    messages.success(request, "A new API token was created; copy it now, it is shown only once.")
    return redirect("community:profile")


@login_required
@require_POST
def token_revoke(request: HttpRequest) -> HttpResponse:
    if services.api_token_revoke(user=request.user):
        messages.success(request, "Your API token was revoked.")
    return redirect("community:profile")
