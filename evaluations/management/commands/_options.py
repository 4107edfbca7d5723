"""Run options shared by the commands that plan runs (evaluate, submit_run)."""
from __future__ import annotations

from django.core.management.base import CommandParser

from runner.backends import available_backends
from runner.presets import PRESETS, default_options, preset_options


def add_run_arguments(parser: CommandParser) -> None:
    parser.add_argument("--model", required=True, help="registered name, GGUF file, HF folder or hub id")
    parser.add_argument("--backend", choices=available_backends(), default="hf")
    parser.add_argument("--benchmark", "--benchmarks", dest="benchmark", required=True,
                        help="comma-separated slugs, e.g. arc_easy,mmlu")
    parser.add_argument("--limit", type=int, default=None, help="first N rows of each (sub)task")
    parser.add_argument("--num-fewshot", type=int, default=None, help="default: the benchmark's standard")
    parser.add_argument("--preset", choices=list(PRESETS), default=None,
                        help="named backend configuration (see /performance/); the options below override it")
    parser.add_argument("--batch-size", type=int, default=None, help="hf backend (default 16)")
    parser.add_argument("--dtype", default=None, help="hf backend: auto, float32, float16, bfloat16 (default auto)")
    parser.add_argument("--device", default=None, help="hf backend: auto, cpu, cuda (default auto)")
    parser.add_argument("--n-ctx", type=int, default=None, help="llama_cpp backend context length (default 2048)")
    parser.add_argument("--n-threads", type=int, default=None,
                        help="llama_cpp backend threads (default: every CPU; 1 on a host busy with other work, "
                             "where llama.cpp's threads wait on each other)")
    parser.add_argument("--chat-template", action="store_true", help="wrap prompts in the chat template")
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help="cap every generation benchmark's output length (recorded with the run)")
    parser.add_argument("--user", default=None, help="username that owns the run (default: no owner)")
    parser.add_argument("--private", action="store_true",
                        help="only the owner (--user) and staff can see the run and its scores")
    parser.add_argument("--no-response-cache", dest="response_cache", action="store_false",
                        help="compute every request again instead of reusing identical earlier answers of the "
                             "same model file, backend and options (e.g. to measure timing afresh)")
    parser.add_argument("--adaptive", action="store_true",
                        help="items in a seeded random order; stop each benchmark once its 95%% CI half-width is "
                             "at most --adaptive-epsilon points (scores labelled adaptive, never mixed with full runs)")
    parser.add_argument("--adaptive-epsilon", type=float, default=None, metavar="POINTS",
                        help="adaptive: CI half-width to stop at, in points of 100 (default 1.5)")
    parser.add_argument("--adaptive-floor", type=int, default=None, metavar="N",
                        help="adaptive: never stop a benchmark before N items (default 100)")
    parser.add_argument("--adaptive-reference", default="", metavar="MODEL",
                        help="adaptive: also stop once the paired difference from MODEL's full run is resolved")
    parser.add_argument("--price-in", default=None, metavar="USD",
                        help="openai backend: USD per 1M input (prompt) tokens; with --price-out the run records "
                             "its spend (docs/costing.md)")
    parser.add_argument("--price-out", default=None, metavar="USD",
                        help="openai backend: USD per 1M output (completion) tokens")
    parser.add_argument("--budget-usd", default=None, metavar="USD",
                        help="stop the run cleanly before a request batch that could take its spend past this")
    parser.add_argument("--judge", default="", help="LLM judge for graded tasks (mt_bench, the creativity rubric): "
                        "a registered model name, GGUF file or HF folder, or openai:<base_url>#<model>")


def plan_from_options(options: dict):
    from evaluations.services import model_entries, plans

    pricing = _pricing(options)  # bad prices fail before the model is looked up
    model = model_entries.model_resolve(reference=options["model"])
    return plans.run_plan(
        model=model,
        backend=options["backend"],
        benchmarks=[s.strip() for s in options["benchmark"].split(",") if s.strip()],
        limit=options["limit"],
        num_fewshot=options["num_fewshot"],
        chat_template=options["chat_template"],
        backend_options=backend_options(options),
        judge=options["judge"],
        max_new_tokens=options["max_new_tokens"],
        preset=options.get("preset") or "",
        response_cache=options.get("response_cache", True),
        adaptive=_adaptive_rule(options),
        pricing=pricing,
    )


def _pricing(options: dict):
    from runner.pricing import Pricing

    return Pricing.parse(price_in=options.get("price_in"), price_out=options.get("price_out"),
                         budget=options.get("budget_usd"))


def _adaptive_rule(options: dict):
    from evaluations.services.adaptive import AdaptiveRule
    from runner.errors import BenchsiteError

    tuning = [options.get(name) for name in ("adaptive_epsilon", "adaptive_floor", "adaptive_reference")]
    if not options.get("adaptive"):
        if any(value not in (None, "") for value in tuning):
            raise BenchsiteError("--adaptive-epsilon, --adaptive-floor and --adaptive-reference need --adaptive")
        return None
    return AdaptiveRule.with_defaults(epsilon_points=options.get("adaptive_epsilon"),
                                      floor=options.get("adaptive_floor"),
                                      reference=options.get("adaptive_reference") or "")


def run_owner(options: dict):
    """The --user as a User (None without one); --private needs an owner to be visible to anyone."""
    from django.contrib.auth import get_user_model

    from runner.errors import BenchsiteError

    username = options.get("user")
    if options.get("private") and not username:
        raise BenchsiteError("--private needs --user: a private run is seen only by its owner and staff")
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise BenchsiteError(f"unknown user {username!r}; create it with `manage.py createsuperuser` or sign up")
    return user


def ensure_migrated(stdout) -> None:
    """The embedded SQLite database migrates itself on first use; any other database says what to run."""
    from django.core.management import call_command
    from django.core.management.base import CommandError
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    if not executor.migration_plan(executor.loader.graph.leaf_nodes()):
        _fail_orphaned_local_runs(stdout)
        return
    if connection.vendor != "sqlite":
        raise CommandError("the database is not migrated: run `python manage.py migrate` first", returncode=2)
    stdout.write("first use: creating the embedded SQLite database (manage.py migrate)")
    call_command("migrate", verbosity=0, interactive=False)


def backend_options(options: dict) -> dict:
    """The preset's options (or the defaults), then whatever was given explicitly on the command line."""
    backend = options["backend"]
    preset = options.get("preset")
    chosen = preset_options(preset, backend) if preset else default_options(backend)
    for name in default_options(backend):
        if options.get(name) is not None:
            chosen[name] = options[name]
    if backend == "llama_cpp" and options.get("n_threads"):
        chosen["n_threads"] = options["n_threads"]
    return chosen


def _fail_orphaned_local_runs(stdout) -> None:
    from evaluations.services.shards import local_runs_fail_orphaned

    orphaned = local_runs_fail_orphaned()
    if orphaned:
        stdout.write(f"{orphaned} in-process run shard(s) whose process had died were marked failed")
