"""Community writes: a person's API token, model submissions through their state machine, moderation."""
from __future__ import annotations

import ipaddress
import logging
import re
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.utils.translation import gettext, gettext_lazy
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from rest_framework.authtoken.models import Token

from community.models import (
    FINAL_SUBMISSION_STATES, SUBMISSION_TRANSITIONS, BenchmarkReview, BenchmarkSubmission, ModelFlag, ModelOptOut,
    ModerationLogEntry, Submission, SubmissionEvent, SubmissionState,
)
from community.uploads import StagedFile, UploadRefused, inspect_json_companion, inspect_weights, staging_dir
from evaluations.models import FINAL_STATUSES, ModelEntry, Run, RunStatus


@transaction.atomic
def api_token_create(*, user) -> Token:
    """A fresh token for the user; an existing one stops working at once (a new key replaces it)."""
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


def api_token_revoke(*, user) -> bool:
    """Delete the user's token; True when there was one."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted > 0


# -- model submissions ---------------------------------------------------------------------------------
logger = logging.getLogger(__name__)

# SPDX-style ids offered on the form; the gated ones need the submitter to confirm they accepted the terms.
LICENSES = {
    "apache-2.0": "Apache 2.0", "mit": "MIT", "bsd-3-clause": "BSD 3-Clause", "cc-by-4.0": "CC BY 4.0",
    "cc-by-sa-4.0": "CC BY-SA 4.0", "cc-by-nc-4.0": "CC BY-NC 4.0", "openrail": "OpenRAIL",
    "llama2": gettext_lazy("Llama 2 Community Licence (gated)"),
    "llama3": gettext_lazy("Llama 3 Community Licence (gated)"),
    "llama3.1": gettext_lazy("Llama 3.1 Community Licence (gated)"),
    "gemma": gettext_lazy("Gemma Terms of Use (gated)"), "other": gettext_lazy("Other"),
}
GATED_LICENSES = frozenset({"llama2", "llama3", "llama3.1", "gemma"})
# Which runtime evaluates each kind of weights (evaluations' backends; the tests swap in their fake one).
SUBMISSION_BACKENDS = {"gguf": "llama_cpp", "safetensors": "hf", "hub": "hf", "endpoint": "openai"}
QUEUE_TASK = "community.tasks.submission_queue"
REQUEUE_AFTER = timedelta(minutes=2)
STAGING_MAX_AGE = timedelta(days=1)
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")


class Refused(Exception):
    """A submission, flag or review that is not accepted: a message for the person, the field at fault, an
    HTTP status (and, for a name already in use, the submission using it)."""

    def __init__(self, message: str, *, field: str | None = None, status: int = 400,
                 existing: Submission | None = None):
        super().__init__(message)
        self.message, self.field, self.status, self.existing = message, field, status, existing


class TransitionRefused(Exception):
    """A state change the state machine does not allow (or that another request made first)."""


@dataclass
class SubmissionRequest:
    """A model submission as the form or the API parsed it; files are already staged on disk."""

    name: str
    source: str
    license: str
    owner_consent: bool
    license_accepted: bool = False
    precision: str = Submission.Precision.AS_STORED
    hub_id: str = ""
    revision: str = ""
    endpoint_url: str = ""
    base_model: str = ""
    is_merge: bool = False
    is_adapter: bool = False
    weights: StagedFile | None = None
    config: StagedFile | None = None
    tokenizer: StagedFile | None = None

    def staged_files(self) -> list[StagedFile]:
        return [f for f in (self.weights, self.config, self.tokenizer) if f is not None]


def is_moderator(user) -> bool:
    if not (user and user.is_authenticated):
        return False
    return user.is_staff or user.groups.filter(name=settings.BENCHSITE_MODERATOR_GROUP).exists()


def submission_create(*, user, request: SubmissionRequest) -> tuple[Submission, bool]:
    """Validate a submission and store it (submitted, then validated), or refuse it with a reason.

    An identical submission still in play (same weights and precision, same hub revision, same endpoint)
    is returned instead of a new one, with False. Staged files are moved into the submission's folder on
    success and deleted otherwise: nothing refused stays on disk.
    """
    submission: Submission | None = None
    try:
        summary = _submission_check(user=user, request=request)
        duplicate = _submission_duplicate(request=request)
        if duplicate is not None:
            _discard(request)
            return duplicate, False
        _name_check(request.name.strip())
        with transaction.atomic():
            _quota_check(user=user)
            submission = Submission.objects.create(
                name=request.name.strip(), submitter=user, source=request.source, hub_id=request.hub_id,
                revision=request.revision, endpoint_url=request.endpoint_url, license=request.license,
                license_accepted=request.license_accepted, precision=request.precision,
                base_model=request.base_model, is_merge=request.is_merge, is_adapter=request.is_adapter,
                owner_consent=request.owner_consent, suite=settings.BENCHSITE_SUBMISSION_SUITE,
                state=SubmissionState.SUBMITTED,
                **summary,
            )
            SubmissionEvent.objects.create(submission=submission, to_state=SubmissionState.SUBMITTED, actor=user,
                                           reason="submitted")
            if request.weights is not None:
                submission.upload_dir = str(_store_files(submission=submission, request=request))
                submission.save(update_fields=["upload_dir"])
            submission = submission_transition(submission=submission, to_state=SubmissionState.VALIDATED,
                                               reason=_validation_note(submission))
    except BaseException:
        _discard(request)
        if submission is not None and submission.pk:  # rolled back: its folder must not outlive the row
            shutil.rmtree(submission_folder(submission.pk), ignore_errors=True)
        raise
    return submission, True


def _submission_check(*, user, request: SubmissionRequest) -> dict:
    """Everything that decides acceptance, before anything is stored; returns what validation read."""
    if not (user and user.is_authenticated):
        raise Refused(gettext("log in to submit a model"), status=403)
    name = request.name.strip()
    if not name or len(name) > 200 or not slugify(name):
        raise Refused(gettext("give the model a name (letters or digits, at most 200 characters)"), field="name")
    if not request.owner_consent:
        raise Refused(gettext("confirm that you own these weights or have their owner's consent to submit "
                                "them"), field="owner_consent")
    if request.license not in LICENSES:
        raise Refused(gettext("choose a licence from the list (%(licenses)s)") % {"licenses": ", ".join(LICENSES)},
                      field="license")
    if request.license in GATED_LICENSES and not request.license_accepted:
        raise Refused(gettext("%(license)s: confirm that you accepted its terms")
                      % {"license": LICENSES[request.license]},
                                field="license_accepted")
    if request.precision not in Submission.Precision.values:
        raise Refused(gettext("precision must be one of %(values)s")
                      % {"values": ", ".join(Submission.Precision.values)},
                                field="precision")
    if (request.is_merge or request.is_adapter) and not request.base_model.strip():
        raise Refused(gettext("a merge or an adapter-tuned model must name its base model"), field="base_model")
    _opt_out_check(name, request.hub_id)
    if request.source == Submission.Source.HUB:
        return _hub_check(request)
    if request.source == Submission.Source.ENDPOINT:
        return _endpoint_check(request)
    if request.source == Submission.Source.UPLOAD:
        return _upload_check(request)
    raise Refused(gettext("source must be one of %(values)s") % {"values": ", ".join(Submission.Source.values)},
                  field="source")


def _opt_out_check(*names: str) -> None:
    for opt_out in ModelOptOut.objects.all():
        if any(name and name.lower().startswith(opt_out.prefix.lower()) for name in names):
            raise Refused(gettext("the owner of %(prefix)r models asked not to have them evaluated")
                          % {"prefix": opt_out.prefix} + (f": {opt_out.reason}" if opt_out.reason else ""),
                          field="name", status=403)


def _name_check(name: str) -> None:
    slug = slugify(name)
    if ModelEntry.objects.filter(Q(name__iexact=name) | Q(slug=slug)).exists():
        raise Refused(gettext("a model named %(name)r is already on the site; choose another name") % {"name": name},
                                field="name", status=409)
    taken = Submission.objects.filter(name__iexact=name).exclude(
        state__in=[SubmissionState.FAILED, SubmissionState.REJECTED]).first()
    if taken is not None:
        raise Refused(gettext("submission %(pk)s already uses the name %(name)r") % {"pk": taken.pk, "name": name},
                      field="name", status=409,
                                existing=taken)


def _hub_check(request: SubmissionRequest) -> dict:
    if not HUB_ID.match(request.hub_id):
        raise Refused(gettext("a hub id looks like 'organisation/model'"), field="hub_id")
    request.revision = request.revision.strip() or "main"
    if not REVISION.match(request.revision):
        raise Refused(gettext("a revision is a commit hash, a branch or a tag"), field="revision")
    if request.weights is not None:
        raise Refused(gettext("give either a hub id or a file, not both"), field="file")
    return {}


def _endpoint_check(request: SubmissionRequest) -> dict:
    parts = urlsplit(request.endpoint_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(gettext("the endpoint must be an http(s) URL such as https://host/v1"), field="endpoint_url")
    if not settings.BENCHSITE_ALLOW_PRIVATE_ENDPOINTS:
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 443)}
        except (socket.gaierror, UnicodeError):
            raise Refused(gettext("%(host)s does not resolve") % {"host": parts.hostname},
                          field="endpoint_url") from None
        if any(not ipaddress.ip_address(address.split("%")[0]).is_global for address in addresses):
            raise Refused(gettext("%(host)s is a private or local address; the workers only call public endpoints")
                          % {"host": parts.hostname}, field="endpoint_url")
    if request.precision != Submission.Precision.AS_STORED:
        raise Refused(gettext("an endpoint serves at its own precision: choose 'as stored'"), field="precision")
    return {}


def _upload_check(request: SubmissionRequest) -> dict:
    if request.weights is None:
        raise Refused(gettext("choose a .gguf or .safetensors file to upload"), field="file")
    try:
        summary = inspect_weights(request.weights.path, name=request.weights.name)
        if summary.format == "safetensors":
            if request.config is None or request.tokenizer is None:
                raise UploadRefused(
                    gettext("safetensors weights need their config.json and tokenizer.json beside them"))
            inspect_json_companion(request.config, label="config.json")
            inspect_json_companion(request.tokenizer, label="tokenizer.json")
    except UploadRefused as exc:
        raise Refused(str(exc), field="file") from None
    if summary.format == "gguf" and request.precision != Submission.Precision.AS_STORED:
        raise Refused(gettext("a GGUF file is evaluated at its own quantization: choose 'as stored'"),
                                field="precision")
    return {"file_name": request.weights.name[:255], "file_format": summary.format,
            "file_size": request.weights.size, "file_sha256": request.weights.sha256, "file_summary": summary.details}


def _submission_duplicate(*, request: SubmissionRequest) -> Submission | None:
    live = Submission.objects.exclude(state__in=[SubmissionState.FAILED, SubmissionState.REJECTED])
    if request.source == Submission.Source.UPLOAD:
        existing = ModelEntry.objects.filter(file_sha256=request.weights.sha256).first()
        if existing is not None and not existing.submissions.exists():
            raise Refused(gettext("these weights are already on the site as %(name)s") % {"name": existing.name},
                          field="file", status=409)
        return live.filter(file_sha256=request.weights.sha256, precision=request.precision).first()
    if request.source == Submission.Source.HUB:
        return live.filter(hub_id__iexact=request.hub_id, revision=request.revision,
                           precision=request.precision).first()
    return live.filter(endpoint_url=request.endpoint_url).first()


def _quota_check(*, user) -> None:
    """Refuse past the rolling quota; the user's row is locked so two requests at once cannot both pass."""
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    since = timezone.now() - timedelta(days=settings.BENCHSITE_SUBMISSION_QUOTA_DAYS)
    recent = list(Submission.objects.filter(submitter=user, created_at__gte=since)
                  .order_by("created_at").values_list("created_at", flat=True))
    quota = settings.BENCHSITE_SUBMISSION_QUOTA
    if len(recent) >= quota:
        opens = recent[len(recent) - quota] + timedelta(days=settings.BENCHSITE_SUBMISSION_QUOTA_DAYS)
        raise Refused(
            gettext("you have made %(count)s submissions in the last %(days)s days, the most allowed (%(quota)s); "
                    "the next one can be made after %(opens)s UTC")
            % {"count": len(recent), "days": settings.BENCHSITE_SUBMISSION_QUOTA_DAYS, "quota": quota,
               "opens": f"{opens:%Y-%m-%d %H:%M}"},
            status=429)


