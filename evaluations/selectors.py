"""Reads of the evaluation domain shaped for their consumers (the CLI's JSON, pages, the API)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from evaluations.models import Run, RunStatus, Sample, Score
from runner.pricing import Pricing, TokenUsage, format_usd


def visible_runs(user) -> QuerySet[Run]:
    """The runs a user may see anywhere (pages, fragments, websockets, counts, exports, the API).

    A private run is seen only by its owner and by staff; everyone else, anonymous or not, never learns
    it exists.
    """
    runs = Run.objects.filter(real_runs())
    if user is not None and user.is_authenticated and user.is_staff:
        return runs
    if user is not None and user.is_authenticated:
        return runs.filter(Q(is_private=False) | Q(created_by_id=user.pk))
    return runs.filter(is_private=False)


def real_runs(prefix: str = "") -> Q:
    """Runs of real models; synthetic ones (seed_scale) too where BENCHSITE_SHOW_SYNTHETIC is on.

    `prefix` reaches the run from another model, e.g. "run__" for scores.
    """
    return Q() if settings.BENCHSITE_SHOW_SYNTHETIC else Q(**{f"{prefix}model__is_synthetic": False})


def worker_silence_cutoff() -> datetime:
    """A worker that has not sent a heartbeat since this moment (three intervals) counts as down."""
    return timezone.now() - timedelta(seconds=3 * settings.BENCHSITE_HEARTBEAT_SECONDS)


def run_scores(*, run: Run) -> dict[str, dict[str, dict]]:
    scores: dict[str, dict[str, dict]] = {}
    for score in Score.objects.filter(run=run).select_related("benchmark").order_by("benchmark__slug", "metric"):
        scores.setdefault(score.benchmark.slug, {})[score.metric] = {
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
        "response_cache": run_cache_summary(run=run),
        "spend": run_spend_summary(run=run),
        **({"partial_scores": run_partial_scores(run=run)} if run.status == RunStatus.BUDGET_REACHED else {}),
        "samples": samples,
    }


@dataclass(frozen=True)
class RunSpend:
    """What a priced run has spent: tokens billed × its prices, against its budget (None: no budget)."""

    pricing: Pricing
    usage: TokenUsage

    @classmethod
    def of(cls, run: Run) -> RunSpend | None:
        pricing = Pricing.from_config(run.config)
        if pricing is None:
            return None
        return cls(pricing, TokenUsage(run.spend_input_tokens, run.spend_output_tokens, run.spend_estimated_tokens))

    @property
    def usd(self) -> Decimal:
        return self.pricing.cost(self.usage)

    @property
    def estimated(self) -> bool:
        return self.usage.estimated_tokens > 0

    def as_dict(self) -> dict:
        """For JSON (the API, `evaluate --output`, progress messages): money as exact decimal strings."""
        budget = self.pricing.budget_usd
        return {
            "usd": _decimal_text(self.usd),
            "budget_usd": None if budget is None else _decimal_text(budget),
            "usd_per_1m_input": _decimal_text(self.pricing.usd_per_1m_input),
            "usd_per_1m_output": _decimal_text(self.pricing.usd_per_1m_output),
            "input_tokens": self.usage.input_tokens,
            "output_tokens": self.usage.output_tokens,
            "estimated_tokens": self.usage.estimated_tokens,
            "display": {"usd": format_usd(self.usd), "budget_usd": None if budget is None else format_usd(budget),
                        "usd_per_1m_input": format_usd(self.pricing.usd_per_1m_input),
                        "usd_per_1m_output": format_usd(self.pricing.usd_per_1m_output)},
        }


def _decimal_text(amount: Decimal) -> str:
    text = f"{amount:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def run_spend_summary(*, run: Run) -> dict | None:
    """What a priced run (`--price-in/--price-out`) has spent, for pages, the API and `evaluate`; None if unpriced."""
    spend = RunSpend.of(run)
    return spend.as_dict() if spend else None


def run_partial_scores(*, run: Run) -> dict[str, dict[str, dict]]:
    """Scores over the samples a run stored before it stopped (its budget reached): never stored as Score rows,
    so they are not ranked beside complete runs. {benchmark slug: {metric: {value, stderr, n}}}."""
    # Here, not at the top: pages import this module, and the web process must not load the catalogue.
    from runner.catalog import TASKS
    from runner.engine import aggregate

    by_slug: dict[str, list[dict]] = {}
    for slug, metrics in Sample.objects.filter(run=run).order_by("benchmark__slug", "doc_id").values_list(
            "benchmark__slug", "metrics"):
        by_slug.setdefault(slug, []).append(metrics)
    scores: dict[str, dict[str, dict]] = {}
    for slug, rows in by_slug.items():
        spec = TASKS.get(slug)
        aggregates = aggregate(rows, spec.weighted_metrics if spec else None)
        scores[slug] = {name: {"value": agg.value, "stderr": agg.stderr, "n": agg.n}
                        for name, agg in aggregates.items()}
    return scores


def run_cache_summary(*, run: Run) -> dict:
    """How much of a run the response cache answered: samples reused and the model time they first cost."""
    totals = Sample.objects.filter(run=run).aggregate(
        samples=Count("pk"),
        cached=Count("pk", filter=Q(details__cached=True)),
        saved_ms=Sum("latency_ms", filter=Q(details__cached=True)),
    )
    return {"samples": totals["samples"], "cached": totals["cached"],
            "saved_seconds": round((totals["saved_ms"] or 0.0) / 1000, 2)}


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
