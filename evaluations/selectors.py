"""Reads of the evaluation domain shaped for their consumers (the CLI's JSON, pages, the API)."""
from __future__ import annotations

from django.db.models import QuerySet

from evaluations.models import Run, Sample, Score


def run_scores(*, run: Run) -> dict[str, dict[str, dict]]:
    scores: dict[str, dict[str, dict]] = {}
    for score in Score.objects.filter(run=run).order_by("benchmark_slug", "metric"):
        scores.setdefault(score.benchmark_slug, {})[score.metric] = {
            "value": score.value,
            "stderr": score.stderr,
            "n": score.n,
        }
    return scores


def sample_payload(sample: Sample) -> dict:
    payload: dict = {"doc_id": sample.doc_id, "pred": _as_number(sample.prediction)}
    payload.update(sample.metrics)
    if sample.loglikelihoods is not None:
        payload["loglikelihoods"] = sample.loglikelihoods
    else:
        payload["output"] = sample.output
    return payload


def run_result_payload(*, run: Run) -> dict:
    samples: dict[str, list[dict]] = {}
    for sample in Sample.objects.filter(run=run).select_related("benchmark").order_by("benchmark__slug", "doc_id"):
        samples.setdefault(sample.benchmark.slug, []).append(sample_payload(sample))
    return {
        "run_id": run.pk,
        "model": run.model.name,
        "backend": run.backend,
        "status": run.status,
        "config_hash": run.config_hash,
        "model_sha256": run.model_sha256,
        "dataset_hashes": run.dataset_hashes,
        "task_spec_hashes": run.task_spec_hashes,
        "scores": run_scores(run=run),
        "samples": samples,
    }


def run_samples(*, run: Run, benchmark_slug: str | None = None, correct: bool | None = None) -> QuerySet[Sample]:
    samples = Sample.objects.filter(run=run).select_related("benchmark").order_by("benchmark__slug", "doc_id")
    if benchmark_slug:
        samples = samples.filter(benchmark__slug=benchmark_slug)
    if correct is not None:
        samples = samples.filter(correct=correct)
    return samples


def _as_number(prediction: str):
    try:
        return int(prediction)
    except ValueError:
        return prediction


def run_status_payload(*, run: Run) -> dict:
    samples = [
        {"benchmark": sample.benchmark.slug, **sample_payload(sample)}
        for sample in Sample.objects.filter(run=run).select_related("benchmark").order_by("benchmark__slug", "doc_id")
    ]
    return {"run_id": run.pk, "status": run.status, "done": run.done, "total": run.total, "error": run.error,
            "samples": samples}
