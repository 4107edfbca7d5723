"""Run options shared by the commands that plan runs (evaluate, submit_run)."""
from __future__ import annotations

from django.core.management.base import CommandParser

from runner.backends import BACKENDS


def add_run_arguments(parser: CommandParser) -> None:
    parser.add_argument("--model", required=True, help="registered name, GGUF file, HF folder or hub id")
    parser.add_argument("--backend", choices=BACKENDS, default="hf")
    parser.add_argument("--benchmark", "--benchmarks", dest="benchmark", required=True,
                        help="comma-separated slugs, e.g. arc_easy,mmlu")
    parser.add_argument("--limit", type=int, default=None, help="first N rows of each (sub)task")
    parser.add_argument("--num-fewshot", type=int, default=None, help="default: the benchmark's standard")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--dtype", default="auto", help="hf backend: auto, float32, float16, bfloat16")
    parser.add_argument("--device", default="auto", help="hf backend: auto, cpu, cuda")
    parser.add_argument("--n-ctx", type=int, default=2048, help="llama_cpp backend context length")
    parser.add_argument("--chat-template", action="store_true", help="wrap prompts in the chat template")
    parser.add_argument("--judge", default="", help="LLM judge for graded tasks (mt_bench, the creativity rubric): "
                        "a registered model name, GGUF file or HF folder, or openai:<base_url>#<model>")


def plan_from_options(options: dict):
    from evaluations import services

    model = services.model_resolve(reference=options["model"])
    return services.run_plan(
        model=model,
        backend=options["backend"],
        benchmarks=[s.strip() for s in options["benchmark"].split(",") if s.strip()],
        limit=options["limit"],
        num_fewshot=options["num_fewshot"],
        chat_template=options["chat_template"],
        backend_options=backend_options(options),
        judge=options["judge"],
    )


def backend_options(options: dict) -> dict:
    if options["backend"] == "hf":
        return {"dtype": options["dtype"], "device": options["device"], "batch_size": options["batch_size"]}
    if options["backend"] == "llama_cpp":
        return {"n_ctx": options["n_ctx"]}
    return {}
