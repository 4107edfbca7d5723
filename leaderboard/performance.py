"""Reads for the performance pages: a model's profiles with scaling charts, and the models × presets grid.

Figures that could not be measured are None and print as "unavailable". Charts are plotly figures
rendered to a <div> plus its JSON (benchsite.plots); plotly.js itself is served once per page from the installed package.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from django.db.models import QuerySet
from django.utils.translation import gettext, gettext_lazy as _

from benchsite.formats import localize_digits
from benchsite.plots import figure_html

from evaluations.models import ModelEntry, PerformanceProfile, Run, RunStatus, Score
from evaluations.performance import PERCENTILES, PRESETS, preset_options
from evaluations.run_performance import RunPerformanceRecord
from evaluations.selectors import real_runs

UNAVAILABLE = "unavailable"
# runner.presets is plain Python (no Django): the pages' names for its presets live here.
PRESET_TITLES = {"balanced": _("Balanced"), "performance": _("Performance"), "memory_optimized": _("Memory-optimized")}


def preset_title(name: str) -> str:
    return str(PRESET_TITLES.get(name) or PRESETS[name].title)
PERCENTILE_LABELS = tuple(f"p{p}" for p in PERCENTILES)


@dataclass(frozen=True)
class Measure:
    """A number with its unit that prints itself, or "unavailable"."""

    value: float | None
    unit: str = ""

    def __str__(self) -> str:
        value = self.value
        if value is None:
            return gettext("unavailable")
        if self.unit == "bytes":
            for size, name in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
                if value >= size:
                    return f"{localize_digits(f'{value / size:.1f}')} {name}"
            return f"{value:.0f} B"
        if self.unit == "ms" and value >= 1000:
            return f"{localize_digits(f'{value / 1000:.2f}')} s"
        digits = 1 if abs(value) >= 10 else 2 if abs(value) >= 0.1 else 4
        return f"{localize_digits(f'{value:.{digits}f}')} {self.unit}".rstrip()

    @property
    def available(self) -> bool:
        return self.value is not None


@dataclass(frozen=True)
class LatencyRow:
    label: str
    percentiles: list[Measure]  # aligned with PERCENTILES
    mean: Measure


@dataclass(frozen=True)
class Chart:
    slug: str
    title: str
    html: str


@dataclass
class ProfileDetail:
    profile: PerformanceProfile
    preset_title: str
    concurrency: int
    latency_rows: list[LatencyRow]
    throughput: list[tuple[str, Measure]]
    memory: list[tuple[str, Measure]]
    utilisation: list[tuple[str, Measure]]
    energy: list[tuple[str, Measure]]
    energy_source: str  # measured-nvml, measured-rapl, estimated or "unavailable"
    quality_run: Run | None
    charts: list[Chart] = field(default_factory=list)
    percentile_labels: tuple[str, ...] = PERCENTILE_LABELS


@dataclass(frozen=True)
class ProfileSummary:
    """The headline figures of a profile, as the profile list and the grid show them."""

    profile: PerformanceProfile
    tokens_per_s: Measure
    latency_p50: Measure
    peak_memory: Measure
    energy_per_1k: Measure
    quality_run: Run | None = None

    @classmethod
    def of(cls, profile: PerformanceProfile, quality_run: Run | None = None) -> ProfileSummary:
        return cls(
            profile=profile,
            tokens_per_s=Measure(profile.output_tokens_per_s, "tok/s"),
            latency_p50=Measure(profile.latency_p50_ms, "ms"),
            peak_memory=Measure(profile.peak_memory_bytes, "bytes"),
            energy_per_1k=Measure(profile.energy_per_1k_tokens_j, "J"),
            quality_run=profile.run or quality_run,
        )


@dataclass
class ModelPerformance:
    model: ModelEntry
    profiles: list[ProfileSummary]  # latest per preset, backend and hardware
    selected: ProfileDetail | None


@dataclass
class GridRow:
    model: ModelEntry
    cells: list[ProfileSummary | None]  # aligned with PresetGrid.presets


@dataclass
class PresetGrid:
    presets: list[tuple[str, str]]  # (name, title)
    rows: list[GridRow]


# -- the model page ---------------------------------------------------------------------------
def model_performance(slug: str, profile_id: int | None = None) -> ModelPerformance | None:
    model = ModelEntry.objects.filter(slug=slug).first()
    if model is None:
        return None
    profiles = _latest_per_configuration(model.performance_profiles.select_related("run"))
    chosen = next((p for p in profiles if p.pk == profile_id), None) if profile_id else None
    if chosen is None and profile_id:
        chosen = model.performance_profiles.select_related("run").filter(pk=profile_id).first()
    chosen = chosen or (profiles[0] if profiles else None)
    selected = None
    if chosen is not None:
        selected = profile_detail(chosen, quality_run=_quality_run(chosen, _finished_runs([model.pk])))
    return ModelPerformance(model, [ProfileSummary.of(p) for p in profiles], selected)


def profile_detail(profile: PerformanceProfile, *, quality_run: Run | None = None) -> ProfileDetail:
    results = profile.results
    point = _headline_point(results)
    resources = results.get("resources") or {}
    energy = results.get("energy") or {}
    latency_rows = [
        _latency_row(_("Time to first token"), point.get("time_to_first_token_ms")),
        _latency_row(_("Inter-token latency"), point.get("inter_token_ms")),
        _latency_row(_("End-to-end latency"), point.get("end_to_end_ms")),
    ]
    return ProfileDetail(
        profile=profile,
        preset_title=(preset_title(profile.preset) if profile.preset in PRESETS
                      else profile.preset or gettext("custom")),
        concurrency=point.get("concurrency", 1),
        latency_rows=latency_rows,
        throughput=[
            (_("Output tokens/s"), Measure(point.get("output_tokens_per_s"), "tok/s")),
            (_("Prompt tokens/s (prefill)"), Measure(point.get("prompt_tokens_per_s"), "tok/s")),
            (_("Requests/s"), Measure(point.get("requests_per_s"), "req/s")),
        ],
        memory=_memory_measures(resources),
        utilisation=_utilisation_measures(resources),
        energy=[
            (_("Energy (latency requests)"), Measure(energy.get("joules"), "J")),
            (_("Energy per 1k output tokens"), Measure(energy.get("joules_per_1k_output_tokens"), "J")),
            (_("Carbon"), Measure(energy.get("carbon_g"), "g CO₂e")),
            (_("Grid intensity"), Measure(energy.get("grid_g_per_kwh"), "g/kWh")),
        ],
        energy_source=energy.get("source") or UNAVAILABLE,
        quality_run=profile.run or quality_run,
        charts=scaling_charts(results),
    )


def _memory_measures(resources: dict) -> list[tuple[str, Measure]]:
    gpu = resources.get("gpu") or {}
    return [
        (_("Peak resident memory (process tree)"), Measure(resources.get("peak_rss_bytes"), "bytes")),
        (_("Peak GPU memory"), Measure(gpu.get("memory_used_bytes_peak"), "bytes")),
    ]


def _utilisation_measures(resources: dict) -> list[tuple[str, Measure]]:
    gpu = resources.get("gpu") or {}
    return [
        (_("CPU utilisation (mean, whole machine)"), Measure(resources.get("cpu_percent_mean"), "%")),
        (_("GPU utilisation (mean)"), Measure(gpu.get("utilisation_percent_mean"), "%")),
        (_("GPU temperature (peak)"), Measure(gpu.get("temperature_c_peak"), "°C")),
        (_("GPU power (mean)"), Measure(gpu.get("power_w_mean"), "W")),
    ]


def _headline_point(results: dict) -> dict:
    points = results.get("concurrency") or [{}]
    return min(points, key=lambda point: point.get("concurrency", 1))


def _latency_row(label: str, summary: dict | None) -> LatencyRow:
    summary = summary or {}
    return LatencyRow(label, [Measure(summary.get(f"p{p}"), "ms") for p in PERCENTILES], Measure(summary.get("mean"), "ms"))


# -- an evaluation run's own record ---------------------------------------------------------------
@dataclass
class RunPerformanceDetail:
    latency_rows: list[LatencyRow]
    probe: dict  # the streamed requests: count, max_new_tokens, or error
    throughput: list[tuple[str, Measure]]
    memory: list[tuple[str, Measure]]
    utilisation: list[tuple[str, Measure]]
    energy: list[tuple[str, Measure]]
    energy_source: str
    complete: bool  # False: part of the run was measured (resumed shards)
    percentile_labels: tuple[str, ...] = PERCENTILE_LABELS


def run_performance_detail(record: RunPerformanceRecord | None) -> RunPerformanceDetail | None:
    """The run page's view of a run's performance record; None for runs that kept none."""
    if record is None:
        return None
    streamed = record.streamed or {}
    generation = record.generation
    resources = record.resources or {}
    energy = record.energy or {}
    return RunPerformanceDetail(
        latency_rows=[
            _latency_row(_("Time to first token (streamed)"), streamed.get("time_to_first_token_ms")),
            _latency_row(_("Inter-token latency (streamed)"), streamed.get("inter_token_ms")),
            _latency_row(_("Generation, per sample"), generation.end_to_end_ms if generation else None),
        ],
        probe=streamed,
        throughput=[
            (_("Output tokens/s (generation)"), Measure(generation.output_tokens_per_s if generation else None, "tok/s")),
            (_("Output tokens/s (streamed)"), Measure(streamed.get("output_tokens_per_s"), "tok/s")),
            (_("Prompt tokens/s (prefill, streamed)"), Measure(streamed.get("prompt_tokens_per_s"), "tok/s")),
            (_("Multiple-choice items/s"), Measure(
                record.multiple_choice.items_per_s if record.multiple_choice else None, "items/s")),
            (_("Samples/s (whole run)"), Measure(record.samples_per_s, "samples/s")),
        ],
        memory=_memory_measures(resources),
        utilisation=_utilisation_measures(resources),
        energy=[
            (_("Energy (whole run)"), Measure(energy.get("joules"), "J")),
            (_("Energy per sample"), Measure(energy.get("joules_per_sample"), "J")),
            (_("Energy per 1k generated tokens"), Measure(energy.get("joules_per_1k_output_tokens"), "J")),
            (_("Carbon"), Measure(energy.get("carbon_g"), "g CO₂e")),
        ],
        energy_source=energy.get("source") or UNAVAILABLE,
        complete=record.resources_complete,
    )


# -- the models × presets grid ------------------------------------------------------------------
def preset_grid() -> PresetGrid:
    """Latest profile of every model under every preset; three queries whatever the number of models."""
    profiles = _latest_per_configuration(
        PerformanceProfile.objects.exclude(preset="").select_related("model", "run"), key=("model_id", "preset")
    )
    runs = _finished_runs({p.model_id for p in profiles})
    names = list(PRESETS)
    by_model: dict[int, GridRow] = {}
    for profile in sorted(profiles, key=lambda p: p.model.name):
        if profile.preset not in PRESETS:
            continue
        row = by_model.setdefault(profile.model_id, GridRow(profile.model, [None] * len(names)))
        row.cells[names.index(profile.preset)] = ProfileSummary.of(profile, _quality_run(profile, runs))
    return PresetGrid([(name, preset_title(name)) for name in names], list(by_model.values()))


@dataclass
class QualityRow:
    model: ModelEntry
    preset: str
    preset_title: str
    run: Run
    scores: list[float | None]  # primary scores, aligned with QualityGrid.benchmarks
    output_tokens_per_s: Measure  # from the run's own performance record
    energy_per_sample: Measure


@dataclass
class QualityGrid:
    benchmarks: list[str]
    rows: list[QualityRow]


def preset_quality_grid() -> QualityGrid:
    """Models × presets × benchmarks: each model's newest finished run under each preset's exact backend
    options, with its primary scores and the run's own speed and energy. Two queries."""
    runs = (
        Run.objects.filter(real_runs(), status=RunStatus.FINISHED, is_private=False).select_related("model")
        .only("pk", "model", "backend", "config", "requested_benchmarks", "performance", "finished_at")
        .order_by("-finished_at", "-pk")
    )
    preset_by_options = {
        (backend, json.dumps(preset_options(name, backend), sort_keys=True)): name
        for name, preset in PRESETS.items() for backend in preset.options
    }
    chosen: dict[tuple[int, str], Run] = {}
    for run in runs:
        options = json.dumps((run.config or {}).get("backend_options"), sort_keys=True)
        name = preset_by_options.get((run.backend, options))
        if name is not None:
            chosen.setdefault((run.model_id, name), run)
    primary: dict[int, dict[str, float]] = {}
    for run_id, slug, value in Score.objects.filter(run__in=[r.pk for r in chosen.values()], is_primary=True) \
            .values_list("run_id", "benchmark__slug", "value"):
        primary.setdefault(run_id, {})[slug] = value
    benchmarks = sorted({slug for run in chosen.values() for slug in run.requested_benchmarks
                         if slug in primary.get(run.pk, {})})
    order = list(PRESETS)
    rows = []
    for (_model, name), run in sorted(chosen.items(), key=lambda item: (item[1].model.name, order.index(item[0][1]))):
        record = RunPerformanceRecord.from_dict(run.performance)
        rows.append(QualityRow(
            model=run.model, preset=name, preset_title=preset_title(name), run=run,
            scores=[primary.get(run.pk, {}).get(slug) for slug in benchmarks],
            output_tokens_per_s=Measure(
                record.generation.output_tokens_per_s if record and record.generation else None, "tok/s"),
            energy_per_sample=Measure((record.energy if record else {}).get("joules_per_sample"), "J"),
        ))
    return QualityGrid(benchmarks, rows)


