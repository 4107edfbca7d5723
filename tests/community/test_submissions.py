"""Model submission from the website: validation before anything is stored, consent, licences, quotas, dedupe,
the state machine with its recorded history, moderation, and the run moving the submission to its end."""
from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from community import services
from community.models import ModelOptOut, ModerationLogEntry, Submission, SubmissionEvent, SubmissionState
from tests.community.conftest import gguf_upload, safetensors_uploads, staged_files
from tests.community.files import PICKLE
from tests.leaderboard.factories import ModelEntryFactory

pytestmark = pytest.mark.django_db


def form(**overrides) -> dict:
    data = {"name": "Tiny Llama", "source": "upload", "license": "apache-2.0", "precision": "as-stored",
            "owner_consent": "on", "file": gguf_upload()}
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def submit(user, **overrides):
    return client_for(user).post(reverse("community:submission_new"), form(**overrides))


def test_anonymous_people_are_sent_to_log_in():
    response = Client().get(reverse("community:submission_new"))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_an_uploaded_gguf_is_validated_and_shown_with_its_history(people, upload_dir):
    response = submit(people["alice"])
    assert response.status_code == 302
    submission = Submission.objects.get()
    assert response["Location"] == reverse("community:submission_detail", args=[submission.pk])
    assert submission.state == SubmissionState.VALIDATED
    assert submission.file_format == "gguf" and submission.file_summary["tensors"] == 1
    assert (upload_dir / f"submission-{submission.pk}" / "model.gguf").stat().st_size == submission.file_size
    assert staged_files(upload_dir) == []
    assert [(e.from_state, e.to_state, e.actor_id) for e in submission.events.all()] == [
        ("", "submitted", people["alice"].pk), ("submitted", "validated", None)]

    page = Client().get(response["Location"]).content.decode()  # public, no login
    assert "GGUF v3, 1 tensors, llama" in page and 'data-state="validated"' in page
    log = Client().get(reverse("community:submission_list")).content.decode()
    assert f'data-submission="{submission.pk}"' in log and "Tiny Llama" in log


@pytest.mark.parametrize("name,content,message", [
    ("model.gguf", PICKLE, "is a Python pickle"),
    ("model.gguf", b"", "is empty"),
    ("model.pt", b"\0" * 32, "pickles, which can run code"),
])
def test_a_hostile_upload_is_refused_and_nothing_is_kept(people, upload_dir, name, content, message):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = submit(people["alice"], file=SimpleUploadedFile(name, content))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Submission.objects.exists()
    assert staged_files(upload_dir) == [] and [p.name for p in upload_dir.iterdir()] == ["staging"]


def test_an_upload_past_the_cap_stops_streaming_and_is_refused(people, upload_dir, settings):
    settings.BENCHSITE_UPLOAD_MAX_BYTES = 100
    response = submit(people["alice"])
    assert response.status_code == 413
    assert "larger than the 100 bytes this site accepts" in response.content.decode()
    assert not Submission.objects.exists() and staged_files(upload_dir) == []


def test_consent_and_gated_licences_must_be_confirmed(people):
    response = submit(people["alice"], owner_consent=None)
    assert response.status_code == 400 and "owner&#x27;s consent" in response.content.decode()
    response = submit(people["alice"], license="llama3")
    assert response.status_code == 400 and "confirm that you accepted its terms" in response.content.decode()
    assert submit(people["alice"], license="llama3", license_accepted="on").status_code == 302
    assert Submission.objects.get().license_accepted is True


def test_a_merge_must_name_its_base_model(people):
    response = submit(people["alice"], is_merge="on")
    assert response.status_code == 400 and "must name its base model" in response.content.decode()


def test_the_same_weights_at_the_same_precision_are_the_existing_submission(people):
    first = submit(people["alice"])
    again = submit(people["bob"], name="Another name")
    assert again.status_code == 302 and again["Location"] == first["Location"]
    assert Submission.objects.count() == 1


def test_a_name_already_on_the_site_is_refused(people):
    ModelEntryFactory(name="Tiny Llama")
    response = submit(people["alice"])
    assert response.status_code == 409 and "already on the site" in response.content.decode()


def test_an_owner_opt_out_blocks_the_family(people):
    ModelOptOut.objects.create(prefix="acme/", reason="we publish our own scores")
    response = submit(people["alice"], source="hub", hub_id="acme/llama-7b", file=None)
    assert response.status_code == 403 and "we publish our own scores" in response.content.decode()


def test_the_quota_is_per_user_and_says_when_the_next_slot_opens(people, settings):
    settings.BENCHSITE_SUBMISSION_QUOTA = 2
    for n in range(2):
        assert submit(people["alice"], name=f"m{n}", source="hub", hub_id=f"org/m{n}", file=None).status_code == 302
    response = submit(people["alice"], name="m2", source="hub", hub_id="org/m2", file=None)
    assert response.status_code == 429
    assert "the most allowed (2); the next one can be made after" in response.content.decode()
    assert submit(people["bob"], name="m2", source="hub", hub_id="org/m2", file=None).status_code == 302


def test_a_private_endpoint_is_refused_unless_allowed(people, settings):
    settings.BENCHSITE_ALLOW_PRIVATE_ENDPOINTS = False
    response = submit(people["alice"], source="endpoint", endpoint_url="http://127.0.0.1:8080/v1", file=None)
    assert response.status_code == 400 and "private or local address" in response.content.decode()


def validated(user, **overrides) -> Submission:
    request = services.SubmissionRequest(name="Hub model", source="hub", license="mit", owner_consent=True,
                                         hub_id="org/hub-model", revision="abc123")
    for key, value in overrides.items():
        setattr(request, key, value)
    submission, created = services.submission_create(user=user, request=request)
    assert created
    return submission