def _store_files(*, submission: Submission, request: SubmissionRequest) -> Path:
    """Move the staged files into the submission's folder, laid out as the evaluation backends read them."""
    folder = submission_folder(submission.pk)
    folder.mkdir(parents=True, exist_ok=True)
    names = {"weights": f"model.{submission.file_format}", "config": "config.json", "tokenizer": "tokenizer.json"}
    for role, name in names.items():
        staged = getattr(request, role)
        if staged is not None:
            staged.close()
            shutil.move(staged.path, folder / name)
    return folder


def submission_folder(submission_id: int) -> Path:
    return Path(settings.BENCHSITE_UPLOAD_DIR) / f"submission-{submission_id}"


def _discard(request: SubmissionRequest) -> None:
    for staged in request.staged_files():
        staged.discard()


def _validation_note(submission: Submission) -> str:
    if submission.source == Submission.Source.UPLOAD:
        details = submission.file_summary
        if submission.file_format == "gguf":
            return (f"GGUF v{details['gguf_version']}, {details['tensors']} tensors"
                    + (f", {details['architecture']}" if details.get("architecture") else "")
                    + (f", {details['quantization']}" if details.get("quantization") else "")
                    + f"; sha256 {submission.file_sha256[:12]}…")
        dtypes = ", ".join(f"{dtype} × {count}" for dtype, count in details["dtypes"].items())
        return (f"safetensors, {details['tensors']} tensors ({dtypes}), {details['parameters']:,} parameters; "
                f"config.json and tokenizer.json read; sha256 {submission.file_sha256[:12]}…")
    if submission.source == Submission.Source.HUB:
        return ("hub id and revision well formed; the files are fetched when it is queued, and a model that "
                "needs its own code (an auto_map in config.json, trust_remote_code) is refused then")
    return "endpoint URL well formed; the server is asked for its model when it is queued"


