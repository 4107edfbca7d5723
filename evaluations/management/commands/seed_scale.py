"""`manage.py seed_scale`: fill a database with synthetic models, runs and scores to measure the site at size.

Every model it makes is `is_synthetic`: hidden from every page, list and API unless the
BENCHSITE_SHOW_SYNTHETIC setting is on (bench/web_scale.py turns it on for its own database). It refuses to
run without --i-know-this-is-synthetic, and `--remove` deletes what it made.
"""
from __future__ import annotations

import hashlib
import time
from datetime import timedelta

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from evaluations.models import Benchmark, ModelEntry, Run, RunStatus, Sample, Score, Suite

SUITE_SLUG = "synthetic-scale"
CATEGORIES = ["reasoning", "knowledge", "math", "coding", "safety", "instruction_following"]
FAMILIES = ["llama", "qwen", "gemma", "mistral", "phi", "smollm"]
BATCH = 5000


class Command(BaseCommand):
    help = "Fill the database with synthetic models × benchmarks × runs (marked synthetic) for scale benchmarks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--models", type=int, default=10_000)
        parser.add_argument("--benchmarks", type=int, default=30)
        parser.add_argument("--runs-per-model", type=int, default=3,
                            help="finished runs per model, a day apart: its history")
        parser.add_argument("--samples", type=int, default=0, metavar="N",
                            help="per-item samples for each benchmark of the first 20 models' latest runs (compare)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--i-know-this-is-synthetic", action="store_true", dest="confirmed",
                            help="required: these rows are made up")
        parser.add_argument("--remove", action="store_true", help="delete every synthetic model and its runs")

    def handle(self, *args, **options) -> None:
        if not options["confirmed"]:
            raise CommandError("seed_scale writes made-up models and scores; pass --i-know-this-is-synthetic "
                               "(they stay hidden unless BENCHSITE_SHOW_SYNTHETIC is on)")
        if options["remove"]:
            removed = remove_synthetic()
            self.stdout.write(f"removed {removed} synthetic models with their runs")
            return
        if min(options["models"], options["benchmarks"], options["runs_per_model"]) < 1:
            raise CommandError("--models, --benchmarks and --runs-per-model must be at least 1")
        started = time.perf_counter()
        counts = seed_synthetic(models=options["models"], benchmarks=options["benchmarks"],
                                runs_per_model=options["runs_per_model"], samples=options["samples"],
                                seed=options["seed"], log=self.stdout.write)
        self.stdout.write(f"seeded {counts} in {time.perf_counter() - started:.1f} s")


def remove_synthetic() -> int:
    synthetic = ModelEntry.every.filter(is_synthetic=True)
    count = synthetic.count()
    with transaction.atomic():
        Score.objects.filter(run__model__in=synthetic).delete()
        Sample.objects.filter(run__model__in=synthetic).delete()
        Run.objects.filter(model__in=synthetic).delete()
        synthetic.delete()
        Suite.objects.filter(slug=SUITE_SLUG).delete()
    return count


