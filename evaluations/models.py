"""The evaluation domain: model entries, benchmarks, suites, runs, per-sample results, aggregate scores."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.text import slugify
from django.utils.translation import gettext, gettext_lazy as _


class RealModelsManager(models.Manager):
    """Model entries as the site shows them: synthetic rows (`manage.py seed_scale`) only where the
    BENCHSITE_SHOW_SYNTHETIC setting asks for them (a scale benchmark's own database)."""

    def get_queryset(self):
        queryset = super().get_queryset()
        return queryset if settings.BENCHSITE_SHOW_SYNTHETIC else queryset.filter(is_synthetic=False)


class ModelEntry(models.Model):
    class SourceKind(models.TextChoices):
        BUNDLED = "bundled", _("Bundled PyPI package")
        LOCAL = "local", _("Local path")
        HUB = "hub", _("Hugging Face hub")
        ENDPOINT = "endpoint", _("OpenAI-compatible endpoint")

    class Relation(models.TextChoices):
        """How a model derives from its `base_model` (empty for a base model)."""

        FINE_TUNE = "fine_tune", _("Fine-tune")
        MERGE = "merge", _("Merge")
        ADAPTER = "adapter", _("Adapter")
        QUANTIZATION = "quantization", _("Quantization")

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=200, unique=True)
    family = models.CharField(max_length=100, blank=True)
    parameter_count = models.BigIntegerField(null=True, blank=True)
    license = models.CharField(max_length=100, blank=True)
    source_kind = models.CharField(max_length=20, choices=SourceKind.choices)
    location = models.CharField(max_length=1000, help_text="File path, folder or hub id")
    revision = models.CharField(max_length=100, blank=True)
    file_sha256 = models.CharField(max_length=64, blank=True)
    format = models.CharField(max_length=20, blank=True, help_text="gguf, safetensors, hub")
    quantization = models.CharField(max_length=30, blank=True)
    dtype = models.CharField(max_length=30, blank=True)
    base_model = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="fine_tunes"
    )
    base_relation = models.CharField(max_length=20, choices=Relation.choices, blank=True, db_index=True)
    adapter = models.CharField(max_length=1000, blank=True, help_text="Adapter (e.g. LoRA) location")
    adapter_sha256 = models.CharField(max_length=64, blank=True)
    target_benchmarks = models.JSONField(default=list, blank=True,
                                         help_text="Benchmark slugs of a fine-tune's target domain (vs-base page)")
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    is_synthetic = models.BooleanField(default=False, help_text="Made up by seed_scale to measure the site at size")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = RealModelsManager()
    every = models.Manager()  # synthetic rows included: seeding and removing them

    class Meta:
        ordering = ["name"]
        verbose_name = "model"
        base_manager_name = "every"

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        if not self.slug:
            self.slug = slugify(self.name)[:200]
        super().save(*args, **kwargs)


# The categories benchmarks are filed under, with their names on the pages (the slug stays in data and the API).
CATEGORY_LABELS = {
    "reasoning": _("reasoning"),
    "knowledge": _("knowledge"),
    "math": _("math"),
    "coding": _("coding"),
    "instruction_following": _("instruction following"),
    "safety": _("safety"),
    "creativity": _("creativity"),
    "tool_use": _("tool use"),
}


def category_label(category: str) -> str:
    """instruction_following → instruction following, in the active language; unknown ones lose their underscores."""
    label = CATEGORY_LABELS.get(category)
    return str(label) if label is not None else category.replace("_", " ")


class Benchmark(models.Model):
    class Origin(models.TextChoices):
        BUILTIN = "builtin", _("Built in")
        CUSTOM = "custom", _("Custom (imported)")

    slug = models.SlugField(max_length=100)
    title = models.CharField(max_length=200, blank=True)
    category = models.CharField(max_length=50, db_index=True)
    version = models.CharField(max_length=20)
    task_spec = models.JSONField(default=dict)
    spec_hash = models.CharField(max_length=64)
    dataset_hash = models.CharField(max_length=64, blank=True)
    primary_metric = models.CharField(max_length=60, default="acc")
    is_group = models.BooleanField(default=False)
    origin = models.CharField(max_length=20, choices=Origin.choices, default=Origin.BUILTIN)
    data_path = models.CharField(max_length=1000, blank=True, help_text="Imported JSONL copy (custom benchmarks)")
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["category", "slug"]
        constraints = [models.UniqueConstraint(fields=["slug", "version", "spec_hash"], name="benchmark_version_unique")]

    def __str__(self) -> str:
        return f"{self.slug} v{self.version}"


