"""Time EleutherAI lm-evaluation-harness and benchsite as whole commands on the same model and items, and compare.

Each side runs as a subprocess exactly as a user runs it, and is timed from start to exit (interpreter
start-up, imports, model load, data, scoring, writing results):

    lm_eval --model hf --model_args pretrained=DIR,gguf_file=FILE --tasks arc_easy --limit 200 \\
        --batch_size B --device cpu --include_path TASKS --log_samples --output_path OUT
    .venv/bin/python manage.py evaluate --model SmolLM2-135M-Instruct --backend hf --benchmark arc_easy \\
        --limit 200 --num-fewshot 0 --device cpu --output OUT.json

The harness runs at every batch size of --harness-batch-sizes and is compared at its fastest; it keeps
its own task configs (prompt templates, metrics, few-shot sampler), and only where its rows come from
changes: `--include_path` overrides each task with one reading the same local rows benchsite reads
(`runner.datasets`), so nothing is downloaded. Training splits are not available offline, so the
harness's `training_split` is unset: a task drawing few-shot examples from it (ARC) falls back to its
validation split (ARC-*-Dev), which is also what benchsite uses; MMLU keeps its `dev` split.

benchsite runs twice on a fresh dequantized-checkpoint cache (BENCHSITE_CACHE_DIR in a scratch folder):
cold, the first run of a GGUF file, which dequantizes it and writes the cache, and warm, every later run,
which reads the cache. Both are printed; the headline ratio is the warm one, what a user sees from the
second run on. The harness has no such cache and dequantizes on every run.

benchsite's hf backend sets OMP_WAIT_POLICY=PASSIVE for itself (unless already set), because torch's
spinning OpenMP threads slow scoring several-fold when other processes share the cores; the harness runs
with the environment as given, or with `--harness-env OMP_WAIT_POLICY=PASSIVE` to give it the same policy.

Untimed before the timed commands: one process imports torch, transformers and lm_eval and reads the
model file, so no timed command pays for a cold disk; and, unless DATABASE_URL is set, a temporary
SQLite database is created and migrated for `manage.py evaluate`.

Printed: each command's wall-clock with its split into start-up + model load (until scoring starts:
the harness's "Running loglikelihood requests" log line, benchsite's "loaded ..." line) and the rest;
the ratios; and per task the per-item agreement of the acc prediction (argmax of the raw
log-likelihoods) between the harness at its best batch size and benchsite, both sides' acc and
acc_norm, how many items got identical (context, continuation) requests and the largest per-choice
log-likelihood difference.

Examples (from the repository root):
    .venv/bin/python bench/compare_lm_eval.py
    .venv/bin/python bench/compare_lm_eval.py --tasks mmlu_anatomy --limit 50 --num-fewshot 5 --harness-batch-sizes 8
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from runner.catalog import MULTIPLE_CHOICE, TASKS, TaskSpec  # noqa: E402
from runner.datasets import DataSource, load_split  # noqa: E402
from runner.modelfiles import BUNDLED_MODELS, bundled_model_path  # noqa: E402

DEFAULT_MODEL = "SmolLM2-135M-Instruct"
METRICS = ("acc", "acc_norm")
SHOWN_DISAGREEMENTS = 10
MIN_AGREEMENT = 0.99
TARGET_RATIO = 2.0
HARNESS_SCORING_STARTS = re.compile(r"Running loglikelihood requests")
BENCHSITE_MODEL_LOADED = re.compile(r"loaded \S+ in ([\d.]+) s(?: \(dequantized cache (hit|written))?")


@dataclass
class ItemScore:
    """One side's result for one item."""

    prediction: int
    loglikelihoods: list[float]
    metrics: dict[str, float]
    requests: list[tuple[str, str]]  # (context, continuation) per choice, as sent to the model


ItemKey = tuple[str, int]  # (task name, doc_id)


@dataclass
class CommandRun:
    """One timed command: how long it took, where scoring started, and what it scored."""

    label: str
    batch_size: int | None
    command: list[str]
    total_s: float
    until_scoring_s: float | None  # start-up + model load (+ data), up to the side's marker line
    items: dict[ItemKey, ItemScore] = field(repr=False, default_factory=dict)
    model_load_s: float | None = None  # benchsite reports its own in-process load time
    cache: str | None = None  # benchsite: "hit" or "written"
    load_average: float | None = None  # 1-minute load average when the command started

    @property
    def rest_s(self) -> float | None:
        return None if self.until_scoring_s is None else self.total_s - self.until_scoring_s


