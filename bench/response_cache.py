"""Time re-running a finished configuration through the response cache, as whole `manage.py evaluate` commands.

    .venv/bin/python bench/response_cache.py
    .venv/bin/python bench/response_cache.py --benchmark arc_easy --limit 200 --backend llama_cpp

Steps, each a subprocess run as a user runs it, on a scratch SQLite database and dequantized-checkpoint cache:
  1. untimed: `evaluate ... --limit 1 --no-response-cache` on another benchmark, so the first timed run finds
     the model already dequantized, like any run after a model's first (this makes the first run shorter
     and the ratio harder to meet);
  2. timed, first run: every request computed, answers stored;
  3. timed, re-run of the same command: every answer read back, the model never loaded.
Printed: both wall-clocks, the ratio, how many samples the re-run took from the cache, and whether every
score and every output is identical.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def evaluate(args: argparse.Namespace, env: dict, output: Path, *extra: str) -> float:
    command = [sys.executable, "manage.py", "evaluate", "--model", args.model, "--backend", args.backend,
               "--benchmark", args.benchmark, "--limit", str(args.limit), "--no-progress",
               "--output", str(output), *extra]
    if args.max_new_tokens:
        command += ["--max-new-tokens", str(args.max_new_tokens)]
    started = time.perf_counter()
    finished = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if finished.returncode != 0:
        raise SystemExit(f"failed (exit {finished.returncode}): {' '.join(command)}\n{finished.stderr[-3000:]}")
    return elapsed


def comparable(payload: dict) -> tuple[dict, dict]:
    """Scores, and per sample its prediction, metrics and log-likelihoods or output."""
    return payload["scores"], payload["samples"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="SmolLM2-135M-Instruct")
    parser.add_argument("--backend", default="hf", choices=["hf", "llama_cpp"])
    parser.add_argument("--benchmark", default="arc_easy,gsm8k",
                        help="comma-separated slugs (default: %(default)s: log-likelihood and generation)")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-response-cache-"))
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}", "BENCHSITE_CACHE_DIR": str(work / "cache")}
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=REPO_ROOT, env=env, check=True,
                       capture_output=True)
        warm_up = argparse.Namespace(**{**vars(args), "benchmark": "hellaswag", "limit": 1})
        evaluate(warm_up, env, work / "warm-up.json", "--no-response-cache")
        first_s = evaluate(args, env, work / "first.json")
        rerun_s = evaluate(args, env, work / "rerun.json")
        first = json.loads((work / "first.json").read_text())
        rerun = json.loads((work / "rerun.json").read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)

    reused = rerun["response_cache"]
    load = os.getloadavg()[0]
    print(f"{args.model} ({args.backend}) on {args.benchmark}, --limit {args.limit}; load average {load:.2f} "
          f"on {os.cpu_count()} CPUs")
    print(f"  first run (computes every request)   {first_s:7.1f} s")
    print(f"  re-run (same command)                {rerun_s:7.1f} s   = {100 * rerun_s / first_s:.1f}% of the first")
    print(f"  samples from the cache in the re-run {reused['cached']} of {reused['samples']} "
          f"(first run's model time saved ~{reused['saved_seconds']:.1f} s)")
    identical = comparable(first) == comparable(rerun)
    print(f"  scores and outputs identical         {'yes' if identical else 'NO'}")
    return 0 if identical and reused["cached"] == reused["samples"] else 1


if __name__ == "__main__":
    sys.exit(main())