def test_only_moderators_see_the_queue_and_decide(people):
    submission = validated(people["alice"])
    url = reverse("community:submission_moderate", args=[submission.pk])
    assert Client().get(reverse("community:moderation")).status_code == 302
    for user in (people["alice"], people["bob"]):
        assert client_for(user).get(reverse("community:moderation")).status_code == 403
        assert client_for(user).post(url, {"decision": "approve"}).status_code == 403
    for user in (people["mod"], people["staff"]):
        page = client_for(user).get(reverse("community:moderation"))
        assert page.status_code == 200 and f'data-submission="{submission.pk}"' in page.content.decode()
    submission.refresh_from_db()
    assert submission.state == SubmissionState.VALIDATED


def test_a_rejection_needs_a_reason_which_is_public_logged_and_emailed(people, django_capture_on_commit_callbacks):
    submission = validated(people["alice"])
    url = reverse("community:submission_moderate", args=[submission.pk])
    moderator = client_for(people["mod"])
    moderator.post(url, {"decision": "reject", "reason": "  "})
    submission.refresh_from_db()
    assert submission.state == SubmissionState.VALIDATED

    with django_capture_on_commit_callbacks(execute=True):
        response = moderator.post(url, {"decision": "reject", "reason": "Not a language model."})
    assert response.status_code == 302
    submission.refresh_from_db()
    assert (submission.state, submission.reason) == (SubmissionState.REJECTED, "Not a language model.")
    event = submission.events.last()
    assert (event.from_state, event.to_state, event.actor, event.reason) == (
        "validated", "rejected", people["mod"], "Not a language model.")
    entry = ModerationLogEntry.objects.get()
    assert (entry.actor, entry.action, entry.target_id) == (people["mod"], "submission.reject", submission.pk)
    assert [m.to for m in mail.outbox] == [["alice@example.org"]]
    assert "rejected" in mail.outbox[0].subject and "Not a language model." in mail.outbox[0].body
    page = Client().get(reverse("community:submission_detail", args=[submission.pk])).content.decode()
    assert "Not a language model." in page and 'data-state="rejected"' in page
    # A final state does not move again.
    with pytest.raises(services.TransitionRefused):
        services.submission_approve(submission=submission, moderator=people["mod"])


def test_approval_queues_once_it_commits_and_a_queueing_failure_is_a_visible_reason(
        people, django_capture_on_commit_callbacks, monkeypatch):
    submission = validated(people["alice"])
    queued = []
    monkeypatch.setattr(services, "submission_enqueue", lambda *, submission_id: queued.append(submission_id))
    with django_capture_on_commit_callbacks(execute=True):
        services.submission_approve(submission=submission, moderator=people["staff"], reason="looks fine")
    assert queued == [submission.pk]

    # Offline, the hub's files cannot be fetched: the submission fails with that reason, it does not vanish.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with django_capture_on_commit_callbacks(execute=True):
        result = services.submission_queue(submission_id=submission.pk)
    assert result.state == SubmissionState.FAILED
    assert result.reason.startswith("could not be queued: ")
    assert services.submission_queue(submission_id=submission.pk) is None  # a redelivery does nothing
    assert [e.to_state for e in result.events.all()] == ["submitted", "validated", "approved", "failed"]
    assert mail.outbox and "failed" in mail.outbox[-1].subject


def test_weights_that_need_their_own_code_are_refused(people, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.community.conftest import safetensors_uploads

    uploads = safetensors_uploads()
    uploads["config"] = SimpleUploadedFile("config.json", b'{"model_type": "x", "auto_map": {"AutoModel": "m.M"}}')
    response = submit(people["alice"], **uploads)
    assert response.status_code == 400 and "trust_remote_code" in response.content.decode()
    assert not Submission.objects.exists()

    # A hub model is checked once its files are fetched, before any run is planned.
    (tmp_path / "config.json").write_text('{"auto_map": {"AutoModelForCausalLM": "modeling.M"}}')
    with pytest.raises(services.Refused, match="never runs"):
        services._refuse_remote_code(ModelEntryFactory(name="remote", location=str(tmp_path)))


def test_only_the_state_machine_s_moves_happen_and_a_stale_one_loses(people):
    submission = validated(people["alice"])
    with pytest.raises(services.TransitionRefused, match="cannot become queued"):
        services.submission_transition(submission=submission, to_state=SubmissionState.QUEUED)
    stale = Submission.objects.get(pk=submission.pk)
    services.submission_reject(submission=submission, moderator=people["mod"], reason="no")
    with pytest.raises(services.TransitionRefused, match="changed state meanwhile"):
        services.submission_approve(submission=stale, moderator=people["staff"])
    assert Submission.objects.get(pk=submission.pk).state == SubmissionState.REJECTED
    assert SubmissionEvent.objects.filter(submission=submission).count() == 3


def test_the_public_log_and_a_status_page_take_a_constant_number_of_queries(people, django_assert_max_num_queries,
                                                                            settings):
    settings.BENCHSITE_SUBMISSION_QUOTA = 100
    for n in range(3):
        validated(people["alice"], name=f"model {n}", hub_id=f"org/model-{n}")
    with django_assert_max_num_queries(8) as three:
        Client().get(reverse("community:submission_list"))
    for n in range(3, 12):
        validated(people["bob"], name=f"model {n}", hub_id=f"org/model-{n}")
    with django_assert_max_num_queries(len(three.captured_queries)):
        Client().get(reverse("community:submission_list"))
    detail = reverse("community:submission_detail", args=[Submission.objects.first().pk])
    with django_assert_max_num_queries(6):
        Client().get(detail)
