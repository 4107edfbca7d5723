"""The performance record every evaluation run keeps, next to its scores.

Each shard is measured while it runs (runner.sampler: memory, CPU, GPU, energy) and keeps that report.
When the run finishes, the shards' reports are combined with the stored samples' timings and token
counts, and a few requests streamed through the still-loaded model give time to first token and
inter-token latency. The record lands in Run.performance; what could not be measured is None, never 0.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from django.conf import settings
from django.db.models import Count, Sum

from evaluations.models import Run, Sample, Shard
from runner.backends.base import Backend, GenerationRequest
from runner.perf import EnergyFigures, latency_summary, rate_per_second, summarize_requests
from runner.profiling import synthetic_prompt, timed_stream
from runner.sampler import ResourceReport, ResourceSampler, combine_reports, report_from_dict

SCHEMA_VERSION = 1
PROBE_PROMPT_TOKENS = 128  # the streamed probe's prompt length when the run generated nothing


@dataclass(frozen=True)
class MultipleChoiceFigures:
    items: int
    seconds: float
    items_per_s: float | None


@dataclass(frozen=True)
class GenerationFigures:
    requests: int
    seconds: float
    end_to_end_ms: dict  # runner.perf.latency_summary: p50/p95/p99/mean
    prompt_tokens: int
    output_tokens: int
    output_tokens_per_s: float | None


@dataclass(frozen=True)
class RunPerformanceRecord:
    """Run.performance, typed: the writer builds one, pages read one. None is "not measured", never 0.

    `streamed` (runner.perf request summary, or {"error": ...}), `resources` (runner.sampler report) and
    `energy` (runner.perf.EnergyFigures plus joules_per_sample) keep the engine's own dict shapes.
    """

    samples: int
    prompt_tokens: int
    output_tokens: int
    multiple_choice: MultipleChoiceFigures | None
    generation: GenerationFigures | None
    streamed: dict | None
    resources: dict | None
    resources_complete: bool  # False: some shards were measured in part (a crash, a resumed shard)
    energy: dict
    schema_version: int = SCHEMA_VERSION

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict) -> RunPerformanceRecord | None:
        """None for runs that kept no record; keys a newer writer added are ignored."""
        if not record:
            return None
        known = {field.name for field in fields(cls)}
        values = {name: value for name, value in record.items() if name in known}
        if values.get("multiple_choice"):
            values["multiple_choice"] = MultipleChoiceFigures(**values["multiple_choice"])
        if values.get("generation"):
            values["generation"] = GenerationFigures(**values["generation"])
        return cls(**{"multiple_choice": None, "generation": None, "streamed": None, "resources": None,
                      "resources_complete": False, "energy": {}, **values})

    @property
    def duration_s(self) -> float | None:
        return (self.resources or {}).get("duration_s")

    @property
    def samples_per_s(self) -> float | None:
        duration = self.duration_s
        return self.samples / duration if duration and self.samples else None


def run_sampler() -> ResourceSampler:
    return ResourceSampler(
        interval_s=settings.BENCHSITE_RUN_SAMPLE_INTERVAL_S,
        rated_cpu_watts=settings.BENCHSITE_CPU_RATED_WATTS,
    )


def shard_resources_store(*, shard: Shard, report: ResourceReport) -> None:
    """Keep what executing the shard cost; a resumed shard keeps its last execution's figures."""
    Shard.objects.filter(pk=shard.pk).update(resources=report.as_dict())


def run_performance_store(*, run: Run, backend: Backend | None) -> RunPerformanceRecord:
    record = run_performance(run=run, backend=backend)
    Run.objects.filter(pk=run.pk).update(performance=record.as_dict())
    return record


