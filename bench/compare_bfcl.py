"""Do our BFCL verdicts equal bfcl-eval's own? Model outputs of both bundled models, checked twice.

    .venv/bin/python bench/compare_bfcl.py --bfcl-python /tmp/bfcl-venv/bin/python [--limit 16]
        [--max-new-tokens 128] [--results smol.json gemma.json | --runs SmolLM2-135M-Instruct=2 gemma-3-270m=3]

Each bundled model answers the first --limit items of every BFCL category (`manage.py evaluate --backend
llama_cpp --benchmark bfcl`, 13 categories, so 16 gives 208 outputs per model), or --results reuses the JSON
of such runs, or --runs reads the samples stored so far of runs in the database (`manage.py run_status`). Every output is then judged by bfcl-eval itself, unmodified, in its own environment (a venv with
`pip install bfcl-eval==2026.3.23` and its dependencies; BFCL_PROJECT_ROOT points its result folders at a
temporary one): its dataset and possible-answer loaders, a prompt-based handler's `decode_ast`, and
eval_runner's `_evaluate_single_ast_entry` / `_evaluate_single_relevance_entry`, as `bfcl evaluate` runs them.
Prints agreement per model and category and every disagreement; exits 1 if there is one.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("SmolLM2-135M-Instruct", "gemma-3-270m")
# A prompt-based (non-FC) model of BFCL's registry whose handler decodes with default_decode_ast_prompting;
# its name only matters to convert_func_name, which leaves dotted names alone for it.
BFCL_MODEL = "google/gemma-3-1b-it"

BFCL_SIDE = r'''
import json, sys
from bfcl_eval.constants.enums import Language, ReturnFormat
from bfcl_eval.eval_checker.eval_runner import (
    _evaluate_single_ast_entry, _evaluate_single_relevance_entry, get_handler)
from bfcl_eval.utils import is_java, is_js, is_relevance_or_irrelevance, load_dataset_entry, load_ground_truth_entry

model = sys.argv[3]
handler = get_handler(model)
model_name = model.replace("/", "_")
entries = json.load(open(sys.argv[1]))
prompts, truths, verdicts = {}, {}, []
for entry in entries:
    category = entry["category"]
    if category not in prompts:
        prompts[category] = {e["id"]: e for e in load_dataset_entry(
            category, include_prereq=False, include_language_specific_hint=False)}
        truths[category] = {} if is_relevance_or_irrelevance(category) else {
            e["id"]: e["ground_truth"] for e in load_ground_truth_entry(category)}
    prompt = prompts[category][entry["id"]]
    if is_relevance_or_irrelevance(category):
        result = _evaluate_single_relevance_entry(handler, entry["id"], entry["output"], prompt, model_name, category)
    else:
        language, return_format = ((Language.JAVA, ReturnFormat.JAVA) if is_java(category) else
                                   (Language.JAVASCRIPT, ReturnFormat.JAVASCRIPT) if is_js(category) else
                                   (Language.PYTHON, ReturnFormat.PYTHON))
        try:
            result = _evaluate_single_ast_entry(handler, entry["id"], entry["output"], truths[category][entry["id"]],
                                                prompt, model_name, category, language=language,
                                                return_format=return_format)
        except Exception as exc:  # BFCL's own run would stop here
            result = {"valid": False, "error_type": f"bfcl raised {type(exc).__name__}"}
    verdicts.append({"valid": bool(result["valid"]), "error_type": result.get("error_type", "")})
json.dump(verdicts, open(sys.argv[2], "w"))
'''


def run_model(model: str, args: argparse.Namespace, folder: Path) -> Path:
    output = folder / f"{model}.json"
    command = ["nice", sys.executable, "manage.py", "evaluate", "--model", model, "--backend", "llama_cpp",
               "--benchmark", "bfcl", "--limit", str(args.limit), "--output", str(output)]
    if args.max_new_tokens:
        command += ["--max-new-tokens", str(args.max_new_tokens)]
    print("$", " ".join(command), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)
    return output


def our_entries(model: str, samples_by_slug: dict[str, list[dict]]) -> list[dict]:
    from runner.benchmarks.bfcl import read_bfcl

    entries = []
    for slug, samples in sorted(samples_by_slug.items()):
        if not slug.startswith("bfcl_"):
            continue
        category = slug.removeprefix("bfcl_")
        ids = [row["id"] for row in read_bfcl(category).rows]
        for sample in sorted(samples, key=lambda sample: sample["doc_id"]):
            entries.append({"model": model, "category": category, "id": ids[sample["doc_id"]],
                            "output": sample["output"], "ours": sample["accuracy"] == 1.0})
    return entries


def result_entries(result_file: Path) -> list[dict]:
    result = json.loads(result_file.read_text())
    model = result["model"] if isinstance(result["model"], str) else result["model"]["name"]
    return our_entries(model, result["samples"])


def run_entries(model_and_run: str) -> list[dict]:
    model, _, run = model_and_run.partition("=")
    status = subprocess.run(["nice", sys.executable, "manage.py", "run_status", run, "--json"], cwd=ROOT,
                            check=True, capture_output=True, text=True)
    by_slug: dict[str, list[dict]] = defaultdict(list)
    for sample in json.loads(status.stdout)["samples"]:
        by_slug[sample["benchmark"]].append(sample)
    return our_entries(model, by_slug)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bfcl-python", default="/tmp/bfcl-venv/bin/python",
                        help="python of an environment with bfcl-eval and its dependencies installed")
    parser.add_argument("--limit", type=int, default=16, help="first N items of each of the 13 categories")
    parser.add_argument("--max-new-tokens", type=int, default=128, help="cap on each answer (0: the spec's 256)")
    parser.add_argument("--results", nargs="*", type=Path, help="reuse `evaluate --output` files instead of running")
    parser.add_argument("--runs", nargs="*", metavar="MODEL=RUN_ID", help="the stored samples of these runs instead")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="compare-bfcl-") as scratch:
        folder = Path(scratch)
        if args.runs:
            entries = [entry for run in args.runs for entry in run_entries(run)]
        else:
            results = args.results or [run_model(model, args, folder) for model in MODELS]
            entries = [entry for result in results for entry in result_entries(result)]
        (folder / "entries.json").write_text(json.dumps(entries))
        (folder / "bfcl_side.py").write_text(BFCL_SIDE)
        environment = {**os.environ, "BFCL_PROJECT_ROOT": str(folder / "bfcl-root")}
        subprocess.run([args.bfcl_python, str(folder / "bfcl_side.py"), str(folder / "entries.json"),
                        str(folder / "verdicts.json"), BFCL_MODEL], check=True, env=environment, cwd=folder)
        verdicts = json.loads((folder / "verdicts.json").read_text())
    table: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # agree, total, ours, bfcl
    disagreements = []
    for entry, verdict in zip(entries, verdicts):
        row = table[(entry["model"], entry["category"])]
        row[0] += entry["ours"] == verdict["valid"]
        row[1] += 1
        row[2] += entry["ours"]
        row[3] += verdict["valid"]
        if entry["ours"] != verdict["valid"]:
            disagreements.append((entry, verdict))
    print(f"{'model':24} {'category':24} {'agree':>9} {'ours correct':>13} {'bfcl correct':>13}")
    for (model, category), (agree, total, ours, theirs) in sorted(table.items()):
        print(f"{model:24} {category:24} {agree:>4}/{total:<4} {ours:>13} {theirs:>13}")
    for model in sorted({model for model, _ in table}):
        agree = sum(row[0] for (m, _), row in table.items() if m == model)
        total = sum(row[1] for (m, _), row in table.items() if m == model)
        print(f"{model}: {agree}/{total} verdicts agree")
    agree, total = sum(row[0] for row in table.values()), sum(row[1] for row in table.values())
    print(f"agreement: {agree}/{total} = {agree / total:.2%} of model outputs, ours vs bfcl-eval 2026.3.23's checker")
    for entry, verdict in disagreements:
        print(f"DISAGREE {entry['model']} {entry['id']}: ours={entry['ours']} bfcl={verdict}: {entry['output']!r:.300}")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