@dataclass
class Disagreement:
    task: str
    doc_id: int
    harness_prediction: int
    benchsite_prediction: int
    harness_loglikelihoods: list[float]
    benchsite_loglikelihoods: list[float]


@dataclass
class Comparison:
    """Agreement and accuracies over a set of items (one task, or all of them)."""

    name: str
    items: int
    agree: int
    same_requests: int
    max_abs_loglikelihood_diff: float
    harness: dict[str, float]
    benchsite: dict[str, float]
    disagreements: list[Disagreement] = field(default_factory=list)

    @property
    def agreement(self) -> float:
        return self.agree / self.items if self.items else float("nan")


# -- running a command ---------------------------------------------------------------------------
def timed(label: str, command: list[str], *, env: dict[str, str], log: Path, marker: re.Pattern,
          batch_size: int | None = None) -> tuple[CommandRun, re.Match | None]:
    """Run a command to completion; its wall-clock, and when (and how) `marker` first showed on stderr."""
    print(f"  running {label}" + (f" at batch {batch_size}" if batch_size else "") + " ...", end="", flush=True)
    found: list[tuple[float, re.Match]] = []
    load_average = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    started = time.perf_counter()
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.PIPE)

        def watch() -> None:
            assert process.stderr is not None
            for line in process.stderr:
                output.write(line)
                output.flush()
                if not found and (match := marker.search(line.decode("utf-8", "replace"))):
                    found.append((time.perf_counter(), match))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        returncode = process.wait()
        finished = time.perf_counter()
        watcher.join()
    if returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        raise SystemExit(f"\n{label} failed (exit {returncode}): {' '.join(command)}\n" + "\n".join(tail))
    print(f" {finished - started:.1f} s", flush=True)
    run = CommandRun(label, batch_size, command, finished - started, found[0][0] - started if found else None,
                     load_average=load_average)
    return run, found[0][1] if found else None


def untimed_warm_up(model: Path, env: dict[str, str]) -> None:
    """Read the model file and import the heavy libraries once, so no timed command meets a cold disk."""
    code = (
        "import sys, torch, transformers, lm_eval, lm_eval.models.huggingface, lm_eval.tasks;"
        "open(sys.argv[1], 'rb').read()"
    )
    subprocess.run([sys.executable, "-c", code, str(model)], env=env, check=True, capture_output=True)


def prepare_database(env: dict[str, str], folder: Path) -> str:
    """DATABASE_URL as given, or a temporary SQLite database migrated here (not timed)."""
    if env.get("DATABASE_URL"):
        return "DATABASE_URL from the environment"
    env["DATABASE_URL"] = f"sqlite:///{folder / 'db.sqlite3'}"
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=REPO_ROOT, env=env, check=True,
                   capture_output=True)
    return f"temporary SQLite {folder / 'db.sqlite3'}, migrated before timing"


# -- the harness ---------------------------------------------------------------------------------
def harness_task_dir(specs: list[TaskSpec], folder: Path) -> Path:
    """An --include_path folder: per task, the harness's own YAML with its rows read from local JSONL files."""
    folder.mkdir(parents=True, exist_ok=True)
    for spec in specs:
        yaml_path = _harness_yaml(spec.slug)
        config = _harness_config(yaml_path)
        test_split = config.get("test_split") or config["validation_split"]
        files = {test_split: _write_rows(spec.test, folder / f"{spec.slug}.{test_split}.jsonl")}
        if spec.fewshot is not None:
            # The harness's order: fewshot_split, else training (unset here), else validation.
            fewshot_split = config.get("fewshot_split") or config.get("validation_split") or test_split
            files.setdefault(fewshot_split, _write_rows(spec.fewshot, folder / f"{spec.slug}.{fewshot_split}.jsonl"))
        override = {
            "include": str(yaml_path),
            "task": spec.slug,
            "dataset_path": "json",
            "dataset_name": None,
            "dataset_kwargs": {"data_files": files},
            "training_split": None,  # not available offline (see the module docstring)
            "validation_split": config.get("validation_split") if config.get("validation_split") in files else None,
            "test_split": test_split,
        }
        # JSON is YAML; the harness reads this file with its own loader.
        (folder / f"{spec.slug}.yaml").write_text(json.dumps(override, indent=2) + "\n", encoding="utf-8")
    return folder


