"""Run EleutherAI lm-evaluation-harness and benchsite's engine on the same model and items, and compare.

Both sides load the same model file with transformers on the same device, score the same rows of the
offline benchmark data (`runner.datasets.data_dir()`), and are timed separately. The harness keeps its
own task configs (prompt templates, description, few-shot split and sampler, metrics); only where its
rows come from is changed: each task gets a `custom_dataset` built from the local files, so nothing is
downloaded. Training splits are not available offline, so the harness's `training_split` is unset: a task
that draws few-shot examples from it (ARC) falls back to its validation split (ARC-*-Dev), which is also
what benchsite uses; MMLU keeps its `dev` split and first_n sampler.

Printed per task: item count, per-item agreement of the acc prediction (argmax of the raw
log-likelihoods), both sides' acc (and acc_norm where the task has it), how many items got identical
(context, continuation) requests and the largest per-choice log-likelihood difference; then the same
over all tasks and the wall-clock times.

Examples (from the repository root):
    .venv/bin/python bench/compare_lm_eval.py
    .venv/bin/python bench/compare_lm_eval.py --tasks mmlu_abstract_algebra,mmlu_anatomy --limit 20 --num-fewshot 5
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from runner.datasets import NORMALIZERS, DataSource, data_dir  # noqa: E402
from runner.modelfiles import bundled_model_path  # noqa: E402
from runner.catalog import MULTIPLE_CHOICE, TASKS, TaskSpec  # noqa: E402

if TYPE_CHECKING:
    from datasets import Dataset, DatasetDict
    from lm_eval.tasks import TaskManager

DEFAULT_MODEL = "SmolLM2-135M-Instruct"
METRICS = ("acc", "acc_norm")
SHOWN_DISAGREEMENTS = 10


@dataclass
class ItemScore:
    """One side's result for one item."""

    prediction: int
    loglikelihoods: list[float]
    metrics: dict[str, float]
    requests: list[tuple[str, str]]  # (context, continuation) per choice, as sent to the model


ItemKey = tuple[str, int]  # (task name, doc_id)


@dataclass
class SideRun:
    """One side's results for every item of every task, and how long it took."""

    items: dict[ItemKey, ItemScore]
    total_s: float
    load_s: float

    @property
    def eval_s(self) -> float:
        return self.total_s - self.load_s


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


# -- data ----------------------------------------------------------------------------------------
# The harness's ARC config reads the `allenai/ai2_arc` schema; benchsite's loader already maps the
# original AI2 JSONL rows to it.
_ai2_arc_row = NORMALIZERS["arc_ai2"]


def _local_split(source: DataSource) -> Dataset:
    """Read one split from the offline data folder with `datasets`, in file order."""
    import datasets

    base = data_dir()
    if base is None:
        raise SystemExit("no offline benchmark data: set BENCHSITE_DATA_DIR")
    path = base / source.data_path
    if path.is_dir():
        # In memory, so that the harness's `process_docs` maps write no cache files into the shared data folder.
        return datasets.load_from_disk(str(path), keep_in_memory=True)
    if source.normalizer != "arc_ai2":
        raise SystemExit(f"don't know how to read {path} for the harness")
    with open(path, encoding="utf-8") as handle:
        return datasets.Dataset.from_list([_ai2_arc_row(json.loads(line)) for line in handle if line.strip()])


def _harness_task_config(spec: TaskSpec, task_manager: TaskManager) -> dict[str, Any]:
    """The harness's own config for a task, with its rows served from the local files."""
    from datasets import DatasetDict
    from lm_eval.tasks._yaml_loader import load_yaml

    entry = task_manager.task_index.get(spec.slug)
    if entry is None or entry.yaml_path is None:
        raise SystemExit(f"lm-eval has no YAML task named {spec.slug!r}")
    config: dict[str, Any] = load_yaml(entry.yaml_path, resolve_func=True)
    # The harness evaluates its test split, or its validation split where it has no test split.
    splits = {config.get("test_split") or config["validation_split"]: _local_split(spec.test)}
    if spec.fewshot is not None:
        splits[config.get("fewshot_split") or config["validation_split"]] = _local_split(spec.fewshot)
    local = DatasetDict(splits)
    config["training_split"] = None  # not available offline (see the module docstring)
    config["custom_dataset"] = _constant(local)
    return config


