"""The API's authentication, rate limits and privacy: tokens, 401 on a bad one, 429 with Retry-After,
private runs hidden from lists and 404 on their id for everyone but their owner and staff."""
from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.leaderboard.factories import ModelEntryFactory, RunFactory, ScoreFactory, SuiteFactory

pytestmark = pytest.mark.django_db


def rates(**overrides: str) -> dict:
    return {**settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **overrides}}


@pytest.fixture(autouse=True)
def fresh_throttles():
    cache.clear()  # throttle histories live in the cache
    yield
    cache.clear()


@pytest.fixture
def world():
    users = get_user_model().objects
    alice = users.create_user("alice", "alice@example.org", "pw")
    bob = users.create_user("bob", "bob@example.org", "pw")
    staff = users.create_user("staff", "staff@example.org", "pw", is_staff=True)
    model = ModelEntryFactory(name="tiny-model")
    public = RunFactory(model=model, created_by=alice)
    private = RunFactory(model=model, created_by=alice, is_private=True)
    ScoreFactory(run=private, value=0.75)
    return {"alice": alice, "bob": bob, "staff": staff, "model": model, "public": public, "private": private}


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def test_token_authenticates_and_a_bad_token_is_401(world):
    token = Token.objects.create(user=world["alice"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    response = client.get(f"/api/v1/runs/{world['private'].pk}/")
    assert response.status_code == 200 and response.json()["is_private"] is True

    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = client.get("/api/v1/runs/")
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"detail": "Invalid token."}
    assert response["WWW-Authenticate"] == "Token"


def test_drf_create_token_command_makes_a_working_token(world):
    call_command("drf_create_token", "bob")
    token = Token.objects.get(user=world["bob"])
    response = APIClient().get("/api/v1/models/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200


def test_session_authentication_works_for_the_browser(world):
    client = APIClient()
    client.force_login(world["alice"])
    ids = {run["id"] for run in client.get("/api/v1/runs/").json()["results"]}
    assert world["private"].pk in ids


@override_settings(REST_FRAMEWORK=rates(anon="3/min"))
def test_anonymous_throttle_gives_429_with_retry_after(world):
    client = APIClient()
    for _ in range(3):
        assert client.get("/api/v1/suites/").status_code == 200
    response = client.get("/api/v1/suites/")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "throttled" in response.json()["detail"].lower()
    # A signed-in caller is counted by user, at the user rate, not the anonymous one.
    assert client_for(world["alice"]).get("/api/v1/suites/").status_code == 200


@override_settings(REST_FRAMEWORK=rates(user="2/min"))
def test_user_throttle_counts_per_user(world):
    alice, bob = client_for(world["alice"]), client_for(world["bob"])
    assert [alice.get("/api/v1/models/").status_code for _ in range(3)] == [200, 200, 429]
    assert bob.get("/api/v1/models/").status_code == 200


@pytest.mark.parametrize("viewer", [None, "bob"])
def test_private_runs_are_hidden_from_others(world, viewer):
    client = client_for(world[viewer] if viewer else None)
    ids = {run["id"] for run in client.get("/api/v1/runs/").json()["results"]}
    assert world["public"].pk in ids and world["private"].pk not in ids
    response = client.get(f"/api/v1/runs/{world['private'].pk}/")
    assert response.status_code == 404 and response.json() == {"detail": "No Run matches the given query."}
    model = client.get("/api/v1/models/tiny-model/").json()
    assert model["run_count"] == 1 and [run["id"] for run in model["runs"]] == [world["public"].pk]


@pytest.mark.parametrize("viewer", ["alice", "staff"])
def test_private_runs_are_seen_by_owner_and_staff(world, viewer):
    client = client_for(world[viewer])
    ids = {run["id"] for run in client.get("/api/v1/runs/").json()["results"]}
    assert {world["public"].pk, world["private"].pk} <= ids
    detail = client.get(f"/api/v1/runs/{world['private'].pk}/").json()
    assert detail["scores"]["arc_easy"]["acc_norm"]["value"] == 0.75
    assert client.get("/api/v1/models/tiny-model/").json()["run_count"] == 2


def test_lists_filter_and_paginate(world):
    other = ModelEntryFactory(name="other-model", family="llama")
    RunFactory(model=other, status="failed")
    client = APIClient()
    page = client.get("/api/v1/runs/", {"page_size": 1})
    body = page.json()
    assert body["count"] == 2 and len(body["results"]) == 1 and body["next"]
    assert [run["model"] for run in client.get("/api/v1/runs/", {"model": "other-model"}).json()["results"]] == [
        "other-model"]
    assert client.get("/api/v1/runs/", {"status": "failed"}).json()["count"] == 1
    assert [m["slug"] for m in client.get("/api/v1/models/", {"family": "llama"}).json()["results"]] == [
        "other-model"]
    assert client.get("/api/v1/models/nope/").status_code == 404


def test_suites_list_and_docs_page_served_offline(world):
    suite = SuiteFactory(order=["arc_easy", "winogrande"])
    client = APIClient()
    suites = client.get("/api/v1/suites/").json()["results"]
    assert [(s["id"], s["order"]) for s in suites] == [(suite.pk, ["arc_easy", "winogrande"])]
    docs = client.get("/api/docs/")
    html = docs.content.decode()
    assert docs.status_code == 200 and '<script src="/api/docs/?script=">' in html
    assert "cdn" not in html.lower() and "/static/drf_spectacular_sidecar/" in html
    # Swagger UI's start-up script is a file of its own (the CSP runs no inline script); it loads the schema.
    script = client.get("/api/docs/", {"script": ""})
    assert script["Content-Type"].startswith("application/javascript") and "/api/schema/" in script.content.decode()
    schema = client.get("/api/schema/", {"format": "json"}).json()
    assert {"/api/v1/models/", "/api/v1/models/{slug}/", "/api/v1/runs/", "/api/v1/runs/{id}/",
            "/api/v1/suites/"} <= set(schema["paths"])


def test_run_and_model_lists_take_a_constant_number_of_queries(world):
    client = client_for(world["alice"])

    def queries(path: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(path).status_code == 200
        return len(captured)

    before = {path: queries(path) for path in ("/api/v1/runs/", "/api/v1/models/", "/api/v1/models/tiny-model/")}
    for _ in range(4):
        RunFactory(model=ModelEntryFactory(), created_by=world["alice"], is_private=True)
        RunFactory(model=world["model"])
    cache.clear()
    assert {path: queries(path) for path in before} == before
