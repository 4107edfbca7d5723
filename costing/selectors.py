"""Reads for costing: the hardware catalogue and what was measured of each model's serving (stored profiles)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Q
from django.db.models.fields.json import KeyTransform

from costing.calculators import LoadPoint, hourly_capital_usd, usd_per_1m_tokens
from costing.models import HardwareEntry
from evaluations.models import PerformanceProfile
from evaluations.selectors import visible_runs

DEFAULT_AMORTIZATION_MONTHS = 36


@dataclass(frozen=True)
class MeasuredServing:
    """The figures of one stored performance profile that costing and the recommender use."""

    profile_id: int
    model_id: int
    model_name: str
    preset: str
    backend: str
    hardware_label: str
    tokens_per_s: float | None  # one request at a time (the profile's headline)
    tokens_per_s_full_load: float | None  # the best measured level of the concurrency curve
    p95_latency_ms: float | None  # end to end, one request at a time
    peak_memory_bytes: int | None
    joules_per_token: float | None
    energy_source: str
    curve: tuple[LoadPoint, ...]  # every measured concurrency level
    context_tokens: int | None = None  # the context the model was loaded with (n_ctx), when the options say

    @property
    def label(self) -> str:
        return f"{self.model_name} · {self.preset or 'custom'} · {self.backend} · {self.hardware_label}"

    @property
    def has_load_curve(self) -> bool:
        return len(self.curve) > 1


def hardware_catalogue() -> list[HardwareEntry]:
    """The newest version of every catalogue entry, GPUs first."""
    latest: dict[str, HardwareEntry] = {}
    for entry in HardwareEntry.objects.order_by("slug", "-version"):
        latest.setdefault(entry.slug, entry)
    return sorted(latest.values(), key=lambda entry: (entry.kind != HardwareEntry.Kind.GPU, entry.name))


def hardware_find(slug: str | None) -> HardwareEntry | None:
    return HardwareEntry.objects.filter(slug=slug).order_by("-version").first() if slug else None


def hardware_hourly_usd(entry: HardwareEntry, *, amortization_months: float = DEFAULT_AMORTIZATION_MONTHS) -> float | None:
    """What an hour of the entry costs: its cloud rent, else its purchase written off over the months."""
    if entry.cloud_usd_per_hour is not None:
        return entry.cloud_usd_per_hour
    if entry.purchase_usd is not None:
        return hourly_capital_usd(entry.purchase_usd, amortization_months)
    return None


def measured_servings(user, *, model_ids: Iterable[int] | None = None) -> list[MeasuredServing]:
    """The newest profile of each (model, preset, backend, hardware) the viewer may see, newest first.

    A profile measured with a private run's options is seen only by whoever may see that run.
    """
    profiles = PerformanceProfile.objects.filter(Q(run__isnull=True) | Q(run__in=visible_runs(user)))
    if model_ids is not None:
        profiles = profiles.filter(model_id__in=list(model_ids))
    # Only the concurrency curve of each record: the rest (sweeps, resources) can be large and is not needed here.
    rows = profiles.select_related("model").only(
        "pk", "model_id", "model__name", "preset", "backend", "backend_options", "hardware_label",
        "output_tokens_per_s", "peak_memory_bytes", "energy_per_1k_tokens_j", "energy_source", "created_at",
    ).annotate(curve_points=KeyTransform("concurrency", "results")).order_by("-created_at", "-pk")
    latest: dict[tuple, MeasuredServing] = {}
    for profile in rows:
        key = (profile.model_id, profile.preset, profile.backend, profile.hardware_label)
        if key not in latest:
            latest[key] = serving_of(profile)
    return list(latest.values())


def serving_find(profile_id: int | str | None, user) -> MeasuredServing | None:
    if not profile_id or not str(profile_id).isdigit():
        return None
    profile = (PerformanceProfile.objects.filter(Q(run__isnull=True) | Q(run__in=visible_runs(user)))
               .select_related("model").filter(pk=profile_id).first())
    return serving_of(profile) if profile else None


def serving_of(profile: PerformanceProfile) -> MeasuredServing:
    stored = profile.curve_points if hasattr(profile, "curve_points") else profile.results.get("concurrency")
    points = sorted(stored or [], key=lambda point: point.get("concurrency", 1))
    curve = tuple(
        LoadPoint(int(point.get("concurrency", 1)), float(point.get("requests_per_s") or 0.0),
                  float(point.get("output_tokens_per_s") or 0.0), (point.get("end_to_end_ms") or {}).get("p95"))
        for point in points
    )
    headline = points[0] if points else {}
    full_load = max((point.output_tokens_per_s for point in curve if point.output_tokens_per_s), default=None)
    return MeasuredServing(
        profile_id=profile.pk,
        model_id=profile.model_id,
        model_name=profile.model.name,
        preset=profile.preset,
        backend=profile.backend,
        hardware_label=profile.hardware_label,
        tokens_per_s=profile.output_tokens_per_s,
        tokens_per_s_full_load=full_load or profile.output_tokens_per_s,
        p95_latency_ms=(headline.get("end_to_end_ms") or {}).get("p95"),
        peak_memory_bytes=profile.peak_memory_bytes,
        joules_per_token=(profile.energy_per_1k_tokens_j / 1000 if profile.energy_per_1k_tokens_j is not None
                          else None),
        energy_source=profile.energy_source or "",
        curve=curve,
        context_tokens=(profile.backend_options or {}).get("n_ctx"),
    )


def matches_hardware(serving: MeasuredServing, entry: HardwareEntry | None) -> bool:
    """Whether a profile counts as measured on a catalogue entry (its label contains the entry's match text)."""
    return bool(entry and entry.profile_match and entry.profile_match.lower() in serving.hardware_label.lower())


def usd_per_1m_by_model(*, hardware: HardwareEntry, user, model_ids: Iterable[int] | None = None) -> dict[int, float]:
    """Each model's cheapest measured $/1M tokens on a catalogue entry (its best preset at full load), for a cost per
    accuracy point beside a score; models without a profile measured on the entry are left out."""
    hourly = hardware_hourly_usd(hardware)
    if hourly is None:
        return {}
    cheapest: dict[int, float] = {}
    for serving in measured_servings(user, model_ids=model_ids):
        if serving.tokens_per_s_full_load and matches_hardware(serving, hardware):
            usd = usd_per_1m_tokens(hourly, serving.tokens_per_s_full_load)
            cheapest[serving.model_id] = min(usd, cheapest.get(serving.model_id, usd))
    return cheapest