def seed_synthetic(*, models: int, benchmarks: int, runs_per_model: int, samples: int = 0, seed: int = 0,
                   log=print) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    stamp = f"{models}x{benchmarks}x{runs_per_model}-{time.time_ns() % 10**9}"
    with transaction.atomic():
        bench_rows = [_benchmark(index) for index in range(benchmarks)]
        keys = {b.slug: hashlib.sha256(f"synthetic:{b.slug}".encode()).hexdigest() for b in bench_rows}
        suite = Suite.objects.create(slug=SUITE_SLUG, title="Synthetic scale suite", version=stamp, entries=keys,
                                     order=[b.slug for b in bench_rows],
                                     description="Made up by seed_scale; shown only with BENCHSITE_SHOW_SYNTHETIC")
        suite.benchmarks.set(bench_rows)
        entries = ModelEntry.every.bulk_create(
            (ModelEntry(name=f"synthetic-{stamp}-{i:05d}", slug=f"synthetic-{stamp}-{i:05d}",
                        family=FAMILIES[i % len(FAMILIES)], parameter_count=int(rng.integers(10**8, 7 * 10**10)),
                        license="apache-2.0", source_kind=ModelEntry.SourceKind.LOCAL, location="synthetic",
                        format="gguf", is_synthetic=True) for i in range(models)),
            batch_size=BATCH)
        log(f"{models} synthetic models")
        now = timezone.now()
        skills = rng.uniform(0.3, 0.9, size=models)
        difficulty = rng.uniform(-0.15, 0.15, size=benchmarks)
        score_count = 0
        for start in range(0, models, max(1, BATCH // runs_per_model)):
            chunk = entries[start:start + max(1, BATCH // runs_per_model)]
            runs = Run.objects.bulk_create(
                Run(model=model, backend="llama_cpp", config={"synthetic": True}, config_hash=f"{model.pk:064x}",
                    status=RunStatus.FINISHED, done=100 * benchmarks, total=100 * benchmarks,
                    requested_benchmarks=[b.slug for b in bench_rows], suite=suite,
                    created_at=now - timedelta(days=age), finished_at=now - timedelta(days=age))
                for model in chunk for age in range(runs_per_model))
            scores = []
            for offset, run in enumerate(runs):
                skill = skills[start + offset // runs_per_model]
                scores.extend(_scores(run, bench_rows, keys, rng, skill, difficulty))
            Score.objects.bulk_create(scores, batch_size=BATCH)
            score_count += len(scores)
            log(f"  runs and scores for models {start + 1}-{start + len(chunk)}")
        sample_count = _samples(entries[:20], bench_rows, rng, samples) if samples else 0
    return {"models": models, "benchmarks": benchmarks, "runs": models * runs_per_model, "scores": score_count,
            "samples": sample_count}


def _benchmark(index: int) -> Benchmark:
    slug = f"synthetic-bench-{index + 1:02d}"
    benchmark, _ = Benchmark.objects.get_or_create(
        slug=slug, version="synthetic", spec_hash=hashlib.sha256(slug.encode()).hexdigest(),
        defaults={"title": f"Synthetic {index + 1:02d}", "category": CATEGORIES[index % len(CATEGORIES)],
                  "primary_metric": "acc"})
    return benchmark


def _scores(run: Run, benchmarks: list[Benchmark], keys: dict[str, str], rng, skill: float,
            difficulty) -> list[Score]:
    values = np.clip(skill + difficulty + rng.normal(0, 0.05, size=len(benchmarks)), 0.0, 1.0)
    return [Score(run=run, benchmark=benchmark, metric="acc", value=float(value),
                  stderr=float(np.sqrt(value * (1 - value) / 100)), n=100, is_primary=True,
                  config_key=keys[benchmark.slug], baseline=0.25,
                  normalized=max(0.0, (float(value) - 0.25) / 0.75),
                  normalized_stderr=float(np.sqrt(value * (1 - value) / 100) / 0.75))
            for benchmark, value in zip(benchmarks, values)]


def _samples(models: list[ModelEntry], benchmarks: list[Benchmark], rng, items: int) -> int:
    latest: dict[int, Run] = {}
    for run in Run.objects.filter(model__in=models).order_by("model_id", "-finished_at"):
        latest.setdefault(run.model_id, run)  # the first of each model is its newest
    rows = []
    for run in latest.values():
        for benchmark in benchmarks:
            correct = rng.random(items) < rng.uniform(0.3, 0.9)
            rows.extend(Sample(run=run, benchmark=benchmark, doc_id=doc, prompt="synthetic",
                               metrics={"acc": float(ok)}, correct=bool(ok)) for doc, ok in enumerate(correct))
    Sample.objects.bulk_create(rows, batch_size=BATCH)
    return len(rows)
