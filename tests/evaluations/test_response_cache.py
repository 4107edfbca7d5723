"""The response cache through runs: a finished configuration re-runs from stored answers, nothing else does.

The model is the test suite's DeterministicFakeBackend (a stand-in, not a model); loads are counted.
"""
from __future__ import annotations

import pytest

from evaluations.models import CachedResponse, Sample, Score
from evaluations.selectors import run_cache_summary
from evaluations.services import model_entries, plans, runs, shards
from runner.backends.cache import cached_backend

pytestmark = pytest.mark.django_db

BENCHMARKS = ["arc_easy", "gsm8k"]  # one scored by log-likelihood, one by generation


@pytest.fixture
def loads(monkeypatch):
    counted: list[str] = []

    def counting(kind, location, options):
        counted.append(kind)
        return cached_backend(kind, location, options)

    monkeypatch.setattr(shards, "cached_backend", counting)
    return counted


def evaluate(**options):
    model = model_entries.model_resolve(reference="SmolLM2-135M-Instruct")
    plan = plans.run_plan(model=model, backend="fake", benchmarks=BENCHMARKS, limit=12, max_new_tokens=32, **options)
    return shards.run_execute(run=runs.run_create(plan=plan), plan=plan)


def results(run) -> tuple[dict, dict]:
    scores = {(s.benchmark_slug, s.metric): (s.value, s.stderr, s.n) for s in Score.objects.filter(run=run)}
    outputs = dict(Sample.objects.filter(run=run).values_list("doc_id", "output").order_by("benchmark_id", "doc_id"))
    return scores, outputs


def test_rerunning_a_finished_configuration_uses_stored_answers_and_gives_identical_results(loads, client):
    first = evaluate()
    assert loads and run_cache_summary(run=first)["cached"] == 0
    loads.clear()
    stored = CachedResponse.objects.count()
    assert stored >= 12 * 4 + 12  # every choice of every ARC item, one generation per GSM8K item

    second = evaluate()
    assert loads == [], "the model was loaded again although every answer was stored"
    assert results(second) == results(first)
    summary = run_cache_summary(run=second)
    assert summary["cached"] == summary["samples"] == 24
    assert CachedResponse.objects.count() == stored
    assert set(CachedResponse.objects.values_list("hits", flat=True)) == {1}

    page = client.get(f"/runs/{second.pk}/").content.decode()
    assert "24 of 24 samples reused" in page


def test_other_options_or_the_cache_switched_off_compute_everything(loads):
    evaluate()
    for options in ({"backend_options": {"batch_size": 4}}, {"response_cache": False}):
        loads.clear()
        run = evaluate(**options)
        assert run_cache_summary(run=run)["cached"] == 0 and loads
    assert run.config["response_cache"] is False


def test_a_fine_tune_sharing_its_base_file_never_reuses_the_base_answers():
    from evaluations.models import Run
    from evaluations.services.responses import response_identity

    base = {"model": {"name": "base", "sha256": "a" * 64}, "backend_options": {}, "response_cache": True}
    tuned = {**base, "model": {"name": "base-lora", "sha256": "a" * 64, "adapter_sha256": "b" * 64}}
    renamed = {**base, "model": {"name": "another name", "sha256": "a" * 64}}
    identity = response_identity(Run(backend="hf", config=base))
    assert response_identity(Run(backend="hf", config=tuned)) != identity
    assert response_identity(Run(backend="hf", config=renamed)) == identity  # same bytes, same answers
    assert response_identity(Run(backend="llama_cpp", config=base)) != identity
    assert response_identity(Run(backend="openai", config=base)) is None
    assert response_identity(Run(backend="hf", config={**base, "response_cache": False})) is None
