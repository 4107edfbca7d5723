"""factory_boy factories for the evaluation models, building rows directly (no model is evaluated).

Scores carry what the scoring service would store: a configuration key (by default the "standard"
variant of their benchmark, the key `suite_entries` puts in a suite), random chance as the baseline
and the baseline-normalised value the leaderboard averages.
"""
from __future__ import annotations

import hashlib

from datetime import timedelta

import factory
from django.utils import timezone

from evaluations.models import Benchmark, ModelEntry, Run, RunStatus, Sample, Score, Suite
from runner.metrics import metric_scale

# Answer choices per item of the multiple-choice benchmarks used here: chance is 1 / choices.
CHOICES = {"arc_easy": 4, "arc_challenge": 4, "hellaswag": 4, "mmlu": 4, "mmlu_astronomy": 4, "winogrande": 2}
STANDARD = "standard"


def config_key(slug: str, variant: str = STANDARD) -> str:
    """A stand-in for runner.suites.task_config_key: equal for equal (benchmark, variant)."""
    return f"{variant}:{slug}"


def suite_entries(slugs: list[str], variant: str = STANDARD) -> dict[str, str]:
    return {slug: config_key(slug, variant) for slug in slugs}


def chance(slug: str, metric: str) -> float:
    scale = metric_scale(metric)
    return scale.baseline([CHOICES[slug]] if slug in CHOICES else [])


class ModelEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelEntry
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"model-{n}")
    family = "test"
    parameter_count = 135_000_000
    license = "apache-2.0"
    source_kind = ModelEntry.SourceKind.LOCAL
    location = factory.LazyAttribute(lambda entry: f"/models/{entry.name}.gguf")
    # Distinct models have distinct files: the response cache (rightly) treats equal hashes as one model.
    file_sha256 = factory.LazyAttribute(lambda entry: hashlib.sha256(entry.name.encode()).hexdigest())
    format = "gguf"
    quantization = "Q8_0"


class BenchmarkFactory(factory.django.DjangoModelFactory):
    """One version of a benchmark; asking again for the same slug (and version) gives the same row."""

    class Meta:
        model = Benchmark
        django_get_or_create = ("slug", "version", "spec_hash")

    slug = factory.Sequence(lambda n: f"bench_{n}")
    title = factory.LazyAttribute(lambda benchmark: benchmark.slug.replace("_", " ").title())
    category = "reasoning"
    version = "1.0"
    spec_hash = factory.LazyAttribute(lambda benchmark: f"spec-{benchmark.slug}-{benchmark.version}")
    dataset_hash = factory.LazyAttribute(lambda benchmark: f"data-{benchmark.slug}")


class SuiteFactory(factory.django.DjangoModelFactory):
    """A suite version whose entries are the given variant's keys of `order`'s benchmarks."""

    class Meta:
        model = Suite

    class Params:
        variant = STANDARD

    slug = "standard"
    title = factory.LazyAttribute(lambda suite: f"{suite.slug.title()} suite")
    version = factory.Sequence(lambda n: str(n + 1))
    order = ["arc_easy"]
    entries = factory.LazyAttribute(lambda suite: suite_entries(suite.order, suite.variant))
    description = factory.LazyAttribute(lambda suite: f"The {suite.variant} configuration of {', '.join(suite.order)}")


class RunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Run

    model = factory.SubFactory(ModelEntryFactory)
    requested_benchmarks = ["arc_easy"]
    backend = "llama_cpp"
    config = factory.LazyAttribute(lambda run: {"benchmarks": run.requested_benchmarks, "limit": 60})
    config_hash = factory.Sequence(lambda n: f"{n:064x}")
    status = RunStatus.FINISHED
    done = 10
    total = 10
    model_sha256 = "ab" * 32
    environment = {"python": "3.11", "torch": "none"}
    finished_at = factory.LazyFunction(timezone.now)


class ScoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Score

    class Params:
        variant = STANDARD

    run = factory.SubFactory(RunFactory)
    benchmark = factory.SubFactory(BenchmarkFactory, slug="arc_easy")
    metric = "acc_norm"
    value = 0.5
    stderr = 0.05
    n = 100
    is_primary = True
    config_key = factory.LazyAttribute(lambda score: config_key(score.benchmark.slug, score.variant))
    baseline = factory.LazyAttribute(lambda score: chance(score.benchmark.slug, score.metric))
    normalized = factory.LazyAttribute(lambda score: metric_scale(score.metric).normalized(score.value, score.baseline))
    normalized_stderr = factory.LazyAttribute(
        lambda score: metric_scale(score.metric).normalized_stderr(score.stderr, score.baseline)
    )
    scale_min = factory.LazyAttribute(lambda score: metric_scale(score.metric).minimum)
    scale_max = factory.LazyAttribute(lambda score: metric_scale(score.metric).maximum)
    higher_is_better = factory.LazyAttribute(lambda score: metric_scale(score.metric).higher_is_better)


class SampleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sample

    run = factory.SubFactory(RunFactory)
    benchmark = factory.SubFactory(BenchmarkFactory, slug="arc_easy")
    doc_id = factory.Sequence(int)
    prompt = factory.LazyAttribute(lambda sample: f"Question {sample.doc_id}?\nAnswer:")
    target = "blue"
    output = factory.LazyAttribute(lambda sample: "blue" if sample.correct else "red")
    loglikelihoods = [-1.5, -2.25, -3.0, -4.0]
    prediction = factory.LazyAttribute(lambda sample: "0" if sample.correct else "1")
    metrics = factory.LazyAttribute(lambda sample: {"acc": float(bool(sample.correct))})
    correct = True


def finished_run(model: ModelEntry, scores: dict[str, float], *, days_ago: int = 0, variant: str = STANDARD,
                 **fields) -> Run:
    """A finished run with one primary score per benchmark slug (value, stderr 0.05, n 100), each under the
    `variant` configuration of its benchmark (the "standard" one unless told)."""
    fields.setdefault("requested_benchmarks", list(scores))
    fields.setdefault("finished_at", timezone.now() - timedelta(days=days_ago))
    run = RunFactory(model=model, **fields)
    benchmarks = [BenchmarkFactory(slug=slug) for slug in scores]
    run.benchmarks.set(benchmarks)
    for benchmark, value in zip(benchmarks, scores.values()):
        ScoreFactory(run=run, benchmark=benchmark, metric=PRIMARY_METRICS.get(benchmark.slug, "acc"), value=value,
                     variant=variant)
    return run


PRIMARY_METRICS = {
    "arc_easy": "acc_norm",
    "arc_challenge": "acc_norm",
    "hellaswag": "acc_norm",
    "gsm8k": "exact_match,strict-match",
    "mt_bench": "score",
}