def submission_transition(*, submission: Submission, to_state: str, actor=None, reason: str = "",
                          **fields) -> Submission:
    """Move a submission to `to_state` if the state machine allows it from the state it is in now.

    The move is a conditional UPDATE on the state read, so of two concurrent moves only one happens; the
    other raises TransitionRefused. Every move is recorded with who (None: the site), when and why, and a
    final state emails the submitter once the transaction commits.
    """
    from_state = submission.state
    if to_state not in SUBMISSION_TRANSITIONS.get(from_state, frozenset()):
        raise TransitionRefused(gettext("submission %(pk)s is %(from)s; it cannot become %(to)s")
                                % {"pk": submission.pk, "from": from_state, "to": to_state})
    with transaction.atomic():
        changed = Submission.objects.filter(pk=submission.pk, state=from_state).update(
            state=to_state, reason=reason[:4000], updated_at=timezone.now(), **fields)
        if not changed:
            raise TransitionRefused(gettext("submission %(pk)s changed state meanwhile; reload and try again")
                                    % {"pk": submission.pk})
        SubmissionEvent.objects.create(submission=submission, from_state=from_state, to_state=to_state,
                                       actor=actor, reason=reason[:4000])
    submission.refresh_from_db()
    if to_state in FINAL_SUBMISSION_STATES:
        transaction.on_commit(lambda: _notify_submitter(submission_id=submission.pk))
    return submission


