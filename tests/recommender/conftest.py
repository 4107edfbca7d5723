"""A small market of models on one suite version, built with the ORM: per-item samples of known structure, measured
profiles for some, a private run that must never show, and a catalogue entry to price them on."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pytest

from costing.models import HardwareEntry
from evaluations.models import ModelEntry, PerformanceProfile, Run, Sample, Suite
from tests.leaderboard.factories import (
    BenchmarkFactory,
    ModelEntryFactory,
    RunFactory,
    ScoreFactory,
    SuiteFactory,
)

ARC_ITEMS = 120
GSM_ITEMS = 60
CPU_LABEL = "Test EPYC · 16 CPUs"


@dataclass
class Market:
    suite: Suite
    strong: ModelEntry  # best on both benchmarks, measured, 1.5B Q4
    cheap: ModelEntry  # weaker, measured and ~3× faster, 135M Q8
    huge: ModelEntry  # best of all but 70B in 16 bits: never fits a small memory limit; nothing measured
    copyleft: ModelEntry  # gpl licence, like cheap otherwise
    secret: ModelEntry  # only a private run (alice's)
    hardware: HardwareEntry
    private_run: Run


def item_scores(accuracy: float, n: int, seed: int) -> list[float]:
    """Exactly round(accuracy × n) correct items, in a seeded order."""
    values = np.zeros(n)
    values[: round(accuracy * n)] = 1.0
    np.random.default_rng(seed).shuffle(values)
    return values.tolist()


def scored_run(model: ModelEntry, arc: list[float], gsm: list[float], benchmarks, **fields) -> Run:
    """A finished run with per-item samples and the primary scores they aggregate to."""
    arc_bench, gsm_bench = benchmarks
    run = RunFactory(model=model, requested_benchmarks=["arc_easy", "gsm8k"], **fields)
    run.benchmarks.set([arc_bench, gsm_bench])
    samples = [Sample(run=run, benchmark=arc_bench, doc_id=i, prompt="q", metrics={"acc_norm": v}, correct=bool(v))
               for i, v in enumerate(arc)]
    samples += [Sample(run=run, benchmark=gsm_bench, doc_id=i, prompt="q", metrics={"exact_match,strict-match": v},
                       correct=bool(v)) for i, v in enumerate(gsm)]
    Sample.objects.bulk_create(samples)
    ScoreFactory(run=run, benchmark=arc_bench, metric="acc_norm", value=float(np.mean(arc)), n=len(arc))
    ScoreFactory(run=run, benchmark=gsm_bench, metric="exact_match,strict-match", value=float(np.mean(gsm)), n=len(gsm))
    return run


def profile(model: ModelEntry, *, tokens_per_s: float, p95_ms: float, memory_gb: float, joules_per_token: float,
            label: str = CPU_LABEL, curve: list[tuple[int, float, float, float]] | None = None) -> PerformanceProfile:
    """A stored profile: one request at a time, plus (concurrency, requests/s, tokens/s, p95 ms) levels if given."""
    levels = [(1, tokens_per_s / 100, tokens_per_s, p95_ms)] + list(curve or [])
    points = [{"concurrency": c, "requests_per_s": rps, "output_tokens_per_s": tps,
               "end_to_end_ms": {"p50": p95 * 0.8, "p95": p95, "p99": p95 * 1.1, "mean": p95 * 0.8}}
              for c, rps, tps, p95 in levels]
    return PerformanceProfile.objects.create(
        model=model, preset="balanced", backend="llama_cpp", hardware={"label": label}, hardware_label=label,
        config_hash="c" * 64, results={"concurrency": points, "energy": {}}, output_tokens_per_s=tokens_per_s,
        latency_p50_ms=p95_ms * 0.8, peak_memory_bytes=int(memory_gb * 1e9),
        energy_per_1k_tokens_j=joules_per_token * 1000, energy_source="measured-rapl",
    )


@pytest.fixture
def market(db, django_user_model) -> Market:
    arc = BenchmarkFactory(slug="arc_easy", title="ARC-Easy", category="reasoning", primary_metric="acc_norm")
    gsm = BenchmarkFactory(slug="gsm8k", title="GSM8K", category="math", primary_metric="exact_match,strict-match")
    suite = SuiteFactory(slug="standard", order=["arc_easy", "gsm8k"])
    strong = ModelEntryFactory(name="strong", parameter_count=1_500_000_000, quantization="Q4_K_M")
    cheap = ModelEntryFactory(name="cheap", parameter_count=135_000_000, quantization="Q8_0")
    huge = ModelEntryFactory(name="huge", parameter_count=70_000_000_000, quantization="", dtype="bf16", license="mit")
    copyleft = ModelEntryFactory(name="copyleft", parameter_count=135_000_000, license="gpl-3.0")
    secret = ModelEntryFactory(name="secret", parameter_count=135_000_000)
    alice = django_user_model.objects.create_user("alice")  # no password: hashing one is slow

    scored_run(strong, item_scores(0.85, ARC_ITEMS, 1), item_scores(0.60, GSM_ITEMS, 2), (arc, gsm))
    scored_run(cheap, item_scores(0.55, ARC_ITEMS, 3), item_scores(0.20, GSM_ITEMS, 4), (arc, gsm))
    scored_run(huge, item_scores(0.95, ARC_ITEMS, 5), item_scores(0.85, GSM_ITEMS, 6), (arc, gsm))
    scored_run(copyleft, item_scores(0.55, ARC_ITEMS, 7), item_scores(0.25, GSM_ITEMS, 8), (arc, gsm))
    private_run = scored_run(secret, item_scores(0.99, ARC_ITEMS, 9), item_scores(0.99, GSM_ITEMS, 10), (arc, gsm),
                             is_private=True, created_by=alice)

    profile(strong, tokens_per_s=40, p95_ms=3000, memory_gb=1.6, joules_per_token=2.0,
            curve=[(4, 1.0, 120, 4000), (8, 1.2, 150, 9000)])
    profile(cheap, tokens_per_s=120, p95_ms=900, memory_gb=0.4, joules_per_token=0.5)
    profile(copyleft, tokens_per_s=120, p95_ms=900, memory_gb=0.4, joules_per_token=0.5)
    profile(secret, tokens_per_s=500, p95_ms=100, memory_gb=0.3, joules_per_token=0.1)
    hardware = HardwareEntry.objects.create(
        slug="test-cpu", name="Test CPU server", kind="cpu", memory_gb=64, memory_bandwidth_gb_s=100, tdp_w=200,
        purchase_usd=5000, cloud_usd_per_hour=0.72, profile_match="16 CPUs", source="test figures",
        source_date=date(2025, 1, 1))
    return Market(suite, strong, cheap, huge, copyleft, secret, hardware, private_run)
