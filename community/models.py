"""The community's side: model submissions and their state history, flags, reviews, the moderation log."""
from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class BenchmarkReview(models.Model):
    benchmark = models.ForeignKey("evaluations.Benchmark", on_delete=models.CASCADE, related_name="reviews")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="benchmark_reviews")
    rating = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    text = models.TextField(blank=True)
    is_approved = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["benchmark", "author"], name="one_review_per_author")]


class SubmissionState(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    VALIDATED = "validated", _("Validated")
    APPROVED = "approved", _("Approved")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    FINISHED = "finished", _("Finished")
    FAILED = "failed", _("Failed")
    REJECTED = "rejected", _("Rejected")


FINAL_SUBMISSION_STATES = frozenset({SubmissionState.FINISHED, SubmissionState.FAILED, SubmissionState.REJECTED})
# Every allowed move; anything else is refused (community.services.submission_transition).
SUBMISSION_TRANSITIONS: dict[str, frozenset[str]] = {
    SubmissionState.SUBMITTED: frozenset({SubmissionState.VALIDATED, SubmissionState.REJECTED}),
    SubmissionState.VALIDATED: frozenset({SubmissionState.APPROVED, SubmissionState.REJECTED}),
    SubmissionState.APPROVED: frozenset({SubmissionState.QUEUED, SubmissionState.FAILED}),
    SubmissionState.QUEUED: frozenset({SubmissionState.RUNNING, SubmissionState.FINISHED, SubmissionState.FAILED}),
    SubmissionState.RUNNING: frozenset({SubmissionState.FINISHED, SubmissionState.FAILED}),
}


class Submission(models.Model):
    """A request to evaluate a model, from its arrival to its run's end; public, with every state change."""

    class Source(models.TextChoices):
        HUB = "hub", _("Hugging Face hub id")
        ENDPOINT = "endpoint", _("OpenAI-compatible endpoint")
        UPLOAD = "upload", _("Uploaded GGUF or safetensors")

    class Precision(models.TextChoices):
        AS_STORED = "as-stored", _("As stored (the file's own dtype or quantization)")
        BFLOAT16 = "bfloat16"
        FLOAT16 = "float16"
        FLOAT32 = "float32"

    name = models.CharField(max_length=200, help_text="The name the model gets on the leaderboard")
    submitter = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                  related_name="submissions")
    source = models.CharField(max_length=20, choices=Source.choices)
    hub_id = models.CharField(max_length=200, blank=True)
    revision = models.CharField(max_length=100, blank=True)
    endpoint_url = models.URLField(max_length=1000, blank=True)
    upload_dir = models.CharField(max_length=1000, blank=True, help_text="Where the accepted files are stored")
    file_name = models.CharField(max_length=255, blank=True, help_text="The weights file's name as uploaded")
    file_format = models.CharField(max_length=20, blank=True, help_text="gguf or safetensors")
    file_size = models.BigIntegerField(null=True, blank=True)
    file_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    file_summary = models.JSONField(default=dict, blank=True, help_text="What validation read from the file")
    license = models.CharField(max_length=50)
    license_accepted = models.BooleanField(default=False, help_text="The submitter accepted a gated licence")
    precision = models.CharField(max_length=20, choices=Precision.choices, default=Precision.AS_STORED)
    base_model = models.CharField(max_length=200, blank=True)
    is_merge = models.BooleanField(default=False)
    is_adapter = models.BooleanField(default=False)
    owner_consent = models.BooleanField(default=False)
    suite = models.CharField(max_length=100, help_text="The suite definition (runner.suites) it is evaluated on")
    state = models.CharField(max_length=20, choices=SubmissionState.choices, default=SubmissionState.SUBMITTED,
                             db_index=True)
    reason = models.TextField(blank=True, help_text="Why it is in its state (a rejection's or failure's reason)")
    model = models.ForeignKey("evaluations.ModelEntry", null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="submissions")
    run = models.ForeignKey("evaluations.Run", null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="submissions")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["submitter", "created_at"], name="submission_quota_idx")]

    def __str__(self) -> str:
        return f"Submission {self.pk}: {self.name} ({self.state})"

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_SUBMISSION_STATES

    @property
    def source_label(self) -> str:
        if self.source == self.Source.HUB:
            return f"{self.hub_id}@{self.revision}"
        if self.source == self.Source.ENDPOINT:
            return self.endpoint_url
        return f"{self.file_name} ({self.file_format})"


class SubmissionEvent(models.Model):
    """One state change of a submission: who (null: the site itself), when, why."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="events")
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, choices=SubmissionState.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]


class ModelOptOut(models.Model):
    """A model family its owner asked us not to evaluate: hub ids and names starting with `prefix` are refused."""

    prefix = models.CharField(max_length=200, unique=True, help_text="e.g. 'some-org/' or 'some-org/family-'")
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.prefix


class ModelFlag(models.Model):
    """A reported problem with a model; shown on its pages once a moderator confirms it."""

    class Kind(models.TextChoices):
        CONTAMINATION = "contamination", _("Contaminated (trained on test data)")
        BROKEN = "broken", _("Broken results or items")
        LICENSE = "license", _("Licence problem")
        MERGE = "merge", _("Mislabelled merge or adapter")
        OTHER = "other", _("Other")

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        CONFIRMED = "confirmed", _("Confirmed")
        DISMISSED = "dismissed", _("Dismissed")

    model = models.ForeignKey("evaluations.ModelEntry", on_delete=models.CASCADE, related_name="flags")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                               related_name="model_flags")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    evidence_url = models.URLField(max_length=1000, blank=True)
    text = models.TextField()
    state = models.CharField(max_length=20, choices=State.choices, default=State.OPEN, db_index=True)
    moderator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    moderator_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]


class ModerationLogEntry(models.Model):
    """Every moderation action, append-only: who did what to which object, and why."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=50)
    target_kind = models.CharField(max_length=50)
    target_id = models.PositiveBigIntegerField()
    target_label = models.CharField(max_length=300)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]


class BenchmarkSubmission(models.Model):
    """A custom benchmark imported from the website or the API: private to its author until a moderator approves
    it. A new upload of the same benchmark name with a new version is a new submission; old runs keep theirs."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    benchmark = models.OneToOneField("evaluations.Benchmark", on_delete=models.CASCADE, related_name="submission")
    submitter = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                  related_name="benchmark_submissions")
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING, db_index=True)
    reason = models.TextField(blank=True)
    # The checklist, after the harness's new-task checklist.
    source_url = models.URLField(max_length=1000, help_text="Where the items come from (paper, dataset card)")
    license = models.CharField(max_length=100, help_text="The data's licence")
    reference_checked = models.BooleanField(default=False,
                                            help_text="Scores were compared with a reference implementation")
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    moderated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
