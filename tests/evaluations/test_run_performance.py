"""Every evaluation run keeps a performance record (DeterministicFakeBackend: a test stand-in, not a model)."""
from __future__ import annotations

import numpy as np
import pytest
from django.urls import reverse

from evaluations.services import model_entries, plans, runs, shards
from evaluations.models import Run, RunStatus, Sample, Shard
from runner.backends.base import GenerationRequest
from tests.fake_backend import DeterministicFakeBackend
from runner.perf import ENERGY_SOURCES

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan():
    model = model_entries.model_resolve(reference="SmolLM2-135M-Instruct")
    return plans.run_plan(model=model, backend="fake", benchmarks=["arc_easy", "gsm8k"], limit=6)


def _streamed_text(backend, prompt: str) -> str:
    return "".join(backend.stream(GenerationRequest(prompt=prompt)))


def test_a_finished_run_records_latency_throughput_memory_and_energy(plan, settings):
    settings.BENCHSITE_RUN_PROBE_REQUESTS = 2
    run = shards.run_execute(run=runs.run_create(plan=plan), plan=plan)
    record = run.performance
    generated = Sample.objects.filter(run=run, benchmark__slug="gsm8k").order_by("doc_id")
    assert record["samples"] == 12
    assert record["multiple_choice"]["items"] == 6
    generation = record["generation"]
    assert generation["requests"] == 6
    assert generation["output_tokens"] == sum(s.output_tokens for s in generated) > 0
    latencies = [s.latency_ms for s in generated]
    assert generation["end_to_end_ms"]["p50"] == pytest.approx(np.percentile(latencies, 50))
    assert generation["end_to_end_ms"]["p99"] == pytest.approx(np.percentile(latencies, 99))
    assert generation["output_tokens_per_s"] == pytest.approx(
        generation["output_tokens"] / (sum(latencies) / 1000)
    )

    # The probe streams the run's own first generation prompts, without stop sequences.
    streamed = record["streamed"]
    backend = DeterministicFakeBackend()
    expected_tokens = sum(len(_streamed_text(backend, s.prompt)) for s in generated[:2])
    assert streamed["requests"] == 2 and streamed["output_tokens"] == expected_tokens
    assert streamed["time_to_first_token_ms"]["p50"] is not None
    assert streamed["inter_token_ms"]["mean"] is not None

    # Every shard kept its own measurement; the run's is their combination.
    shard_reports = list(Shard.objects.filter(run=run).values_list("resources", flat=True))
    assert shard_reports and all(report["duration_s"] > 0 for report in shard_reports)
    resources = record["resources"]
    assert resources["duration_s"] == pytest.approx(sum(report["duration_s"] for report in shard_reports))
    assert resources["peak_rss_bytes"] == max(report["peak_rss_bytes"] for report in shard_reports) > 0
    assert record["resources_complete"] is True
    energy = record["energy"]
    assert energy["source"] in ENERGY_SOURCES and energy["joules"] > 0
    assert energy["joules_per_sample"] == pytest.approx(energy["joules"] / 12)
    assert energy["joules_per_1k_output_tokens"] == pytest.approx(
        energy["joules"] * 1000 / generation["output_tokens"]
    )


def test_the_probe_can_be_switched_off_and_a_failing_probe_leaves_the_run_finished(plan, settings, monkeypatch):
    settings.BENCHSITE_RUN_PROBE_REQUESTS = 0
    quiet = shards.run_execute(run=runs.run_create(plan=plan), plan=plan)
    assert quiet.performance["streamed"] is None and quiet.performance["samples"] == 12

    class NoStreaming(DeterministicFakeBackend):
        def stream(self, request):
            raise ConnectionError("server closed the stream")

    settings.BENCHSITE_RUN_PROBE_REQUESTS = 2
    monkeypatch.setattr(shards, "run_backend", lambda run: NoStreaming())
    run = shards.run_execute(run=runs.run_create(plan=plan), plan=plan)
    assert run.status == RunStatus.FINISHED
    assert run.performance["streamed"] == {"error": "ConnectionError: server closed the stream"}


def test_a_multiple_choice_run_probes_with_a_synthetic_prompt(settings):
    settings.BENCHSITE_RUN_PROBE_REQUESTS = 1
    model = model_entries.model_resolve(reference="SmolLM2-135M-Instruct")
    plan = plans.run_plan(model=model, backend="fake", benchmarks=["arc_easy"], limit=4)
    run = shards.run_execute(run=runs.run_create(plan=plan), plan=plan)
    record = run.performance
    assert record["generation"] is None
    assert record["energy"]["joules_per_1k_output_tokens"] is None  # nothing was generated
    assert record["streamed"]["requests"] == 1 and record["streamed"]["prompt_tokens"] >= 128


def test_the_run_page_shows_the_record(client, plan, settings):
    settings.BENCHSITE_RUN_PROBE_REQUESTS = 2
    run = shards.run_execute(run=runs.run_create(plan=plan), plan=plan)
    html = client.get(reverse("leaderboard:run_detail", args=[run.pk])).content.decode()
    section = html[html.index('id="run-performance"'):]
    assert "Time to first token (streamed)" in section and "Energy per sample" in section
    assert f'id="run-energy-source">{run.performance["energy"]["source"]}<' in section
    assert "2 requests streamed" in section

    Run.objects.filter(pk=run.pk).update(performance={})  # runs from before the record existed
    assert 'id="run-performance"' not in client.get(reverse("leaderboard:run_detail", args=[run.pk])).content.decode()