def _notify_submitter(*, submission_id: int) -> None:
    submission = Submission.objects.select_related("submitter").get(pk=submission_id)
    if submission.submitter is None or not submission.submitter.email:
        return
    from django.contrib.sites.models import Site

    link = Site.objects.get_current().domain + reverse("community:submission_detail", args=[submission.pk])
    body = (f"Your submission {submission.pk} ({submission.name}) is {submission.state}.\n\n"
            f"{submission.reason}\n\nIts status page, with every change: {link}\n")
    try:
        send_mail(f"[benchsite] {submission.name}: {submission.state}", body, None, [submission.submitter.email])
    except Exception:  # the mail server away must not undo the state change; the page shows it anyway
        logger.exception("could not email the submitter of submission %s", submission_id)


def _log(*, actor, action: str, target, label: str, reason: str) -> None:
    ModerationLogEntry.objects.create(actor=actor, action=action, target_kind=type(target).__name__.lower(),
                                      target_id=target.pk, target_label=label[:300], reason=reason)


def submission_approve(*, submission: Submission, moderator, reason: str = "") -> Submission:
    """A moderator accepts a validated submission; its evaluation is queued once this commits."""
    if not is_moderator(moderator):
        raise PermissionError("only moderators approve submissions")
    with transaction.atomic():
        submission = submission_transition(submission=submission, to_state=SubmissionState.APPROVED,
                                           actor=moderator, reason=reason.strip() or "approved")
        _log(actor=moderator, action="submission.approve", target=submission, label=submission.name,
             reason=reason)
        submission_id = submission.pk
        transaction.on_commit(lambda: submission_enqueue(submission_id=submission_id))
    return submission