class Suite(models.Model):
    slug = models.SlugField(max_length=100)
    title = models.CharField(max_length=200)
    version = models.CharField(max_length=20, default="1")
    benchmarks = models.ManyToManyField(Benchmark, related_name="suites")
    limits = models.JSONField(default=dict, blank=True, help_text="Items per benchmark slug (empty: all)")
    entries = models.JSONField(
        default=dict, blank=True, help_text="Configuration key per benchmark slug (runner.suites.task_config_key)"
    )
    order = models.JSONField(default=list, blank=True, help_text="Benchmark slugs in column order")
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["slug", "version"], name="suite_version_unique")]

    def __str__(self) -> str:
        return f"{self.title} v{self.version}"


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    FINISHED = "finished", _("Finished")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
    TIMED_OUT = "timed_out", _("Timed Out")
    BUDGET_REACHED = "budget_reached", _("Budget reached")  # stopped before a batch that could pass its budget


FINAL_STATUSES = frozenset({RunStatus.FINISHED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.TIMED_OUT,
                            RunStatus.BUDGET_REACHED})
ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


class Run(models.Model):
    model = models.ForeignKey(ModelEntry, on_delete=models.CASCADE, related_name="runs")
    suite = models.ForeignKey(Suite, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    benchmarks = models.ManyToManyField(Benchmark, related_name="runs")
    requested_benchmarks = models.JSONField(default=list, help_text="Slugs as requested (groups unexpanded)")
    backend = models.CharField(max_length=30)
    preset = models.CharField(max_length=40, blank=True, help_text="runner.presets name; blank: custom options")
    config = models.JSONField(default=dict)
    config_hash = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    model_sha256 = models.CharField(max_length=64, blank=True)
    dataset_hashes = models.JSONField(default=dict, blank=True)
    task_spec_hashes = models.JSONField(default=dict, blank=True)
    environment = models.JSONField(default=dict, blank=True)
    performance = models.JSONField(
        default=dict, blank=True, help_text="evaluations.run_performance: latency, throughput, memory, energy"
    )
    adaptive_stops = models.JSONField(
        default=dict, blank=True, help_text="Adaptive runs: per benchmark, the rule that stopped it and items saved"
    )
    # Priced runs (config["pricing"]): tokens billed so far, added as each batch returns (runner.pricing).
    spend_input_tokens = models.BigIntegerField(default=0)
    spend_output_tokens = models.BigIntegerField(default=0)
    spend_estimated_tokens = models.BigIntegerField(
        default=0, help_text="Of the tokens billed, those counted by the backend where the server reported no usage"
    )
    queue = models.CharField(max_length=40, blank=True, help_text="Celery queue (hardware class) it runs on")
    estimated_memory_bytes = models.BigIntegerField(null=True, blank=True)
    is_private = models.BooleanField(default=False, help_text="Seen only by its owner and staff")
    submission_key = models.CharField(
        max_length=64, null=True, blank=True, help_text="Same key while active = the same submission"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["model", "status", "-finished_at"], name="run_model_status_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["submission_key"],
                condition=models.Q(status__in=["queued", "running"]),
                name="one_active_run_per_submission",
            )
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} ({self.model} on {', '.join(self.requested_benchmarks)})"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def progress_percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def configuration_label(self) -> str:
        """What makes this run's scores comparable or not, in a few words: backend, preset, items, shots."""
        config = self.config or {}
        parts = [self.backend, self.preset or gettext("custom options")]
        limits = {**({"*": config["limit"]} if config.get("limit") else {}), **(config.get("limits") or {})}
        parts.append(", ".join(gettext("first %(n)s") % {"n": n} if slug == "*"
                               else gettext("%(benchmark)s first %(n)s") % {"benchmark": slug, "n": n}
                               for slug, n in limits.items() if n) or gettext("all items"))
        if config.get("num_fewshot") is not None:
            parts.append(gettext("%(n)s-shot") % {"n": config["num_fewshot"]})
        if config.get("chat_template"):
            parts.append(gettext("chat template"))
        if config.get("max_new_tokens"):
            parts.append(gettext("≤ %(n)s new tokens") % {"n": config["max_new_tokens"]})
        if config.get("adaptive"):
            parts.append(gettext("adaptive (stopped early)"))
        return " · ".join(parts)