def _latest_per_configuration(
    profiles: QuerySet[PerformanceProfile], key: tuple[str, ...] = ("preset", "backend", "hardware_label")
) -> list[PerformanceProfile]:
    latest: dict[tuple, PerformanceProfile] = {}
    for profile in profiles.order_by("-created_at", "-pk"):
        latest.setdefault(tuple(getattr(profile, name) for name in key), profile)
    return list(latest.values())


def _finished_runs(model_ids) -> list[Run]:
    return list(
        Run.objects.filter(real_runs(), model_id__in=model_ids, status=RunStatus.FINISHED, is_private=False)
        .only("pk", "model_id", "backend", "config", "finished_at")
        .order_by("-finished_at")
    )


def _quality_run(profile: PerformanceProfile, runs: list[Run]) -> Run | None:
    """The newest finished evaluation of the same model with the same backend options."""
    return next(
        (
            run
            for run in runs
            if run.model_id == profile.model_id and run.backend == profile.backend
            and (run.config or {}).get("backend_options") == profile.backend_options
        ),
        None,
    )


# -- charts ---------------------------------------------------------------------------------------
SWEEP_CHARTS = (
    ("throughput", _("Output tokens/s by prompt length"), "output_tokens_per_s", _("output tokens/s")),
    ("latency", _("Batch latency by prompt length"), "latency_ms", _("latency (ms)")),
    ("memory", _("Peak resident memory by prompt length"), "peak_rss_bytes", _("memory (MiB)")),
)