def submission_reject(*, submission: Submission, moderator, reason: str) -> Submission:
    """A moderator refuses a submission; the reason is required, public and emailed to the submitter."""
    if not is_moderator(moderator):
        raise PermissionError("only moderators reject submissions")
    if not reason.strip():
        raise Refused(gettext("say why it is rejected: the submitter and the public log see the reason"),
                                field="reason")
    with transaction.atomic():
        submission = submission_transition(submission=submission, to_state=SubmissionState.REJECTED,
                                           actor=moderator, reason=reason.strip())
        _log(actor=moderator, action="submission.reject", target=submission, label=submission.name,
             reason=reason.strip())
    return submission


def submission_enqueue(*, submission_id: int) -> None:
    """Hand an approved submission to a worker (a broker that is down is retried by the sweep)."""
    try:
        if QUEUE_TASK not in current_app.tasks:
            current_app.loader.import_default_modules()
        current_app.tasks[QUEUE_TASK].apply_async((submission_id,))
    except Exception:
        logger.exception("could not enqueue submission %s; the sweep will retry", submission_id)


def submission_queue(*, submission_id: int) -> Submission | None:
    """Register the approved submission's model and queue its run on the submission suite.

    Anything that goes wrong (hub offline, endpoint down, weights a backend cannot plan for) fails the
    submission with the error as its reason: it never stays "approved" without one.
    """
    from evaluations.services import benchmarks, plans, runs

    submission = Submission.objects.select_related("submitter").filter(
        pk=submission_id, state=SubmissionState.APPROVED).first()
    if submission is None:
        return None  # queued already, or no longer approved: a redelivered task does nothing twice
    try:
        # One transaction: a plan that fails leaves no model entry behind, so the name stays free.
        with transaction.atomic():
            if ModelEntry.objects.filter(name__iexact=submission.name).exclude(submissions=submission).exists():
                raise Refused(gettext("a model named %(name)r was registered meanwhile") % {"name": submission.name})
            model = _model_entry_for(submission)
            if submission.source == Submission.Source.HUB:
                _refuse_remote_code(model)
            kind = submission.file_format if submission.source == Submission.Source.UPLOAD else submission.source
            backend = SUBMISSION_BACKENDS[kind]
            options = ({"dtype": submission.precision}
                       if backend == "hf" and submission.precision != Submission.Precision.AS_STORED else {})
            plan = plans.run_plan_for_suite(suite=submission.suite, model=model, backend=backend,
                                            backend_options=options)
            suite = benchmarks.suite_pin(slug=submission.suite, plan=plan)
            run, _ = runs.run_submit(plan=plan, user=submission.submitter, suite=suite)
            submission = submission_transition(
                submission=submission, to_state=SubmissionState.QUEUED,
                reason=f"run {run.pk} queued on {run.queue}: {run.total} items of the {suite.title} "
                       f"v{suite.version} with the {backend} backend", model=model, run=run)
    except TransitionRefused:
        return None
    except Exception as exc:  # every failure becomes the submission's visible reason
        logger.exception("submission %s could not be queued", submission_id)
        return submission_transition(submission=submission, to_state=SubmissionState.FAILED,
                                     reason=f"could not be queued: {type(exc).__name__}: {exc}")
    return submission_follow_run(submission=submission)


def _refuse_remote_code(model: ModelEntry) -> None:
    """A hub model whose config maps its classes to its own Python files needs trust_remote_code: never run."""
    import json

    from evaluations.services import model_entries

    config = model_entries.model_path(model.location) / "config.json"
    try:
        auto_map = json.loads(config.read_text()).get("auto_map") if config.is_file() else None
    except (OSError, ValueError):
        auto_map = None
    if auto_map:
        raise Refused(gettext("its config.json has an auto_map: the model needs its own Python code "
                              "(trust_remote_code), which this site never runs"))


def _model_entry_for(submission: Submission) -> ModelEntry:
    from evaluations.services import model_entries

    common = {"license": submission.license, "user": submission.submitter}
    if submission.source == Submission.Source.ENDPOINT:
        entry = model_entries.model_register_endpoint(url=submission.endpoint_url, user=submission.submitter)
        ModelEntry.objects.filter(pk=entry.pk).update(name=submission.name, slug=slugify(submission.name)[:200],
                                                      license=submission.license)
        entry.refresh_from_db()
        return entry
    if submission.source == Submission.Source.HUB:
        return model_entries.model_register(name=submission.name, location=submission.hub_id,
                                            source_kind=ModelEntry.SourceKind.HUB, revision=submission.revision,
                                            **common)
    folder = Path(submission.upload_dir)
    location = folder / "model.gguf" if submission.file_format == "gguf" else folder
    return model_entries.model_register(name=submission.name, location=str(location),
                                        source_kind=ModelEntry.SourceKind.LOCAL, **common)


