"""factory_boy factories for the evaluation models, building rows directly (no model is evaluated)."""
from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from evaluations.models import Benchmark, ModelEntry, Run, RunStatus, Sample, Score


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
    file_sha256 = "ab" * 32
    format = "gguf"
    quantization = "Q8_0"


class BenchmarkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Benchmark
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"bench_{n}")
    title = factory.LazyAttribute(lambda benchmark: benchmark.slug.replace("_", " ").title())
    category = "reasoning"
    version = "1.0"
    spec_hash = factory.LazyAttribute(lambda benchmark: f"spec-{benchmark.slug}")
    dataset_hash = factory.LazyAttribute(lambda benchmark: f"data-{benchmark.slug}")


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

    run = factory.SubFactory(RunFactory)
    benchmark_slug = "arc_easy"
    metric = "acc_norm"
    value = 0.5
    stderr = 0.05
    n = 100
    is_primary = True


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


def finished_run(model: ModelEntry, scores: dict[str, float], *, days_ago: int = 0, **fields) -> Run:
    """A finished run with one primary score per benchmark slug (value, stderr 0.05, n 100)."""
    fields.setdefault("requested_benchmarks", list(scores))
    fields.setdefault("finished_at", timezone.now() - timedelta(days=days_ago))
    run = RunFactory(model=model, **fields)
    for slug, value in scores.items():
        ScoreFactory(run=run, benchmark_slug=slug, metric=PRIMARY_METRICS.get(slug, "acc"), value=value)
    return run


PRIMARY_METRICS = {
    "arc_easy": "acc_norm",
    "arc_challenge": "acc_norm",
    "hellaswag": "acc_norm",
    "gsm8k": "exact_match,strict-match",
}