def scaling_charts(results: dict) -> list[Chart]:
    """Sweep curves (one line per batch size) and, from a load generator, the concurrency curve."""
    import plotly.graph_objects as go

    charts = []
    points = results.get("sweep") or []
    batch_sizes = sorted({point["batch_size"] for point in points})
    for slug, title, key, axis in SWEEP_CHARTS:
        figure = go.Figure()
        for batch in batch_sizes:
            line = sorted((p for p in points if p["batch_size"] == batch and p.get(key) is not None),
                          key=lambda p: p["prompt_tokens"])
            scale = 2**20 if key == "peak_rss_bytes" else 1
            figure.add_trace(go.Scatter(x=[p["prompt_tokens"] for p in line], y=[p[key] / scale for p in line],
                                        mode="lines+markers", name=gettext("batch %(size)s") % {"size": batch}))
        if figure.data:
            charts.append(Chart(slug, str(title), _figure_html(figure, slug, gettext("prompt tokens"), str(axis))))
    concurrency = sorted(results.get("concurrency") or [], key=lambda point: point["concurrency"])
    if len(concurrency) > 1:
        figure = go.Figure(go.Scatter(x=[p["concurrency"] for p in concurrency],
                                      y=[p["output_tokens_per_s"] for p in concurrency],
                                      mode="lines+markers", name=gettext("output tokens/s")))
        charts.append(Chart("concurrency", gettext("Throughput by concurrency"),
                            _figure_html(figure, "concurrency", gettext("concurrent requests"),
                                         gettext("output tokens/s"))))
    return charts


def _figure_html(figure, slug: str, x_title: str, y_title: str) -> str:
    figure.update_layout(
        xaxis_title=x_title, yaxis_title=y_title, height=340, margin={"l": 60, "r": 20, "t": 20, "b": 50},
        legend_title_text="", template="plotly_white",
    )
    return figure_html(figure, div_id=f"chart-{slug}")


def plotly_js_path() -> Path:
    """plotly.js as shipped inside the plotly package, so pages need no CDN."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