def submission_follow_run(*, submission: Submission) -> Submission:
    """Bring a queued or running submission to its run's state; a run that did not finish fails it with why."""
    submission.refresh_from_db()  # the run's own announcements may have moved it meanwhile
    if submission.state not in (SubmissionState.QUEUED, SubmissionState.RUNNING):
        return submission
    run = Run.objects.filter(pk=submission.run_id).first() if submission.run_id else None
    if run is None:
        return submission_transition(submission=submission, to_state=SubmissionState.FAILED,
                                     reason="its evaluation run was deleted before it finished")
    if submission.state == SubmissionState.QUEUED and run.started_at is not None:
        # Recorded even when the run already ended, so the history always shows when it started.
        submission = submission_transition(submission=submission, to_state=SubmissionState.RUNNING,
                                           reason=f"run {run.pk} started")
    if run.status == RunStatus.FINISHED:
        return submission_transition(submission=submission, to_state=SubmissionState.FINISHED,
                                     reason=f"run {run.pk} finished: {run.done} items scored")
    if run.status in FINAL_STATUSES:
        why = run.error or {"cancelled": "cancelled", "timed_out": "it ran past its time limit"}.get(run.status, "")
        return submission_transition(submission=submission, to_state=SubmissionState.FAILED,
                                     reason=f"run {run.pk} {run.status.replace('_', ' ')}: {why}")
    return submission


def submissions_follow_run(*, run_id: int) -> None:
    """What a run's status change (evaluations.signals.run_status_changed) means for its submissions."""
    for submission in Submission.objects.filter(run_id=run_id, state__in=[SubmissionState.QUEUED,
                                                                          SubmissionState.RUNNING]):
        try:
            submission_follow_run(submission=submission)
        except TransitionRefused:
            continue  # another process moved it first


def submissions_sweep() -> int:
    """Beat: submissions follow their runs (should an announcement have been lost), and approved ones whose
    queueing message was lost are sent again."""
    moved = 0
    for submission in Submission.objects.filter(state__in=[SubmissionState.QUEUED, SubmissionState.RUNNING]):
        before = submission.state
        try:
            moved += submission_follow_run(submission=submission).state != before
        except TransitionRefused:
            continue
    stale = timezone.now() - REQUEUE_AFTER
    for submission_id in Submission.objects.filter(state=SubmissionState.APPROVED,
                                                   updated_at__lt=stale).values_list("pk", flat=True):
        submission_enqueue(submission_id=submission_id)
    _staging_clean()
    return moved


def _staging_clean() -> None:
    """Remove what uploads cut off by a killed process left in the staging folder (a day old: none is in use)."""
    cutoff = time.time() - STAGING_MAX_AGE.total_seconds()
    for entry in staging_dir().iterdir():
        try:
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        except OSError:
            continue


# -- flags on models -----------------------------------------------------------------------------------
def model_flag_create(*, model: ModelEntry, author, kind: str, text: str, evidence_url: str = "") -> ModelFlag:
    """Report a problem with a model; it stays private to moderators until one confirms it."""
    if not (author and author.is_authenticated):
        raise Refused(gettext("log in to flag a model"), status=403)
    if kind not in ModelFlag.Kind.values:
        raise Refused(gettext("kind must be one of %(values)s") % {"values": ", ".join(ModelFlag.Kind.values)},
                      field="kind")
    if not text.strip():
        raise Refused(gettext("say what is wrong (moderators read it before confirming)"), field="text")
    if evidence_url and urlsplit(evidence_url).scheme not in ("http", "https"):
        raise Refused(gettext("the evidence link must be an http(s) URL"), field="evidence_url")
    if ModelFlag.objects.filter(model=model, author=author, kind=kind, state=ModelFlag.State.OPEN).exists():
        raise Refused(gettext("you already have an open flag of this kind on this model"), field="kind", status=409)
    return ModelFlag.objects.create(model=model, author=author, kind=kind, text=text.strip()[:4000],
                                    evidence_url=evidence_url.strip())