def run_performance(*, run: Run, backend: Backend | None) -> RunPerformanceRecord:
    """The run's record from its shards and samples, plus a streamed probe when a loaded backend is given."""
    shards = list(Shard.objects.filter(run=run).values("resources", "deliveries"))
    measured = [report_from_dict(shard["resources"]) for shard in shards if shard["resources"]]
    resources = combine_reports(measured)
    samples = Sample.objects.filter(run=run)
    totals = samples.aggregate(n=Count("pk"), prompt=Sum("prompt_tokens"), output=Sum("output_tokens"))
    generation = _generation_figures(samples.filter(loglikelihoods__isnull=True))
    energy = EnergyFigures.of(
        resources.energy_j if resources else None,
        resources.energy_source if resources else None,
        output_tokens=generation.output_tokens if generation else 0,
        grid_g_per_kwh=settings.BENCHSITE_GRID_CARBON_G_PER_KWH,
    ).as_dict()
    energy["joules_per_sample"] = (
        energy["joules"] / totals["n"] if energy["joules"] is not None and totals["n"] else None
    )
    return RunPerformanceRecord(
        samples=totals["n"],
        prompt_tokens=totals["prompt"] or 0,
        output_tokens=totals["output"] or 0,
        multiple_choice=_multiple_choice_figures(samples.filter(loglikelihoods__isnull=False)),
        generation=generation,
        streamed=_streamed_probe(run, backend),
        resources=resources.as_dict() if resources else None,
        # Shards measured in part: some ran before a crash or on a worker that kept no figures.
        resources_complete=bool(shards) and len(measured) == len(shards)
        and all(shard["deliveries"] <= 1 for shard in shards),
        energy=energy,
    )


def _multiple_choice_figures(samples) -> MultipleChoiceFigures | None:
    figures = samples.aggregate(n=Count("pk"), ms=Sum("latency_ms"))
    if not figures["n"]:
        return None
    seconds = (figures["ms"] or 0) / 1000
    return MultipleChoiceFigures(figures["n"], seconds, rate_per_second(figures["n"], seconds))


def _generation_figures(samples) -> GenerationFigures | None:
    rows = list(samples.values_list("latency_ms", "prompt_tokens", "output_tokens", "details"))
    if not rows:
        return None
    # A sample's latency is per output of its n samples or turns: its whole time is latency × outputs.
    seconds = sum(latency * _outputs(details) for latency, _, _, details in rows) / 1000
    output_tokens = sum(output for _, _, output, _ in rows)
    return GenerationFigures(
        requests=len(rows),
        seconds=seconds,
        end_to_end_ms=latency_summary([latency for latency, *_ in rows]),
        prompt_tokens=sum(prompt for _, prompt, _, _ in rows),
        output_tokens=output_tokens,
        output_tokens_per_s=rate_per_second(output_tokens, seconds),
    )


def _outputs(details: dict) -> int:
    return len(details.get("outputs") or ()) or 1


def _streamed_probe(run: Run, backend: Backend | None) -> dict | None:
    """Time to first token and inter-token latency of a few streamed requests with the run's own prompts."""
    requests = settings.BENCHSITE_RUN_PROBE_REQUESTS
    if backend is None or requests <= 0:
        return None
    # A server's prompt cache already holds the run's own prompts, and would make their first token look
    # fast; counting prompts that start elsewhere for every run share nothing with them.
    remote = getattr(backend, "name", "") == "openai"
    prompts = [] if remote else list(
        Sample.objects.filter(run=run, loglikelihoods__isnull=True).exclude(prompt="")
        .order_by("benchmark_id", "doc_id").values_list("prompt", flat=True)[:requests]
    )
    try:
        first = run.pk * requests if remote else 0
        prompts = prompts or [synthetic_prompt(backend, PROBE_PROMPT_TOKENS, variant=first + i)
                              for i in range(requests)]
        new_tokens = settings.BENCHSITE_RUN_PROBE_NEW_TOKENS
        timings = [timed_stream(backend, GenerationRequest(prompt=p, max_new_tokens=new_tokens)) for p in prompts]
    except Exception as exc:  # the run's scores stand whatever the probe meets
        return {"error": f"{type(exc).__name__}: {exc}"[:500]}
    return {**summarize_requests(timings, concurrency=1).as_dict(), "max_new_tokens": new_tokens}
