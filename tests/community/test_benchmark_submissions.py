"""Custom benchmarks from the website and the API: the validator's line-numbered report shown before anything is
stored, a preview of the rendered prompts, private to the author until a moderator approves, versions."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from community.models import BenchmarkSubmission, ModerationLogEntry
from evaluations.models import Benchmark

pytestmark = pytest.mark.django_db
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
CHECKLIST = {"source_url": "https://example.org/capitals", "license": "cc-by-4.0", "reference_checked": "on"}


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"  # imports write their content-addressed copies there


def files(spec: bytes | None = None, data: bytes | None = None) -> dict:
    return {"spec": SimpleUploadedFile("capitals.yaml", spec or (EXAMPLES / "capitals.yaml").read_bytes()),
            "data": SimpleUploadedFile("capitals.jsonl", data or (EXAMPLES / "capitals.jsonl").read_bytes())}


def client_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_check_shows_line_numbered_problems_and_stores_nothing(people, upload_dir):
    rows = (EXAMPLES / "capitals.jsonl").read_bytes().splitlines()
    broken = b"\n".join([rows[0], b'{"id": "x", "country": "Peru"', rows[2], b"\xff\xfe not utf-8"])
    client = client_for(people["alice"])
    # The first check in a process imports the engine's catalogue (seconds); the timing is of a later one.
    client.post(reverse("community:benchmark_new"), {**files(), **CHECKLIST, "action": "check"},
                HTTP_HX_REQUEST="true")
    started = time.monotonic()
    response = client.post(reverse("community:benchmark_new"),
                           {**files(data=broken), **CHECKLIST, "action": "check"}, HTTP_HX_REQUEST="true")
    assert time.monotonic() - started < 1
    assert response.status_code == 200  # the report is the answer to a check (htmx swaps 2xx only)
    html = response.content.decode()
    assert "nothing was stored" in html and "not UTF-8 text" in html
    assert '<td>capitals.jsonl</td><td>4</td>' in html
    assert "<html" not in html  # the fragment, for HTMX
    assert not Benchmark.objects.filter(slug="capitals").exists()
    assert [p.name for p in (upload_dir / "staging").iterdir()] == []


def test_check_previews_the_first_prompts_then_submit_keeps_it_private_until_approved(people):
    alice = client_for(people["alice"])
    check = alice.post(reverse("community:benchmark_new"), {**files(), **CHECKLIST, "action": "check"},
                       HTTP_HX_REQUEST="true")
    assert check.status_code == 200
    html = check.content.decode()
    assert "Valid: World capitals v1.0, 6 items" in html
    assert "Question: What is the capital of Japan?\nAnswer: Tokyo\n\nQuestion: What is the capital of France?" \
        in html.replace("&#x27;", "'")
    assert not Benchmark.objects.filter(slug="capitals").exists()

    missing = alice.post(reverse("community:benchmark_new"), {**files(), "license": "x", "action": "submit"})
    assert missing.status_code == 400 and "say where the items come from" in missing.content.decode()
    submit = alice.post(reverse("community:benchmark_new"), {**files(), **CHECKLIST, "action": "submit"})
    assert submit.status_code == 302 and submit["Location"] == reverse("community:benchmark_reviews",
                                                                       args=["capitals"])
    submission = BenchmarkSubmission.objects.get()
    assert (submission.state, submission.submitter, submission.benchmark.submitted_by) == (
        "pending", people["alice"], people["alice"])

    page = reverse("community:benchmark_reviews", args=["capitals"])
    assert client_for().get(page).status_code == 404
    assert client_for(people["bob"]).get(page).status_code == 404
    assert "World capitals" not in client_for(people["bob"]).get(reverse("community:benchmark_list")).content.decode()
    own_page = alice.get(page).content.decode()
    assert 'data-benchmark-state="pending"' in own_page and "reviews come from other people" in own_page
    again = alice.post(reverse("community:benchmark_new"), {**files(), **CHECKLIST, "action": "submit"})
    assert again.status_code == 302 and BenchmarkSubmission.objects.count() == 1

    moderation = client_for(people["mod"]).get(reverse("community:moderation")).content.decode()
    assert f'data-benchmark-submission="{submission.pk}"' in moderation
    client_for(people["mod"]).post(reverse("community:benchmark_moderate", args=[submission.pk]),
                                   {"decision": "approve"})
    assert client_for().get(page).status_code == 200
    assert ModerationLogEntry.objects.get().action == "benchmark.approve"

    # Changed content under the same version is refused; a new version is a new submission.
    changed = (EXAMPLES / "capitals.jsonl").read_bytes().replace(b"France", b"Frankreich")
    response = alice.post(reverse("community:benchmark_new"), {**files(data=changed), **CHECKLIST, "action": "submit"})
    assert response.status_code == 400 and "bump the version" in response.content.decode()
    spec = (EXAMPLES / "capitals.yaml").read_bytes().replace(b'version: "1.0"', b'version: "1.1"')
    response = alice.post(reverse("community:benchmark_new"),
                          {**files(spec=spec, data=changed), **CHECKLIST, "action": "submit"})
    assert response.status_code == 302
    assert sorted(Benchmark.objects.filter(slug="capitals").values_list("version", flat=True)) == ["1.0", "1.1"]
    assert BenchmarkSubmission.objects.filter(state="pending").count() == 1


def test_the_api_reports_problems_as_json_and_creates_a_submission(people):
    token, _ = Token.objects.get_or_create(user=people["bob"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    checklist = {"source_url": "https://example.org/capitals", "license": "cc-by-4.0"}
    empty = client.post("/api/v1/benchmarks/", {**files(data=b" "), **checklist}, format="multipart")
    assert empty.status_code == 400
    assert empty.json()["problems"] and all(set(p) == {"file", "line", "message"} for p in empty.json()["problems"])
    check = client.post("/api/v1/benchmarks/", {**files(), **checklist, "check_only": "true"}, format="multipart")
    assert check.status_code == 200 and check.json()["items"] == 6 and len(check.json()["prompts"]) == 3
    created = client.post("/api/v1/benchmarks/", {**files(), **checklist}, format="multipart")
    assert created.status_code == 201, created.json()
    assert (created.json()["slug"], created.json()["state"], created.json()["submitter"]) == (
        "capitals", "pending", "bob")
    assert APIClient().post("/api/v1/benchmarks/", files(), format="multipart").status_code == 401
    # Another person cannot review it before it is approved: to them it does not exist.
    other = APIClient()
    other.force_authenticate(people["alice"])
    assert other.post("/api/v1/benchmarks/capitals/reviews/", {"rating": 5}, format="json").status_code == 404
    assert json.loads(json.dumps(created.json()))["reference_checked"] is False