def model_flag_resolve(*, flag: ModelFlag, moderator, confirm: bool, reason: str) -> ModelFlag:
    """A moderator confirms a flag (it then shows on the model's pages) or dismisses it, saying why."""
    if not is_moderator(moderator):
        raise PermissionError("only moderators resolve flags")
    if not reason.strip():
        raise Refused(gettext("say why: the reason is shown with a confirmed flag and kept in the log"), field="reason")
    state = ModelFlag.State.CONFIRMED if confirm else ModelFlag.State.DISMISSED
    with transaction.atomic():
        changed = ModelFlag.objects.filter(pk=flag.pk, state=ModelFlag.State.OPEN).update(
            state=state, moderator=moderator, moderator_reason=reason.strip(), resolved_at=timezone.now())
        if not changed:
            raise TransitionRefused(gettext("flag %(pk)s was resolved meanwhile") % {"pk": flag.pk})
        _log(actor=moderator, action=f"flag.{'confirm' if confirm else 'dismiss'}", target=flag,
             label=f"{flag.model.name}: {flag.get_kind_display()}", reason=reason.strip())
    flag.refresh_from_db()
    return flag


# -- reviews of benchmarks -----------------------------------------------------------------------------
def benchmark_review_submit(*, benchmark, author, rating: int, text: str) -> BenchmarkReview:
    """Write or rewrite one's review of a benchmark; a rewrite waits for a moderator again."""
    if not (author and author.is_authenticated):
        raise Refused(gettext("log in to review a benchmark"), status=403)
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise Refused(gettext("rate from 1 to 5"), field="rating")
    if benchmark.submitted_by_id == author.pk:
        raise Refused(gettext("authors cannot review their own benchmark"), status=403)
    review, _ = BenchmarkReview.objects.update_or_create(
        benchmark=benchmark, author=author,
        defaults={"rating": rating, "text": text.strip()[:10000], "is_approved": False})
    return review


def benchmark_review_moderate(*, review: BenchmarkReview, moderator, approve: bool, reason: str = "") -> None:
    """Publish a review, or delete it (kept in the log with the reason)."""
    if not is_moderator(moderator):
        raise PermissionError("only moderators moderate reviews")
    if not approve and not reason.strip():
        raise Refused(gettext("say why the review is removed"), field="reason")
    with transaction.atomic():
        _log(actor=moderator, action=f"review.{'approve' if approve else 'remove'}", target=review,
             label=f"{review.benchmark.slug} by {review.author.get_username()} ({review.rating}/5)", reason=reason)
        if approve:
            BenchmarkReview.objects.filter(pk=review.pk).update(is_approved=True)
        else:
            review.delete()


# -- custom benchmark submissions ----------------------------------------------------------------------
@dataclass
class BenchmarkUpload:
    """A custom benchmark as the form or the API parsed it: the spec, its JSONL files, the checklist."""

    spec: StagedFile
    data: StagedFile
    fewshot: StagedFile | None = None
    source_url: str = ""
    license: str = ""
    reference_checked: bool = False
    notes: str = ""

    def staged_files(self) -> list[StagedFile]:
        return [f for f in (self.spec, self.data, self.fewshot) if f is not None]


class BenchmarkProblems(Refused):
    """The validator's report: every problem with its file and line."""

    def __init__(self, problems: list[dict]):
        super().__init__(f"{len(problems)} problem(s) in the benchmark; nothing was stored", field="data")
        self.problems = problems


def _benchmark_folder(upload: BenchmarkUpload) -> Path:
    """The uploads laid out as the spec names them (its `data` and few-shot `file`), in a fresh folder."""
    spec_name = Path(upload.spec.name).name
    if Path(spec_name).suffix.lower() not in (".yaml", ".yml", ".json"):
        raise Refused(gettext("the spec must be a .yaml, .yml or .json file"), field="spec")
    folder = Path(tempfile.mkdtemp(prefix="benchmark-", dir=staging_dir()))
    shutil.copyfile(upload.spec.path, folder / spec_name)
    names = _spec_file_names(folder / spec_name)
    shutil.copyfile(upload.data.path, folder / (names.get("data") or Path(upload.data.name).name))
    if upload.fewshot is not None:
        shutil.copyfile(upload.fewshot.path, folder / (names.get("fewshot") or Path(upload.fewshot.name).name))
    return folder / spec_name