def _constant(dataset: DatasetDict) -> Callable[..., DatasetDict]:
    """A `custom_dataset` callable; the harness calls it with the task's metadata as keyword arguments."""

    def load(**_metadata: Any) -> DatasetDict:
        return dataset

    return load


# -- the two sides -------------------------------------------------------------------------------
def warm_up(model: Path) -> None:
    """Pay the one-time costs of a first GGUF load before either side is timed, so order doesn't matter.

    Both sides load through transformers in this process; whichever went first would otherwise also pay
    for reading the file from disk and for transformers' lazy imports (GGUF conversion, model class).
    """
    import transformers
    import transformers.integrations.ggml  # GGUF tokenizer conversion
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    model.read_bytes()
    config = transformers.AutoConfig.from_pretrained(str(model.parent), gguf_file=model.name)
    MODEL_FOR_CAUSAL_LM_MAPPING[type(config)]


def run_harness(specs: list[TaskSpec], model: Path, args: argparse.Namespace) -> SideRun:
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    started = time.perf_counter()
    lm = HFLM(pretrained=str(model.parent), gguf_file=model.name, device=args.device, batch_size=args.batch_size)
    loaded = time.perf_counter()
    task_manager = TaskManager()
    output = lm_eval.simple_evaluate(
        model=lm,
        tasks=[_harness_task_config(spec, task_manager) for spec in specs],
        task_manager=task_manager,
        limit=args.limit,
        num_fewshot=args.num_fewshot,
        log_samples=True,
    )
    finished = time.perf_counter()
    if output is None:
        raise SystemExit("lm-eval returned no results")
    items = {
        (spec.slug, doc_id): item for spec in specs for doc_id, item in _harness_items(output["samples"][spec.slug])
    }
    del lm
    gc.collect()
    return SideRun(items, finished - started, loaded - started)


def _harness_items(samples: list[dict]) -> Iterator[tuple[int, ItemScore]]:
    for sample in samples:
        # filtered_resps: one (log-likelihood, is_greedy) pair per choice.
        loglikelihoods = [float(response[0]) for response in sample["filtered_resps"]]
        yield (
            int(sample["doc_id"]),
            ItemScore(
                prediction=max(range(len(loglikelihoods)), key=loglikelihoods.__getitem__),
                loglikelihoods=loglikelihoods,
                metrics={name: float(sample[name]) for name in METRICS if name in sample},
                requests=[(str(request[0]), str(request[1])) for request in sample["arguments"]],
            ),
        )


def run_benchsite(specs: list[TaskSpec], model: Path, args: argparse.Namespace) -> SideRun:
    from runner.backends import load_backend
    from runner.engine import evaluate_items, prepare_task

    started = time.perf_counter()
    backend = load_backend("hf", str(model), batch_size=args.batch_size, device=args.device)
    loaded = time.perf_counter()
    items: dict[ItemKey, ItemScore] = {}
    for spec in specs:
        task = prepare_task(spec, limit=args.limit, num_fewshot=args.num_fewshot)
        requests = {
            item.doc_id: [(request.context, request.continuation) for request in item.requests] for item in task.items
        }
        for result in evaluate_items(task, backend):
            items[spec.slug, result.doc_id] = ItemScore(
                prediction=int(result.prediction),
                loglikelihoods=list(result.loglikelihoods or []),
                metrics=dict(result.metrics),
                requests=requests[result.doc_id],
            )
    finished = time.perf_counter()
    del backend
    gc.collect()
    return SideRun(items, finished - started, loaded - started)


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


