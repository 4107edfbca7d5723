"""`manage.py bench_recommend`: time the recommendation (the service, then the whole page through the test client)
for N synthetic models on one suite version.

The rows are written inside a transaction that is rolled back, so the database is left as it was.
"""
from __future__ import annotations

import os
import time
from datetime import date

import numpy as np
from django.contrib.auth.models import AnonymousUser
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from costing.models import HardwareEntry
from evaluations.models import Benchmark, ModelEntry, PerformanceProfile, Run, RunStatus, Sample, Score, Suite
from recommender.presets import use_case_weights
from recommender.selectors import Constraints, RecommendQuery, recommend

# The demo suite's shape: benchmark, category, metric, items (README: "What make demo evaluates").
SHAPE = (("arc_easy", "reasoning", "acc_norm", 100), ("arc_challenge", "reasoning", "acc_norm", 100),
         ("hellaswag", "reasoning", "acc_norm", 50), ("mmlu_bench", "knowledge", "acc", 114),
         ("winogrande", "reasoning", "acc", 100), ("gsm8k", "math", "exact_match,strict-match", 10))


class _Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Time the recommender for N synthetic models (rows rolled back afterwards)."

    def add_arguments(self, parser):
        parser.add_argument("--models", type=int, default=200)
        parser.add_argument("--repeat", type=int, default=3)

    def handle(self, *args, **options):
        try:
            with transaction.atomic():
                suite, hardware = self._build(options["models"])
                query = RecommendQuery(suite, use_case_weights("chat"), Constraints(max_memory_gb=100), hardware)
                page = f"{reverse('recommender:recommend')}?suite={suite.pk}&hardware={hardware.slug}&use_case=chat"
                client = Client(SERVER_NAME="localhost")
                for attempt in range(options["repeat"]):
                    started = time.perf_counter()
                    answer = recommend(query=query, user=AnonymousUser())
                    service = time.perf_counter() - started
                    started = time.perf_counter()
                    response = client.get(page)
                    whole = time.perf_counter() - started
                    self.stdout.write(f"run {attempt + 1}: {len(answer.candidates)} candidates, "
                                      f"{len(answer.excluded)} excluded; recommend() {service * 1000:.0f} ms, "
                                      f"GET /recommend/ {whole * 1000:.0f} ms (HTTP {response.status_code})")
                self.stdout.write("load average (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
                raise _Rollback
        except _Rollback:
            pass

    def _build(self, count: int) -> tuple[Suite, HardwareEntry]:
        rng = np.random.default_rng(0)
        benchmarks = [Benchmark.objects.create(slug=f"bench-{slug}", category=category, version="bench",
                                               spec_hash=f"bench-{slug}", primary_metric=metric)
                      for slug, category, metric, _ in SHAPE]
        suite = Suite.objects.create(slug="bench", title="Bench suite", version=f"b{time.time_ns() % 10**12}",
                                     entries={b.slug: f"bench:{b.slug}" for b in benchmarks},
                                     order=[b.slug for b in benchmarks])
        hardware = HardwareEntry.objects.create(slug=f"bench-{time.time_ns()}", name="Bench CPU", kind="cpu",
                                                memory_gb=64, memory_bandwidth_gb_s=100, tdp_w=200,
                                                cloud_usd_per_hour=0.7, profile_match="bench", source="bench",
                                                source_date=date.today())
        models = ModelEntry.objects.bulk_create(
            ModelEntry(name=f"bench-model-{i}", slug=f"bench-model-{i}", source_kind="local", location="/dev/null",
                       license="apache-2.0", parameter_count=int(rng.integers(1e8, 1e11)), quantization="Q4_K_M")
            for i in range(count))
        runs = Run.objects.bulk_create(
            Run(model=model, backend="llama_cpp", config={}, config_hash=f"{model.pk:064x}",
                status=RunStatus.FINISHED, finished_at=timezone.now()) for model in models)
        samples, scores = [], []
        for run in runs:
            skill = rng.uniform(0.3, 0.9)
            for benchmark, (_, _, metric, items) in zip(benchmarks, SHAPE):
                values = (rng.random(items) < skill).astype(float)
                samples += [Sample(run=run, benchmark=benchmark, doc_id=i, prompt="", metrics={metric: v})
                            for i, v in enumerate(values)]
                baseline = 0.0 if metric.startswith("exact") else 0.25
                scores.append(Score(run=run, benchmark=benchmark, metric=metric, value=values.mean(), n=items,
                                    is_primary=True, config_key=f"bench:{benchmark.slug}", baseline=baseline,
                                    normalized=max(0.0, (values.mean() - baseline) / (1 - baseline))))
        Sample.objects.bulk_create(samples, batch_size=5000)
        Score.objects.bulk_create(scores)
        PerformanceProfile.objects.bulk_create(
            PerformanceProfile(model=model, backend="llama_cpp", hardware_label="bench box", config_hash="b" * 64,
                               results={"concurrency": [{"concurrency": 1, "output_tokens_per_s": 50.0,
                                                         "end_to_end_ms": {"p95": 900.0}}]},
                               output_tokens_per_s=50.0, peak_memory_bytes=2 * 10**9)
            for model in models[: count // 2])
        self.stdout.write(f"built {count} models, {len(samples)} samples on {len(SHAPE)} benchmarks")
        return suite, hardware
