"""Run options shared by the commands that plan runs (evaluate, submit_run)."""
from __future__ import annotations

from django.core.management.base import CommandParser

from runner.backends import BACKENDS
from runner.presets import PRESETS, preset_options


def add_run_arguments(parser: CommandParser) -> None:
    parser.add_argument("--model", required=True, help="registered name, GGUF file, HF folder or hub id")
    parser.add_argument("--backend", choices=BACKENDS, default="hf")
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
    parser.add_argument("--chat-template", action="store_true", help="wrap prompts in the chat template")
    parser.add_argument("--max-new-tokens", type=int, default=None,
                        help="cap every generation benchmark's output length (recorded with the run)")
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
        max_new_tokens=options["max_new_tokens"],
    )


DEFAULT_BACKEND_OPTIONS = {
    "hf": {"dtype": "auto", "device": "auto", "batch_size": 16},
    "llama_cpp": {"n_ctx": 2048},
}


def backend_options(options: dict) -> dict:
    """The preset's options (or the defaults), then whatever was given explicitly on the command line."""
    backend = options["backend"]
    preset = options.get("preset")
    chosen = preset_options(preset, backend) if preset else dict(DEFAULT_BACKEND_OPTIONS.get(backend, {}))
    for name in DEFAULT_BACKEND_OPTIONS.get(backend, {}):
        if options.get(name) is not None:
            chosen[name] = options[name]
    return chosen
