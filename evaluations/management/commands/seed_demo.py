"""`manage.py seed_demo`: register the bundled models and evaluate them on the demo suite.

The demo suite is every default benchmark on a documented subset (first N rows) so it finishes in
minutes on two CPU cores. A model whose identical configuration already finished is skipped.
"""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from evaluations import performance

from evaluations.services import benchmarks, model_entries, plans, runs, shards
from evaluations.models import PerformanceProfile, Run, RunStatus
from runner.errors import BenchsiteError
from runner.presets import BALANCED, PRESETS, preset_options
from runner.suites import DEMO

# Items per benchmark (MMLU: per subject, 57 subjects). Documented in README.md.
DEMO_LIMITS = DEMO.limits
# The demo suite runs under the balanced preset; the other presets are compared on this smaller subset.
PRESET_COMPARISON_LIMITS = {"arc_easy": 50, "winogrande": 50}


class Command(BaseCommand):
    help = "Register the bundled models and evaluate them on the demo suite (llama.cpp backend)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--backend", default="llama_cpp", choices=["llama_cpp", "hf"])
        parser.add_argument("--scale", type=float, default=1.0, help="multiply every subset size")
        parser.add_argument("--no-profile", action="store_true", help="skip the performance profiles")

    def handle(self, *args, **options) -> None:
        limits = {slug: max(1, int(n * options["scale"])) for slug, n in DEMO_LIMITS.items()}
        try:
            models = model_entries.model_register_bundled()
            backend = options["backend"]
            comparison = {slug: max(1, int(n * options["scale"])) for slug, n in PRESET_COMPARISON_LIMITS.items()}
            for model in models:
                self._evaluate(model, backend, BALANCED, limits, suite_slug="demo" if limits == DEMO_LIMITS else "")
                for preset in PRESETS:
                    if preset != BALANCED:
                        self._evaluate(model, backend, preset, comparison)
            if not options["no_profile"]:
                self._profile(models, options["backend"])
        except BenchsiteError as exc:
            raise CommandError(str(exc), returncode=2) from None
        self.stdout.write("demo data ready")

    def _evaluate(self, model, backend: str, preset: str, limits: dict[str, int], suite_slug: str = "") -> None:
        plan = plans.run_plan(model=model, backend=backend, benchmarks=list(limits), limits=limits,
                              backend_options=preset_options(preset, backend), preset=preset)
        if Run.objects.filter(config_hash=plan.config_hash, status=RunStatus.FINISHED).exists():
            self.stdout.write(f"{model.name} ({preset}): already evaluated with this configuration")
            return
        suite = benchmarks.suite_pin(slug=suite_slug, plan=plan) if suite_slug else None
        run = runs.run_create(plan=plan, suite=suite)
        self.stdout.write(f"{model.name} ({preset}): run {run.pk}, {plan.total} items")
        with tqdm(total=plan.total, unit="item", desc=f"{model.name} {preset}", file=self.stderr._out) as bar:
            shards.run_execute(run=run, plan=plan, on_progress=lambda _r, _s, n: bar.update(n))

    def _profile(self, models, backend: str) -> None:
        """Latency and memory per model and preset, plus a small scaling sweep under `balanced`."""
        for model in models:
            for preset in PRESETS:
                config = performance.profile_config(requests=8, prompt_tokens=128, max_new_tokens=32,
                                                    sweep=preset == BALANCED)
                if PerformanceProfile.objects.filter(model=model, preset=preset, backend=backend).exists():
                    continue
                with tqdm(total=0, unit="step", desc=f"{model.name} {preset}", file=self.stderr._out) as bar:
                    performance.profile_model(model=model, backend=backend, preset=preset, config=config,
                                              on_start=lambda total: bar.reset(total=total),
                                              on_progress=lambda _label, count: bar.update(count))
