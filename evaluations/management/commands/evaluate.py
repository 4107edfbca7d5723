"""`manage.py evaluate`: evaluate a model on benchmarks, store the run, optionally write JSON."""
from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from evaluations import selectors, services
from runner.backends import BACKENDS
from runner.errors import BenchsiteError

USAGE_ERROR = 2


class Command(BaseCommand):
    help = "Evaluate a model (registered name, local path or hub id) on one or more benchmarks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", required=True, help="registered name, GGUF file, HF folder or hub id")
        parser.add_argument("--backend", choices=BACKENDS, default="hf")
        parser.add_argument("--benchmark", required=True, help="comma-separated slugs, e.g. arc_easy,mmlu")
        parser.add_argument("--limit", type=int, default=None, help="first N rows of each (sub)task")
        parser.add_argument("--num-fewshot", type=int, default=None, help="default: the benchmark's standard")
        parser.add_argument("--batch-size", type=int, default=16)
        parser.add_argument("--dtype", default="auto", help="hf backend: auto, float32, float16, bfloat16")
        parser.add_argument("--device", default="auto", help="hf backend: auto, cpu, cuda")
        parser.add_argument("--n-ctx", type=int, default=2048, help="llama_cpp backend context length")
        parser.add_argument("--chat-template", action="store_true", help="wrap prompts in the chat template")
        parser.add_argument("--output", type=Path, default=None, help="write the result JSON here")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options) -> None:
        output: Path | None = options["output"]
        if output is not None and not output.parent.exists():
            raise CommandError(f"output folder {output.parent} does not exist", returncode=USAGE_ERROR)
        try:
            model = services.model_resolve(reference=options["model"])
            plan = services.run_plan(
                model=model,
                backend=options["backend"],
                benchmarks=[s.strip() for s in options["benchmark"].split(",") if s.strip()],
                limit=options["limit"],
                num_fewshot=options["num_fewshot"],
                chat_template=options["chat_template"],
                backend_options=_backend_options(options),
            )
        except BenchsiteError as exc:
            raise CommandError(str(exc), returncode=USAGE_ERROR) from None
        run = services.run_create(plan=plan)
        self.stderr.write(f"run {run.pk}: {model.name} on {', '.join(plan.requested)} ({plan.total} items)")
        bar = tqdm(total=plan.total, unit="item", disable=options["no_progress"], file=self.stderr._out)
        try:
            run = services.run_execute(run=run, plan=plan, on_progress=lambda _run, slug, n: _advance(bar, slug, n))
        except BenchsiteError as exc:
            raise CommandError(f"run {run.pk} failed: {exc}", returncode=USAGE_ERROR) from None
        finally:
            bar.close()
        payload = selectors.run_result_payload(run=run)
        if output is not None:
            output.write_text(json.dumps(payload, indent=2))
        for slug, metrics in payload["scores"].items():
            line = ", ".join(f"{name} {m['value']:.4f}" + (f" ± {m['stderr']:.4f}" if m["stderr"] else "")
                             for name, m in metrics.items())
            self.stdout.write(f"{slug}: {line} (n={next(iter(metrics.values()))['n']})")
        self.stdout.write(f"run {run.pk} finished; config hash {run.config_hash}")


def _advance(bar: tqdm, slug: str, count: int) -> None:
    bar.set_postfix_str(slug, refresh=False)
    bar.update(count)


def _backend_options(options: dict) -> dict:
    if options["backend"] == "hf":
        return {"dtype": options["dtype"], "device": options["device"], "batch_size": options["batch_size"]}
    if options["backend"] == "llama_cpp":
        return {"n_ctx": options["n_ctx"]}
    return {}