def _harness_yaml(slug: str) -> Path:
    import lm_eval

    pattern = re.compile(rf"^task:\s*['\"]?{re.escape(slug)}['\"]?\s*$", re.MULTILINE)
    for path in sorted((Path(lm_eval.__file__).parent / "tasks").rglob("*.yaml")):
        if pattern.search(path.read_text(encoding="utf-8", errors="replace")):
            return path
    raise SystemExit(f"lm-eval has no YAML task named {slug!r}")


def _harness_config(yaml_path: Path) -> dict:
    from lm_eval.tasks._yaml_loader import load_yaml

    return load_yaml(yaml_path, resolve_func=False)


def _write_rows(source: DataSource, path: Path) -> str:
    with open(path, "w", encoding="utf-8") as handle:
        for row in load_split(source).rows:
            handle.write(json.dumps(row, default=str) + "\n")
    return str(path)


def run_harness(specs: list[TaskSpec], model: Path, batch_size: int, args: argparse.Namespace, *,
                env: dict[str, str], tasks_dir: Path, work: Path) -> CommandRun:
    output = work / f"harness-batch{batch_size}"
    command = [
        str(Path(sys.executable).with_name("lm_eval")), "--model", "hf",
        "--model_args", f"pretrained={model.parent},gguf_file={model.name}",
        "--tasks", ",".join(spec.slug for spec in specs), "--limit", str(args.limit),
        "--num_fewshot", str(args.num_fewshot), "--batch_size", str(batch_size), "--device", args.device,
        "--include_path", str(tasks_dir), "--log_samples", "--output_path", str(output),
    ]
    run, _ = timed("lm-eval 0.4.13 --model hf", command, env=env | args.harness_env,
                   log=work / f"harness-batch{batch_size}.log", marker=HARNESS_SCORING_STARTS, batch_size=batch_size)
    for spec in specs:
        samples = sorted(output.rglob(f"samples_{spec.slug}_*.jsonl"))
        if not samples:
            raise SystemExit(f"lm-eval wrote no samples for {spec.slug} under {output}")
        with open(samples[-1], encoding="utf-8") as handle:
            for line in handle:
                sample = json.loads(line)
                run.items[spec.slug, int(sample["doc_id"])] = _harness_item(sample)
    return run


def _harness_item(sample: dict) -> ItemScore:
    # filtered_resps: one (log-likelihood, is_greedy) pair per choice; arguments: (context, continuation).
    loglikelihoods = [float(response[0]) for response in sample["filtered_resps"]]
    arguments = sample["arguments"]
    pairs = arguments.values() if isinstance(arguments, dict) else arguments
    requests = [
        (str(pair["arg_0"]), str(pair["arg_1"])) if isinstance(pair, dict) else (str(pair[0]), str(pair[1]))
        for pair in pairs
    ]
    return ItemScore(
        prediction=max(range(len(loglikelihoods)), key=loglikelihoods.__getitem__),
        loglikelihoods=loglikelihoods,
        metrics={name: float(sample[name]) for name in METRICS if name in sample},
        requests=requests,
    )


# -- benchsite -----------------------------------------------------------------------------------
def run_benchsite(label: str, specs: list[TaskSpec], model_reference: str, args: argparse.Namespace, *,
                  env: dict[str, str], work: Path, requests: dict[ItemKey, list[tuple[str, str]]]) -> CommandRun:
    output = work / f"benchsite-{label}.json"
    command = [
        sys.executable, "manage.py", "evaluate", "--model", model_reference, "--backend", "hf",
        "--benchmark", ",".join(spec.slug for spec in specs), "--limit", str(args.limit),
        "--num-fewshot", str(args.num_fewshot), "--device", args.device, "--output", str(output),
        "--no-response-cache",  # both runs compute every item: the harness has no response cache to match
    ]
    if args.benchsite_batch_size:
        command += ["--batch-size", str(args.benchsite_batch_size)]
    run, loaded = timed(f"benchsite ({label} cache)", command, env=env, log=work / f"benchsite-{label}.log",
                        marker=BENCHSITE_MODEL_LOADED, batch_size=args.benchsite_batch_size)
    if loaded:
        run.model_load_s = float(loaded.group(1))
        run.cache = loaded.group(2)
    payload = json.loads(output.read_text(encoding="utf-8"))
    for spec in specs:
        for sample in payload["samples"][spec.slug]:
            key = (spec.slug, int(sample["doc_id"]))
            run.items[key] = ItemScore(
                prediction=int(sample["pred"]),
                loglikelihoods=[float(value) for value in sample["loglikelihoods"]],
                metrics={name: float(sample[name]) for name in METRICS if name in sample},
                requests=requests[key],
            )
    return run


