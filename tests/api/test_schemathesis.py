"""Schemathesis over every operation of /api/schema/, in process through the WSGI app, signed in with a DRF token:
no 5xx, and every status code, content type and body is one the schema declares.

Bounded for the suite (a few examples per operation, no deadline). Multipart uploads are generated too; their
files are random bytes, which the upload checks refuse with a documented 4xx.
"""
from __future__ import annotations

import os

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from benchsite.wsgi import application
from community import services as community_services
from tests.leaderboard.factories import BenchmarkFactory, ModelEntryFactory, SuiteFactory, finished_run

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
# A few examples per operation and generation mode, the same ones every run, keep this inside the suite's budget;
# SCHEMATHESIS_MAX_EXAMPLES=50 pytest tests/api/test_schemathesis.py hunts deeper with fresh random examples.
DEEP = "SCHEMATHESIS_MAX_EXAMPLES" in os.environ
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "4"))


@pytest.fixture
def wsgi_in_test_transaction():
    """The WSGI handler closes the database connection after each request, which would end the test's transaction;
    Django's test client unhooks the same signal handler around its requests."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def quiet_fixtures(db, wsgi_in_test_transaction, tmp_path, settings):
    # Generated bodies land in temporary folders; throttles are tested in test_auth_throttle.py, and at these
    # rates they would answer (a documented) 429 to most of the run instead of the operation under test.
    settings.BENCHSITE_UPLOAD_DIR = tmp_path / "uploads"
    settings.VAR_DIR = tmp_path / "var"
    settings.REST_FRAMEWORK = {**django_settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        "anon": "100000/min", "user": "100000/min", "submissions": "100000/min"}}
    cache.clear()


@pytest.fixture
def token() -> str:
    """A user with public and private runs on a suite, a submission and a benchmark; their token."""
    users = get_user_model().objects
    alice = users.create_user("alice", "alice@example.org", None)
    BenchmarkFactory(slug="arc_easy", title="ARC-Easy", primary_metric="acc_norm")
    SuiteFactory(slug="standard", order=["arc_easy"])
    for name, value in (("alpha", 0.8), ("beta", 0.6)):
        finished_run(ModelEntryFactory(name=name), {"arc_easy": value}, created_by=alice)
    finished_run(ModelEntryFactory(name="hidden"), {"arc_easy": 0.9}, created_by=alice, is_private=True)
    community_services.submission_create(user=alice, request=community_services.SubmissionRequest(
        name="Alice model", source="hub", license="mit", owner_consent=True, hub_id="alice/model"))
    return Token.objects.create(user=alice).key


# Loaded at collection, from the app itself (the schema view reads no rows). schemathesis's lazy loader
# (`schemathesis.pytest.from_fixture`) sets a node attribute pytest 9 no longer has.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=not DEEP, database=None,
          suppress_health_check=list(HealthCheck))
@pytest.mark.django_db
def test_api_conforms_to_its_schema(case, token):
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)
