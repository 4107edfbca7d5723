"""Check adaptive runs' honesty on stored full runs: replay the stopping rule on many random orders.

    .venv/bin/python bench/adaptive_check.py                       # the defaults (ε 1.5 points, floor 100)
    .venv/bin/python bench/adaptive_check.py --epsilon 10 --floor 20 --resamples 2000

For every finished, non-adaptive run in the database (DATABASE_URL, else the embedded SQLite database that
`make demo` fills) and every benchmark of it, the per-item values of the primary metric are replayed in
--resamples seeded random orders; the interval rule is checked every 16 items from the floor on, as a run
checks it. Printed per benchmark: the full run's items and score, the share of replays that stopped early,
mean items used (and so saved), coverage of the 95% interval of the full-run score among early stops, and
mean |error| in points. A benchmark with fewer items than the floor never stops early and says so.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epsilon", type=float, default=None, help="CI half-width to stop at, in points (default: "
                        "the BENCHSITE_ADAPTIVE_EPSILON_POINTS setting, 1.5)")
    parser.add_argument("--floor", type=int, default=None, help="never stop before N items (default: the setting, 100)")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")
    import django

    django.setup()
    from evaluations.models import Run, RunStatus, Sample
    from evaluations.services.adaptive import AdaptiveRule, adaptive_simulate
    from runner.catalog import TASKS
    from runner.metrics import metric_scale

    rule = AdaptiveRule.with_defaults(epsilon_points=args.epsilon, floor=args.floor)
    runs = Run.objects.filter(status=RunStatus.FINISHED).exclude(config__has_key="adaptive").select_related("model")
    print(f"interval rule: stop once the 95% CI half-width ≤ {rule.epsilon_points} points, "
          f"never before {rule.floor} items; {args.resamples} replays per benchmark (seed {args.seed})")
    print(f"{'run':>5} {'model':<24} {'benchmark':<22} {'items':>6} {'score':>7} {'stopped':>8} "
          f"{'mean n':>7} {'saved':>6} {'coverage':>9} {'|err| pts':>9}")
    totals = {"items": 0, "used": 0.0, "covered": 0.0, "early": 0.0}
    for run in runs.order_by("pk"):
        by_benchmark: dict[str, list[float]] = {}
        for slug, metrics in Sample.objects.filter(run=run).values_list("benchmark__slug", "metrics"):
            spec = TASKS.get(slug)
            value = metrics.get(spec.primary_metric) if spec else None
            if isinstance(value, (int, float)):
                by_benchmark.setdefault(slug, []).append(float(value))
        for slug, values in sorted(by_benchmark.items()):
            scale = metric_scale(TASKS[slug].primary_metric)
            result = adaptive_simulate(values, rule, resamples=args.resamples, seed=args.seed,
                                       value_range=scale.maximum - scale.minimum)
            saved = 1 - result.mean_items / result.items
            coverage = "-" if result.coverage is None else f"{100 * result.coverage:.1f}%"
            error = "-" if result.mean_abs_error_points is None else f"{result.mean_abs_error_points:.2f}"
            note = "  (fewer items than the floor)" if result.items <= rule.floor else ""
            print(f"{run.pk:>5} {run.model.name[:24]:<24} {slug[:22]:<22} {result.items:>6} "
                  f"{100 * result.full_score:>6.1f}% {100 * result.stopped_early:>7.1f}% {result.mean_items:>7.1f} "
                  f"{100 * saved:>5.1f}% {coverage:>9} {error:>9}{note}")
            totals["items"] += result.items
            totals["used"] += result.mean_items
            if result.coverage is not None:
                early = result.stopped_early * result.resamples
                totals["covered"] += result.coverage * early
                totals["early"] += early
    if not totals["items"]:
        print("no finished full runs in this database: run `make demo` (or evaluate a model) first")
        return 1
    overall = "-" if not totals["early"] else f"{100 * totals['covered'] / totals['early']:.1f}%"
    print(f"all: {totals['items']} items, {100 * (1 - totals['used'] / totals['items']):.1f}% saved on average, "
          f"coverage among early stops {overall}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