def benchsite_requests(specs: list[TaskSpec], args: argparse.Namespace) -> dict[ItemKey, list[tuple[str, str]]]:
    """The (context, continuation) pairs `manage.py evaluate` sends: the same engine code, run here."""
    from runner.engine import prepare_task

    return {
        (spec.slug, item.doc_id): [(request.context, request.continuation) for request in item.requests]
        for spec in specs
        for item in prepare_task(spec, limit=args.limit, num_fewshot=args.num_fewshot).items
    }


# -- comparison ----------------------------------------------------------------------------------
def compare(name: str, harness: dict[ItemKey, ItemScore], benchsite: dict[ItemKey, ItemScore]) -> Comparison:
    """Compare the two sides on the given items, which both must have scored."""
    if harness.keys() != benchsite.keys():
        raise SystemExit(
            f"{name}: the sides scored different items ({len(harness)} vs {len(benchsite)}); "
            f"only in harness: {sorted(harness.keys() - benchsite.keys())[:5]}, "
            f"only in benchsite: {sorted(benchsite.keys() - harness.keys())[:5]}"
        )
    keys = sorted(harness)
    disagreements = [
        Disagreement(
            task=key[0],
            doc_id=key[1],
            harness_prediction=harness[key].prediction,
            benchsite_prediction=benchsite[key].prediction,
            harness_loglikelihoods=harness[key].loglikelihoods,
            benchsite_loglikelihoods=benchsite[key].loglikelihoods,
        )
        for key in keys
        if harness[key].prediction != benchsite[key].prediction
    ]
    diffs = [
        abs(a - b)
        for key in keys
        for a, b in zip(harness[key].loglikelihoods, benchsite[key].loglikelihoods, strict=True)
    ]
    return Comparison(
        name=name,
        items=len(keys),
        agree=len(keys) - len(disagreements),
        same_requests=sum(harness[key].requests == benchsite[key].requests for key in keys),
        max_abs_loglikelihood_diff=max(diffs, default=0.0),
        harness=_means([harness[key] for key in keys]),
        benchsite=_means([benchsite[key] for key in keys]),
        disagreements=disagreements,
    )


def _means(items: list[ItemScore]) -> dict[str, float]:
    """Mean of each metric that every item has."""
    names = [name for name in METRICS if items and all(name in item.metrics for item in items)]
    return {name: sum(item.metrics[name] for item in items) / len(items) for name in names}


def _metrics_text(values: dict[str, float]) -> str:
    return " ".join(f"{name} {value:.3f}" for name, value in values.items())


def report(comparison: Comparison, label: str, *, show_disagreements: bool) -> list[str]:
    lines = [
        f"{label}: items {comparison.items}, agreement {comparison.agree}/{comparison.items} = "
        f"{100 * comparison.agreement:.2f}%, harness {_metrics_text(comparison.harness)}, "
        f"benchsite {_metrics_text(comparison.benchsite)}",
        f"  identical requests {comparison.same_requests}/{comparison.items}, "
        f"max |log-likelihood difference| {comparison.max_abs_loglikelihood_diff:.2e}",
    ]
    for item in comparison.disagreements[:SHOWN_DISAGREEMENTS] if show_disagreements else []:
        lines.append(
            f"  disagreement {item.task} doc {item.doc_id}: harness picks {item.harness_prediction} "
            f"{_rounded(item.harness_loglikelihoods)}, benchsite picks {item.benchsite_prediction} "
            f"{_rounded(item.benchsite_loglikelihoods)}"
        )
    return lines


def _rounded(values: list[float]) -> list[float]:
    return [round(value, 4) for value in values]