def _ratio(harness_s: float, benchsite_s: float) -> str:
    return f"{harness_s / benchsite_s:.2f}x" if benchsite_s > 0 else "n/a"


# -- command line --------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        type=Path,
        help=f"GGUF file to evaluate (default: the bundled {DEFAULT_MODEL})",
    )
    parser.add_argument(
        "--tasks",
        default="arc_easy",
        help="comma-separated benchsite/lm-eval task names, e.g. arc_easy,mmlu_astronomy (default: %(default)s)",
    )
    parser.add_argument(
        "--limit", type=int, default=200, help="score the first N test rows of each task (default: %(default)s)"
    )
    parser.add_argument(
        "--num-fewshot", type=int, default=0, help="few-shot examples per prompt (default: %(default)s)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=16, help="model batch size on both sides (default: %(default)s)"
    )
    parser.add_argument("--device", default="cpu", help="torch device for both sides (default: %(default)s)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.limit < 1 or args.num_fewshot < 0 or args.batch_size < 1:
        parser.error("--limit and --batch-size must be positive, --num-fewshot not negative")
    unknown = [name for name in args.tasks.split(",") if name not in TASKS]
    if unknown:
        parser.error(f"unknown task(s): {', '.join(unknown)}")
    not_scored = [name for name in args.tasks.split(",") if TASKS[name].output_type != MULTIPLE_CHOICE]
    if not_scored:
        parser.error(f"only multiple-choice tasks can be compared: {', '.join(not_scored)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Everything is read from local files; the harness must not try the hub.
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"
    logging.getLogger("lm_eval").setLevel(logging.WARNING)
    specs = [TASKS[name] for name in dict.fromkeys(args.tasks.split(","))]
    model = (args.model or bundled_model_path(DEFAULT_MODEL)).resolve()
    warm_up(model)

    import torch

    print(
        f"model {model.name}, tasks {','.join(spec.slug for spec in specs)}, limit {args.limit}, "
        f"num_fewshot {args.num_fewshot}, batch size {args.batch_size}, device {args.device}, "
        f"torch threads {torch.get_num_threads()}",
        flush=True,
    )
    harness = run_harness(specs, model, args)
    benchsite = run_benchsite(specs, model, args)

    comparisons = [
        compare(
            spec.slug,
            {key: item for key, item in harness.items.items() if key[0] == spec.slug},
            {key: item for key, item in benchsite.items.items() if key[0] == spec.slug},
        )
        for spec in specs
    ]
    lines = [
        line
        for comparison in comparisons
        for line in report(comparison, f"task {comparison.name}", show_disagreements=True)
    ]
    if len(specs) > 1:
        overall = compare("overall", harness.items, benchsite.items)
        comparisons.append(overall)
        lines.extend(report(overall, "overall", show_disagreements=False))
    lines.append(
        f"wall-clock: harness {harness.total_s:.1f} s, benchsite {benchsite.total_s:.1f} s, "
        f"ratio harness/benchsite {_ratio(harness.total_s, benchsite.total_s)}"
    )
    lines.append(
        f"excluding model load: harness {harness.eval_s:.1f} s (load {harness.load_s:.1f} s), "
        f"benchsite {benchsite.eval_s:.1f} s (load {benchsite.load_s:.1f} s), "
        f"ratio harness/benchsite {_ratio(harness.eval_s, benchsite.eval_s)}"
    )
    print("\n".join(lines), flush=True)

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "model": str(model),
            "tasks": [spec.slug for spec in specs],
            "limit": args.limit,
            "num_fewshot": args.num_fewshot,
            "batch_size": args.batch_size,
            "device": args.device,
            "comparisons": [asdict(comparison) | {"agreement": comparison.agreement} for comparison in comparisons],
            "seconds": {
                side: {"total": run.total_s, "model_load": run.load_s, "eval": run.eval_s}
                for side, run in (("harness", harness), ("benchsite", benchsite))
            },
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
