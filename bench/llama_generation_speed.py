"""Generation speed of benchsite's llama.cpp backend against bare llama-cpp-python on the same prompts.

Both sides load the same GGUF file with the same context, batch and thread settings and generate greedily
with the same sampling parameters; rounds alternate which side goes first so warm caches favour neither.
Prints tokens/s of each side and the ratio (benchsite / bare); the target is a ratio of at least 0.95.

    .venv/bin/python bench/llama_generation_speed.py [--model smollm2|gemma3|PATH] [--prompts 8] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from runner.backends import GenerationRequest, load_backend  # noqa: E402
from runner.datasets import DataSource, load_split  # noqa: E402
from runner.modelfiles import BUNDLED_MODELS, bundled_model_path  # noqa: E402

SETTINGS = {"n_ctx": 2048, "n_batch": 512, "seed": 1234}


def prompts(count: int) -> list[str]:
    rows = load_split(DataSource("gsm8k/test.jsonl", hub=("openai/gsm8k", "main", "test"))).rows[:count]
    return [f"Question: {row['question']}\nAnswer:" for row in rows]


def bare_side(path: Path, threads: int):
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(path), n_threads=threads, n_threads_batch=threads, verbose=False,
                          **SETTINGS)

    def run(prompt: str, max_tokens: int) -> int:
        llm.reset()
        completion = llm.create_completion(prompt, max_tokens=max_tokens, temperature=0.0, top_k=1, top_p=1.0,
                                           min_p=0.0, repeat_penalty=1.0, seed=SETTINGS["seed"])
        return completion["usage"]["completion_tokens"]

    return run


def benchsite_side(path: Path, threads: int):
    backend = load_backend("llama_cpp", str(path), n_threads=threads, **SETTINGS)

    def run(prompt: str, max_tokens: int) -> int:
        return backend.generate([GenerationRequest(prompt, max_new_tokens=max_tokens)])[0].output_tokens

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="SmolLM2-135M-Instruct", help=f"{', '.join(BUNDLED_MODELS)} or a GGUF path")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    path = bundled_model_path(args.model) if args.model in BUNDLED_MODELS else Path(args.model)
    texts = prompts(args.prompts)
    sides = {"bare": bare_side(path, args.threads), "benchsite": benchsite_side(path, args.threads)}
    for run in sides.values():  # warm-up: first-call allocations on both sides
        run(texts[0], 8)
    tokens = {name: 0 for name in sides}
    seconds = {name: 0.0 for name in sides}
    for round_index in range(args.rounds):
        order = list(sides) if round_index % 2 == 0 else list(reversed(sides))
        for name in order:
            started = time.perf_counter()
            tokens[name] += sum(sides[name](text, args.max_tokens) for text in texts)
            seconds[name] += time.perf_counter() - started
    speed = {name: tokens[name] / seconds[name] for name in sides}
    ratio = speed["benchsite"] / speed["bare"]
    print(f"model {path.name}, {args.prompts} prompts x {args.rounds} rounds, max {args.max_tokens} new tokens, "
          f"{args.threads} threads")
    for name in sides:
        print(f"{name:>9}: {tokens[name]} tokens in {seconds[name]:.2f} s = {speed[name]:.1f} tokens/s")
    print(f"ratio benchsite/bare: {ratio:.3f} ({'within' if ratio >= 0.95 else 'outside'} 5%)")
    print(json.dumps({"bare_tokens_per_s": speed["bare"], "benchsite_tokens_per_s": speed["benchsite"],
                      "ratio": ratio, "same_token_counts": tokens["bare"] == tokens["benchsite"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