def _ratio(harness_s: float, benchsite_s: float) -> float:
    return harness_s / benchsite_s if benchsite_s > 0 else float("nan")


def _seconds(value: float | None) -> str:
    return "    -" if value is None else f"{value:5.1f}"


def _row(run: CommandRun) -> str:
    batch = "default" if run.batch_size is None else str(run.batch_size)
    load = "-" if run.load_average is None else f"{run.load_average:.1f}"
    return (f"  {run.label:<25} {batch:>7}  {run.total_s:6.1f}  {_seconds(run.until_scoring_s):>13}  "
            f"{_seconds(run.rest_s):>5}  {load:>5}")


def _load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


# -- command line --------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help=f"GGUF file to evaluate (default: the bundled {DEFAULT_MODEL})")
    parser.add_argument("--tasks", default="arc_easy",
                        help="comma-separated benchsite/lm-eval task names, e.g. arc_easy,mmlu_anatomy "
                             "(default: %(default)s)")
    parser.add_argument("--limit", type=int, default=200,
                        help="score the first N test rows of each task (default: %(default)s)")
    parser.add_argument("--num-fewshot", type=int, default=0,
                        help="few-shot examples per prompt (default: %(default)s)")
    parser.add_argument("--harness-batch-sizes", default="1,4,8,16",
                        help="lm-eval batch sizes to time; the fastest is compared (default: %(default)s)")
    parser.add_argument("--benchsite-batch-size", type=int, default=None,
                        help="benchsite batch size (default: benchsite's own default, not passed)")
    parser.add_argument("--harness-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the harness's commands only, e.g. OMP_WAIT_POLICY=PASSIVE "
                             "(which benchsite's hf backend sets for itself); repeatable")
    parser.add_argument("--device", default="cpu", help="torch device for both sides (default: %(default)s)")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep every command's output and log in DIR (default: a scratch folder, removed)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    try:
        args.harness_batch_sizes = [int(size) for size in args.harness_batch_sizes.split(",")]
    except ValueError:
        parser.error("--harness-batch-sizes takes comma-separated integers")
    if any("=" not in pair for pair in args.harness_env):
        parser.error("--harness-env takes NAME=VALUE")
    args.harness_env = dict(pair.split("=", 1) for pair in args.harness_env)
    if args.limit < 1 or args.num_fewshot < 0 or min(args.harness_batch_sizes) < 1 or (
            args.benchsite_batch_size is not None and args.benchsite_batch_size < 1):
        parser.error("--limit and batch sizes must be positive, --num-fewshot not negative")
    unknown = [name for name in args.tasks.split(",") if name not in TASKS]
    if unknown:
        parser.error(f"unknown task(s): {', '.join(unknown)}")
    not_scored = [name for name in args.tasks.split(",") if TASKS[name].output_type != MULTIPLE_CHOICE]
    if not_scored:
        parser.error(f"only multiple-choice tasks can be compared: {', '.join(not_scored)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    specs = [TASKS[name] for name in dict.fromkeys(args.tasks.split(","))]
    model = (args.model or bundled_model_path(DEFAULT_MODEL)).resolve()
    model_reference = DEFAULT_MODEL if args.model is None else str(model)
    if args.model is not None and any(model == bundled_model_path(name) for name in BUNDLED_MODELS):
        model_reference = next(name for name in BUNDLED_MODELS if model == bundled_model_path(name))
    work = args.keep or Path(tempfile.mkdtemp(prefix="compare-lm-eval-"))
    work.mkdir(parents=True, exist_ok=True)
    # Everything is read from local files; neither side may try the hub.
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               LOG_LEVEL="INFO", BENCHSITE_CACHE_DIR=str(work / "benchsite-cache"))
    shutil.rmtree(work / "benchsite-cache", ignore_errors=True)
    try:
        database = prepare_database(env, work)
        tasks_dir = harness_task_dir(specs, work / "harness-tasks")
        requests = benchsite_requests(specs, args)
        untimed_warm_up(model, env)
        print(
            f"model {model.name}, tasks {','.join(spec.slug for spec in specs)}, limit {args.limit}, "
            f"num_fewshot {args.num_fewshot}, device {args.device}, "
            f"harness environment: {' '.join(f'{k}={v}' for k, v in args.harness_env.items()) or 'as given'}\n"
            f"database: {database}\nload average before: {_load_average()}",
            flush=True,
        )
        cold = run_benchsite("cold", specs, model_reference, args, env=env, work=work, requests=requests)
        warm = run_benchsite("warm", specs, model_reference, args, env=env, work=work, requests=requests)
        harness_runs = [
            run_harness(specs, model, size, args, env=env, tasks_dir=tasks_dir, work=work)
            for size in args.harness_batch_sizes
        ]
        load_after = _load_average()
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    if cold.cache != "written" or warm.cache != "hit":
        print(f"warning: expected a cold run that writes the cache and a warm one that reads it; "
              f"got {cold.cache!r} and {warm.cache!r}")
    best = min(harness_runs, key=lambda run: run.total_s)
    agreements = {run.batch_size: compare("all", run.items, warm.items).agreement for run in harness_runs}
    comparisons = [
        compare(
            spec.slug,
            {key: item for key, item in best.items.items() if key[0] == spec.slug},
            {key: item for key, item in warm.items.items() if key[0] == spec.slug},
        )
        for spec in specs
    ]
    overall = compare("overall", best.items, warm.items)
    cold_vs_warm = compare("cold vs warm", cold.items, warm.items)
    warm_ratio, cold_ratio = _ratio(best.total_s, warm.total_s), _ratio(best.total_s, cold.total_s)

    lines = ["", "whole-command wall-clock, seconds (each side a subprocess, run as a user runs it; "
                 "load: 1-minute load average at its start):"]
    lines.append("  command                     batch   total  until scoring   rest   load   "
                 "agreement with benchsite (warm)")
    for run in harness_runs:
        lines.append(f"{_row(run)}   {100 * agreements[run.batch_size]:.2f}%")
    for run in (cold, warm):
        load = "-" if run.model_load_s is None else f"{run.model_load_s:.1f} s"
        lines.append(f"{_row(run)}   model load {load} in process, dequantized cache {run.cache or 'not used'}")
    lines += [
        f"harness at its best batch size: {best.batch_size} ({best.total_s:.1f} s)",
        f"ratio harness(best)/benchsite, warm cache (every run after a GGUF's first): {warm_ratio:.2f}x  <- headline",
        f"ratio harness(best)/benchsite, cold cache (a GGUF's first run, dequantizes and writes the cache): "
        f"{cold_ratio:.2f}x",
        f"benchsite cold and warm runs: {cold_vs_warm.agree}/{cold_vs_warm.items} same predictions, "
        f"max |log-likelihood difference| {cold_vs_warm.max_abs_loglikelihood_diff:.2e}",
        f"agreement below against the harness at batch {best.batch_size} and benchsite warm:",
    ]
    lines += [line for comparison in comparisons
              for line in report(comparison, f"task {comparison.name}", show_disagreements=True)]
    if len(specs) > 1:
        lines += report(overall, "overall", show_disagreements=False)
    verdict = warm_ratio >= TARGET_RATIO and overall.agreement >= MIN_AGREEMENT
    lines.append(f"target (>= {TARGET_RATIO:.1f}x warm, >= {100 * MIN_AGREEMENT:.0f}% agreement): "
                 f"{'met' if verdict else 'NOT met'}")
    lines.append(f"load average after: {load_after}")
    print("\n".join(lines), flush=True)

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "model": str(model),
            "tasks": [spec.slug for spec in specs],
            "limit": args.limit,
            "num_fewshot": args.num_fewshot,
            "device": args.device,
            "database": database,
            "harness_env": args.harness_env,
            "seconds": {
                "harness": {
                    str(run.batch_size): {"total": run.total_s, "until_scoring": run.until_scoring_s,
                                          "load_average": run.load_average, "agreement": agreements[run.batch_size]}
                    for run in harness_runs
                },
                "benchsite": {
                    label: {"total": run.total_s, "until_scoring": run.until_scoring_s,
                            "model_load": run.model_load_s, "cache": run.cache, "load_average": run.load_average,
                            "batch_size": run.batch_size}
                    for label, run in (("cold", cold), ("warm", warm))
                },
            },
            "harness_best_batch_size": best.batch_size,
            "ratio_warm": warm_ratio,
            "ratio_cold": cold_ratio,
            "comparisons": [asdict(comparison) | {"agreement": comparison.agreement}
                            for comparison in [*comparisons, overall]],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
