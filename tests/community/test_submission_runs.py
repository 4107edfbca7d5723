"""An approved submission becomes a real run on the submission suite, and the run's end moves the submission:
finished reaches the leaderboard's models, a failure carries the run's error as its reason."""
from __future__ import annotations

import hashlib

import pytest
from django.core import mail

from community import services
from community.models import Submission, SubmissionState
from community.uploads import StagedFile, staging_dir
from evaluations.models import RunStatus
from evaluations.services import runs, shards
from runner import suites
from tests.community.conftest import safetensors_uploads
from tests.leaderboard.factories import RunFactory

pytestmark = pytest.mark.django_db
TINY = suites.SuiteSpec("tiny", "Tiny suite", "Four WinoGrande items, for tests.", {"winogrande": 4})


@pytest.fixture
def tiny_suite(settings, monkeypatch):
    monkeypatch.setitem(suites.SUITES, "tiny", TINY)
    monkeypatch.setitem(services.SUBMISSION_BACKENDS, "safetensors", "fake")
    settings.BENCHSITE_SUBMISSION_SUITE = "tiny"


def approved_upload(people, django_capture_on_commit_callbacks, monkeypatch) -> Submission:
    """Staged as the upload handler leaves files, then submitted and approved."""
    staged = {}
    for role, upload in safetensors_uploads().items():
        content = upload.read()
        path = staging_dir() / upload.name
        path.write_bytes(content)
        staged[role] = StagedFile(path=path, name=upload.name, size=len(content),
                                  sha256=hashlib.sha256(content).hexdigest(), content_type=None)
    request = services.SubmissionRequest(name="Tiny Safetensors", source="upload", license="apache-2.0",
                                         owner_consent=True, weights=staged["file"], config=staged["config"],
                                         tokenizer=staged["tokenizer"])
    submission, _ = services.submission_create(user=people["alice"], request=request)
    monkeypatch.setattr(services, "submission_enqueue", lambda *, submission_id: None)
    with django_capture_on_commit_callbacks(execute=True):
        return services.submission_approve(submission=submission, moderator=people["mod"])


def test_an_approved_upload_runs_on_the_suite_and_finishes(people, tiny_suite, django_capture_on_commit_callbacks,
                                                          monkeypatch):
    submission = approved_upload(people, django_capture_on_commit_callbacks, monkeypatch)
    with django_capture_on_commit_callbacks(execute=False):  # the shards are executed below, not enqueued
        submission = services.submission_queue(submission_id=submission.pk)
    assert submission.state == SubmissionState.QUEUED
    run = submission.run
    assert (run.status, run.backend, run.total, run.created_by) == (RunStatus.QUEUED, "fake", 4, people["alice"])
    assert run.suite.slug == "tiny" and run.is_private is False
    assert submission.model.name == "Tiny Safetensors" and submission.model.format == "safetensors"
    assert submission.model.file_sha256

    # As a worker would: the run announces that it started and finished, and the submission follows.
    with django_capture_on_commit_callbacks(execute=True):
        for shard_id in run.shards.values_list("pk", flat=True):
            shards.shard_execute(shard_id=shard_id, worker="test")
    run.refresh_from_db()
    assert run.status == RunStatus.FINISHED
    submission.refresh_from_db()
    assert submission.state == SubmissionState.FINISHED
    assert [e.to_state for e in submission.events.all()] == [
        "submitted", "validated", "approved", "queued", "running", "finished"]
    assert f"run {run.pk} finished: 4 items scored" == submission.reason
    assert "finished" in mail.outbox[-1].subject


def test_a_failed_run_fails_the_submission_with_its_error_even_when_its_announcement_is_lost(
        people, tiny_suite, django_capture_on_commit_callbacks, monkeypatch):
    submission = approved_upload(people, django_capture_on_commit_callbacks, monkeypatch)
    with django_capture_on_commit_callbacks(execute=False):
        submission = services.submission_queue(submission_id=submission.pk)
    # The run's announcement is lost here (its on-commit callback never runs): the beat sweep catches up.
    with django_capture_on_commit_callbacks(execute=False):
        runs.run_mark_failed(run=submission.run, error="ModelLoadError: the weights do not match config.json")
    submission.refresh_from_db()
    assert submission.state == SubmissionState.QUEUED
    with django_capture_on_commit_callbacks(execute=True):
        assert services.submissions_sweep() == 1
    submission.refresh_from_db()
    assert submission.state == SubmissionState.FAILED
    assert submission.reason == (f"run {submission.run_id} failed: "
                                 "ModelLoadError: the weights do not match config.json")
    assert "the weights do not match" in mail.outbox[-1].body


def test_a_cancelled_or_deleted_run_is_a_failure_with_a_reason(people):
    submission = services.submission_create(user=people["alice"], request=services.SubmissionRequest(
        name="Hub model", source="hub", license="mit", owner_consent=True, hub_id="org/m"))[0]
    run = RunFactory(status=RunStatus.CANCELLED, created_by=people["alice"])
    Submission.objects.filter(pk=submission.pk).update(state=SubmissionState.QUEUED, run=run)
    submission.refresh_from_db()
    assert services.submission_follow_run(submission=submission).reason == f"run {run.pk} cancelled: cancelled"

    other = services.submission_create(user=people["bob"], request=services.SubmissionRequest(
        name="Other", source="hub", license="mit", owner_consent=True, hub_id="org/other"))[0]
    Submission.objects.filter(pk=other.pk).update(state=SubmissionState.RUNNING, run=None)
    other.refresh_from_db()
    assert services.submission_follow_run(submission=other).reason == \
        "its evaluation run was deleted before it finished"


def test_the_sweep_removes_stale_staging_files_only(upload_dir):
    import os
    import time

    from community.uploads import staging_dir

    old, fresh = staging_dir() / "old.part", staging_dir() / "fresh.part"
    old.write_bytes(b"x")
    fresh.write_bytes(b"y")
    day_ago = time.time() - 2 * 86400
    os.utime(old, (day_ago, day_ago))
    services.submissions_sweep()
    assert sorted(p.name for p in staging_dir().iterdir()) == ["fresh.part"]
