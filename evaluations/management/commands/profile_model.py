"""`manage.py profile_model`: measure a model's latency, throughput, memory and energy under a preset."""
from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from evaluations import performance

from evaluations.services import model_entries
from evaluations.models import Run
from runner.backends import available_backends
from runner.errors import BenchsiteError
from runner.presets import BALANCED, PRESETS

USAGE_ERROR = 2


def _sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise CommandError(f"expected comma-separated numbers, got {text!r}", returncode=USAGE_ERROR) from None


class Command(BaseCommand):
    help = "Profile a model on this machine (streamed latency percentiles, tokens/s, memory, energy) and store it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--model", required=True, help="registered name or slug, GGUF file, HF folder or hub id")
        parser.add_argument("--backend", choices=available_backends(), default="llama_cpp")
        parser.add_argument("--preset", choices=list(PRESETS), default=BALANCED)
        parser.add_argument("--threads", type=int, default=None, help="llama_cpp threads (default: all CPUs)")
        parser.add_argument("--requests", type=int, default=8, help="streamed requests for the latency figures")
        parser.add_argument("--prompt-tokens", type=int, default=128)
        parser.add_argument("--max-new-tokens", type=int, default=64)
        parser.add_argument("--sweep", action="store_true", help="also measure across batch sizes and prompt lengths")
        parser.add_argument("--batch-sizes", type=_sizes, default=None, help="sweep batch sizes, e.g. 1,2,4")
        parser.add_argument("--prompt-lengths", type=_sizes, default=None, help="sweep prompt tokens, e.g. 128,512")
        parser.add_argument("--sweep-new-tokens", type=int, default=None)
        parser.add_argument("--rated-cpu-watts", type=float, default=None,
                            help="power of all CPUs for the energy estimate where no counter is readable")
        parser.add_argument("--run", type=int, default=None, help="evaluation run measured with the same options")
        parser.add_argument("--json", action="store_true", help="print the stored record as JSON")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **options) -> None:
        run = None
        if options["run"] is not None:
            run = Run.objects.filter(pk=options["run"]).first()
            if run is None:
                raise CommandError(f"no run {options['run']}", returncode=USAGE_ERROR)
        bar = tqdm(total=0, unit="request", disable=options["no_progress"], file=self.stderr._out)
        try:
            model = model_entries.model_resolve(reference=options["model"])
            config = performance.profile_config(
                requests=options["requests"],
                prompt_tokens=options["prompt_tokens"],
                max_new_tokens=options["max_new_tokens"],
                sweep=options["sweep"],
                batch_sizes=options["batch_sizes"],
                prompt_lengths=options["prompt_lengths"],
                sweep_new_tokens=options["sweep_new_tokens"],
                rated_cpu_watts=options["rated_cpu_watts"],
            )
            profile = performance.profile_model(
                model=model, backend=options["backend"], preset=options["preset"], config=config, run=run,
                threads=options["threads"],
                on_start=lambda total: bar.reset(total=total),
                on_progress=lambda label, count: _advance(bar, label, count),
            )
        except BenchsiteError as exc:
            raise CommandError(str(exc), returncode=USAGE_ERROR) from None
        finally:
            bar.close()
        if options["json"]:
            record = {"id": profile.pk, "model": model.name, "preset": profile.preset, "backend": profile.backend,
                      "backend_options": profile.backend_options, "hardware": profile.hardware_label,
                      "config_hash": profile.config_hash, "results": profile.results}
            self.stdout.write(json.dumps(record, indent=2))
            return
        self.stdout.write(
            f"profile {profile.pk}: {model.name} {profile.preset} on {profile.backend} ({profile.hardware_label}): "
            f"{_number(profile.output_tokens_per_s, 'tok/s')}, p50 latency {_number(profile.latency_p50_ms, 'ms')}, "
            f"peak memory {_number(profile.peak_memory_bytes and profile.peak_memory_bytes / 2**20, 'MiB')}, "
            f"energy {_number(profile.energy_per_1k_tokens_j, 'J/1k tokens')} ({profile.energy_source or 'unavailable'})"
        )


def _advance(bar: tqdm, label: str, count: int) -> None:
    bar.set_postfix_str(label, refresh=False)
    bar.update(count)


def _number(value: float | None, unit: str) -> str:
    return "unavailable" if value is None else f"{value:.1f} {unit}"