# Shards go through the same lifecycle as their runs.
ShardStatus = RunStatus


class Shard(models.Model):
    """A chunk of one benchmark's items in a run: the unit a worker takes."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="shards")
    benchmark_slug = models.SlugField(max_length=100)
    start = models.PositiveIntegerField(help_text="First item index (inclusive)")
    stop = models.PositiveIntegerField(help_text="Last item index (exclusive)")
    status = models.CharField(max_length=20, choices=ShardStatus.choices, default=ShardStatus.QUEUED)
    deliveries = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    resources = models.JSONField(default=dict, blank=True, help_text="runner.sampler report of its execution")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["run_id", "benchmark_slug", "start"]
        constraints = [
            models.UniqueConstraint(fields=["run", "benchmark_slug", "start"], name="shard_unique_per_run")
        ]

    @property
    def size(self) -> int:
        return self.stop - self.start


class WorkerRecord(models.Model):
    """A Celery worker as it last described itself."""

    hostname = models.CharField(max_length=200, unique=True)
    queues = models.JSONField(default=list)
    device = models.CharField(max_length=200, blank=True)
    memory_bytes = models.BigIntegerField(null=True, blank=True)
    libraries = models.JSONField(default=dict)
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField(db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return self.hostname


class Sample(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="samples")
    benchmark = models.ForeignKey(Benchmark, on_delete=models.CASCADE, related_name="samples")
    doc_id = models.PositiveIntegerField()
    prompt = models.TextField()
    target = models.TextField(blank=True)
    output = models.TextField(blank=True)
    loglikelihoods = models.JSONField(null=True, blank=True)
    prediction = models.TextField(blank=True)
    metrics = models.JSONField(default=dict)
    correct = models.BooleanField(null=True, db_index=True)
    latency_ms = models.FloatField(default=0)
    prompt_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    details = models.JSONField(default=dict, blank=True)  # per-check verdicts, all n samples, judge output
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["benchmark_id", "doc_id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "benchmark", "doc_id"], name="sample_unique_per_run")
        ]


class Score(models.Model):
    """An aggregate over stored samples: one metric of one benchmark version (or group) in one run.

    `config_key` identifies the benchmark's configuration in the run (runner.suites.task_config_key): a
    suite counts the score only when it equals the suite's key. `baseline` is random chance, the scale
    fields declare the metric's range and direction (runner.metrics.MetricScale), and `normalized` places
    the value between chance (0) and the best possible score (1) for the leaderboard's average.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="scores")
    benchmark = models.ForeignKey(Benchmark, on_delete=models.PROTECT, related_name="scores")
    metric = models.CharField(max_length=60)
    value = models.FloatField()
    stderr = models.FloatField(null=True, blank=True)
    n = models.PositiveIntegerField()
    is_primary = models.BooleanField(default=False, db_index=True)
    config_key = models.CharField(max_length=64, blank=True, db_index=True)
    baseline = models.FloatField(null=True, blank=True)
    normalized = models.FloatField(null=True, blank=True, help_text="(value − baseline) / (best − baseline), ≥ 0")
    normalized_stderr = models.FloatField(null=True, blank=True)
    scale_min = models.FloatField(default=0.0)
    scale_max = models.FloatField(default=1.0)
    higher_is_better = models.BooleanField(default=True)

    class Meta:
        ordering = ["benchmark__slug", "metric"]
        constraints = [
            models.UniqueConstraint(fields=["run", "benchmark", "metric"], name="score_unique_per_run_benchmark")
        ]
        indexes = [models.Index(fields=["config_key", "is_primary"], name="score_config_primary_idx")]

    @property
    def benchmark_slug(self) -> str:
        return self.benchmark.slug


