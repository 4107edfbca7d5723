"""POST /api/v1/submissions/: JSON for hub ids and endpoints, multipart for files; refusals are JSON with a
message and the field at fault, never a 500; the log and each submission's history are public reads."""
from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from community.models import Submission
from tests.api.test_auth_throttle import client_for
from tests.community.conftest import gguf_upload, people, safetensors_uploads, staged_files, upload_dir  # noqa: F401
from tests.community.files import PICKLE, gguf_bytes, safetensors_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("upload_dir")]
URL = "/api/v1/submissions/"
HUB = {"name": "Hub model", "hub_id": "org/hub-model", "revision": "0123abcd", "license": "apache-2.0",
       "owner_consent": True}


def test_a_hub_submission_by_token_is_created_and_readable_by_anyone(people):
    response = client_for(people["alice"]).post(URL, HUB, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["state"], body["source"], body["submitter"], body["revision"]) == (
        "validated", "hub", "alice", "0123abcd")
    assert [event["to_state"] for event in body["events"]] == ["submitted", "validated"]
    assert response["Location"] == f"{URL}{body['id']}/"

    detail = client_for().get(f"{URL}{body['id']}/").json()
    assert detail["events"][0]["actor"] == "alice" and detail["events"][1]["actor"] is None
    listing = client_for().get(URL, {"state": "validated"}).json()
    assert [row["id"] for row in listing["results"]] == [body["id"]]
    assert client_for().get(URL, {"state": "rejected"}).json()["results"] == []

    again = client_for(people["bob"]).post(URL, {**HUB, "name": "Same weights"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == body["id"]


def test_anonymous_callers_cannot_submit(people):
    response = client_for().post(URL, HUB, format="json")
    assert response.status_code == 401
    assert not Submission.objects.exists()


def test_a_multipart_upload_is_created(people, upload_dir):
    response = client_for(people["alice"]).post(URL, {
        "name": "Uploaded", "license": "mit", "owner_consent": "true", **safetensors_uploads()}, format="multipart")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["source"] == "upload" and body["file_format"] == "safetensors"
    assert body["file_summary"] == {"tensors": 1, "dtypes": {"F32": 1}, "parameters": 32}
    folder = upload_dir / f"submission-{body['id']}"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors", "tokenizer.json"]
    assert staged_files(upload_dir) == []


HOSTILE = {
    "pickle renamed .gguf": ("model.gguf", PICKLE, "pickle"),
    "safetensors header claiming 2^40 bytes": ("model.safetensors", safetensors_bytes(header_length=2**40),
                                              "claims 1099511627776 bytes"),
    "GGUF with absurd tensor counts": ("model.gguf", gguf_bytes(tensor_count=2**62), "tensors, impossible"),
    "empty file": ("model.gguf", b"", "is empty"),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_uploads_get_a_4xx_with_a_message_within_a_second(people, upload_dir, case):
    name, content, message = HOSTILE[case]
    started = time.monotonic()
    response = client_for(people["alice"]).post(URL, {
        "name": "Hostile", "license": "mit", "owner_consent": "true",
        "file": SimpleUploadedFile(name, content)}, format="multipart")
    assert time.monotonic() - started < 1
    assert response.status_code == 400
    body = response.json()
    assert message in body["detail"] and body["file"] == [body["detail"]]
    assert not Submission.objects.exists() and staged_files(upload_dir) == []


def test_bad_input_is_a_json_400_never_a_500(people):
    client = client_for(people["alice"])
    missing = client.post(URL, {"name": "x"}, format="json")
    assert missing.status_code == 400 and set(missing.json()) >= {"license", "owner_consent"}
    no_source = client.post(URL, {"name": "x", "license": "mit", "owner_consent": True}, format="json")
    assert no_source.json() == {"source": ["send a file, a hub_id or an endpoint_url"]}
    consent = client.post(URL, {**HUB, "owner_consent": False}, format="json")
    assert consent.status_code == 400 and "owner_consent" in consent.json()
    bad_hub = client.post(URL, {**HUB, "hub_id": "../../etc/passwd"}, format="json")
    assert bad_hub.status_code == 400 and bad_hub.json()["hub_id"] == ["a hub id looks like 'organisation/model'"]
    garbage = client.generic("POST", URL, b"{not json", content_type="application/json")
    assert garbage.status_code == 400 and "detail" in garbage.json()


def test_an_upload_past_the_cap_is_413(people, upload_dir):
    with override_settings(BENCHSITE_UPLOAD_MAX_BYTES=64):
        response = client_for(people["alice"]).post(URL, {
            "name": "Big", "license": "mit", "owner_consent": "true", "file": gguf_upload()}, format="multipart")
    assert response.status_code == 413 and "larger than the 64 bytes" in response.json()["detail"]
    assert not Submission.objects.exists() and staged_files(upload_dir) == []


def test_writes_have_their_own_throttle_with_retry_after(people):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "submissions": "1/hour"}
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        cache.clear()
        client = client_for(people["alice"])
        assert client.post(URL, HUB, format="json").status_code == 201
        second = client.post(URL, {**HUB, "name": "Second", "hub_id": "org/second"}, format="json")
        assert second.status_code == 429 and int(second["Retry-After"]) > 0
        assert client.get(URL).status_code == 200  # reads are not charged to the submissions scope


def test_reviews_and_flags_over_the_api(people):
    from community.models import BenchmarkReview, ModelFlag
    from tests.leaderboard.factories import BenchmarkFactory, ModelEntryFactory

    BenchmarkFactory(slug="hellaswag")
    model = ModelEntryFactory(name="flagged")
    review_url, flag_url = "/api/v1/benchmarks/hellaswag/reviews/", f"/api/v1/models/{model.slug}/flags/"
    assert client_for().post(review_url, {"rating": 4}, format="json").status_code == 401
    response = client_for(people["bob"]).post(review_url, {"rating": 4, "text": "clean items"}, format="json")
    assert response.status_code == 201
    assert (response.json()["benchmark"], response.json()["is_approved"]) == ("hellaswag", False)
    assert client_for(people["bob"]).post(review_url, {"rating": 6}, format="json").json()["rating"]
    assert client_for(people["bob"]).post("/api/v1/benchmarks/nope/reviews/", {"rating": 4},
                                          format="json").status_code == 404

    response = client_for(people["bob"]).post(flag_url, {"kind": "merge", "text": "It is a merge of two models.",
                                                         "evidence_url": "https://example.org/x"}, format="json")
    assert response.status_code == 201 and response.json()["state"] == "open"
    duplicate = client_for(people["bob"]).post(flag_url, {"kind": "merge", "text": "again"}, format="json")
    assert duplicate.status_code == 409 and "already have an open flag" in duplicate.json()["detail"]
    assert BenchmarkReview.objects.count() == 1 and ModelFlag.objects.count() == 1