def _spec_file_names(spec_path: Path) -> dict[str, str]:
    """The file names a spec refers to (only their last part: a spec cannot reach outside its folder)."""
    import yaml

    try:
        raw = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError, OSError):
        return {}  # the validator reports it with its line
    if not isinstance(raw, dict):
        return {}
    fewshot = raw.get("fewshot") if isinstance(raw.get("fewshot"), dict) else {}
    names = {"data": raw.get("data"), "fewshot": fewshot.get("file")}
    return {key: Path(value).name for key, value in names.items() if isinstance(value, str) and Path(value).name}


def _benchmark_errors(call):
    """Run an evaluations call on a staged benchmark, turning its refusals into ours."""
    from evaluations.custom_benchmarks import BenchsiteError, CustomBenchmarkInvalid

    try:
        return call()
    except CustomBenchmarkInvalid as exc:
        raise BenchmarkProblems([problem.as_dict() for problem in exc.problems]) from None
    except BenchsiteError as exc:
        raise Refused(str(exc), field="spec") from None


def benchmark_check(*, upload: BenchmarkUpload):
    """Validate without storing: the line-numbered problems (BenchmarkProblems) or a preview of the prompts."""
    from evaluations.custom_benchmarks import benchmark_preview

    spec_path = _benchmark_folder(upload)
    try:
        return _benchmark_errors(lambda: benchmark_preview(spec_path=spec_path,
                                                           max_bytes=settings.BENCHSITE_BENCHMARK_MAX_BYTES))
    finally:
        shutil.rmtree(spec_path.parent, ignore_errors=True)


def benchmark_submit(*, user, upload: BenchmarkUpload) -> tuple[BenchmarkSubmission, bool]:
    """Import a custom benchmark as a pending submission, private to its author until approved.

    The same content again gives back its submission (False); a changed benchmark needs a new version.
    """
    from evaluations.custom_benchmarks import benchmark_import

    if not (user and user.is_authenticated):
        raise Refused(gettext("log in to submit a benchmark"), status=403)
    if urlsplit(upload.source_url).scheme not in ("http", "https"):
        raise Refused(gettext("say where the items come from (an http(s) link to the paper or dataset card)"),
                      field="source_url")
    if not upload.license.strip():
        raise Refused(gettext("name the data's licence"), field="license")
    spec_path = _benchmark_folder(upload)
    try:
        with transaction.atomic():
            result = _benchmark_errors(lambda: benchmark_import(
                spec_path=spec_path, user=user, max_bytes=settings.BENCHSITE_BENCHMARK_MAX_BYTES))
            existing = BenchmarkSubmission.objects.filter(benchmark=result.benchmark).first()
            if existing is not None:
                return existing, False
            if not result.created:
                raise Refused(gettext("%(benchmark)s v%(version)s is already on the site")
                              % {"benchmark": result.benchmark.slug, "version": result.benchmark.version},
                              field="spec", status=409)
            submission = BenchmarkSubmission.objects.create(
                benchmark=result.benchmark, submitter=user, source_url=upload.source_url.strip(),
                license=upload.license.strip()[:100], reference_checked=upload.reference_checked,
                notes=upload.notes.strip()[:4000])
    finally:
        shutil.rmtree(spec_path.parent, ignore_errors=True)
    return submission, True


def benchmark_submission_moderate(*, submission: BenchmarkSubmission, moderator, approve: bool,
                                  reason: str = "") -> BenchmarkSubmission:
    if not is_moderator(moderator):
        raise PermissionError("only moderators approve benchmarks")
    if not approve and not reason.strip():
        raise Refused(gettext("say why the benchmark is rejected: its author sees the reason"), field="reason")
    state = BenchmarkSubmission.State.APPROVED if approve else BenchmarkSubmission.State.REJECTED
    with transaction.atomic():
        changed = BenchmarkSubmission.objects.filter(pk=submission.pk, state=BenchmarkSubmission.State.PENDING).update(
            state=state, reason=reason.strip(), moderated_at=timezone.now())
        if not changed:
            raise TransitionRefused(gettext("benchmark submission %(pk)s was decided meanwhile")
                                    % {"pk": submission.pk})
        benchmark = submission.benchmark
        _log(actor=moderator, action=f"benchmark.{'approve' if approve else 'reject'}", target=submission,
             label=f"{benchmark.slug} v{benchmark.version}", reason=reason.strip())
    submission.refresh_from_db()
    return submission