class PerformanceProfile(models.Model):
    """Latency, throughput, memory and energy of one model under one configuration on one machine.

    `results` holds the whole record (runner.profiling.Profile.as_dict(), or a load generator's curve
    in the same shape); the headline figures are copied out for the models × presets grid.
    None means "could not be measured here", never zero.
    """

    model = models.ForeignKey(ModelEntry, on_delete=models.CASCADE, related_name="performance_profiles")
    run = models.ForeignKey(
        Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="performance_profiles",
        help_text="The evaluation run measured with the same options, if any",
    )
    preset = models.CharField(max_length=40, blank=True, help_text="runner.presets name; blank: custom options")
    backend = models.CharField(max_length=30)
    backend_options = models.JSONField(default=dict)
    hardware = models.JSONField(default=dict, help_text="runner.environment.hardware()")
    hardware_label = models.CharField(max_length=200, blank=True)
    config = models.JSONField(default=dict, help_text="Profiling settings: requests, prompt lengths, sweep grid")
    config_hash = models.CharField(max_length=64, db_index=True)
    results = models.JSONField(default=dict)
    output_tokens_per_s = models.FloatField(null=True, blank=True)
    latency_p50_ms = models.FloatField(null=True, blank=True)
    time_to_first_token_p50_ms = models.FloatField(null=True, blank=True)
    peak_memory_bytes = models.BigIntegerField(null=True, blank=True)
    energy_per_1k_tokens_j = models.FloatField(null=True, blank=True)
    energy_source = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["model", "preset", "-created_at"], name="profile_model_preset_idx")]

    def __str__(self) -> str:
        return f"{self.model} {self.preset or 'custom'} on {self.backend} ({self.hardware_label})"


class Regression(models.Model):
    """A run of a model significantly worse than its baseline (the model's previous run of the same benchmark
    configuration) on one benchmark: the paired interval of new − baseline over their shared items lies
    wholly below −threshold (above it for a lower-is-better metric). evaluations.services.regressions."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="regressions")
    baseline_run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="regressed_from")
    model = models.ForeignKey(ModelEntry, on_delete=models.CASCADE, related_name="regressions")
    benchmark = models.ForeignKey(Benchmark, on_delete=models.PROTECT, related_name="regressions")
    metric = models.CharField(max_length=60)
    config_key = models.CharField(max_length=64)
    value = models.FloatField(help_text="The new run's stored score")
    baseline_value = models.FloatField(help_text="The baseline run's stored score")
    n_shared = models.PositiveIntegerField()
    delta = models.FloatField(help_text="Mean of new − baseline over the shared items")
    ci_low = models.FloatField()
    ci_high = models.FloatField()
    ci_level = models.FloatField(help_text="Confidence level of the interval (Bonferroni over the run's benchmarks)")
    p_value = models.FloatField(null=True, blank=True)
    test = models.CharField(max_length=40)
    threshold = models.FloatField(help_text="δ in the metric's units: the drop the interval had to exclude")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["run", "benchmark"], name="regression_unique_per_run")]
        indexes = [models.Index(fields=["model", "-created_at"], name="regression_model_idx")]

    def __str__(self) -> str:
        return f"{self.model} regressed on {self.benchmark.slug} in run {self.run_id}"


class RegressionWatch(models.Model):
    """A user's subscription to a model's regressions: by email, and/or a webhook that receives a JSON POST."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="regression_watches")
    model = models.ForeignKey(ModelEntry, on_delete=models.CASCADE, related_name="watches")
    email = models.BooleanField(default=True)
    webhook_url = models.URLField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "model"], name="watch_unique_per_user_model")]


class RegressionNotification(models.Model):
    """One delivery attempt of a regression alert; a failure is recorded here, never raised."""

    class Channel(models.TextChoices):
        EMAIL = "email"
        WEBHOOK = "webhook"

    regression = models.ForeignKey(Regression, on_delete=models.CASCADE, related_name="notifications")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    target = models.CharField(max_length=1000, help_text="Email address or webhook URL")
    delivered = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["regression_id", "channel", "target"]


class SignedManifest(models.Model):
    """A finished run's manifest signed with the site's key when it finished (evaluations.manifests)."""

    run = models.OneToOneField(Run, on_delete=models.CASCADE, related_name="signed_manifest")
    document = models.JSONField(help_text='{"manifest": ..., "signature": ...} exactly as published')
    key_id = models.CharField(max_length=16)
    samples_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)


class CachedResponse(models.Model):
    """A model's answer to one exact request under one identity (runner.backends.responses): reused, never recomputed."""

    key = models.CharField(max_length=64, primary_key=True)
    kind = models.CharField(max_length=20)
    response = models.JSONField(help_text="The result's fields and `ms`, what computing it cost")
    hits = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
