"""Seed performance profiles for the bundled models: every chosen preset, llama.cpp backend, this machine.

A profile whose configuration (model file, options, workload, hardware) is already stored is skipped
unless --force is given. The default workload and the CPU sweep grid finish in a few minutes per model
on two CPU cores; results show on /performance/ and /models/<slug>/performance/.

Examples (from the repository root):
    .venv/bin/python bench/profile_models.py --sweep
    .venv/bin/python bench/profile_models.py --presets balanced,memory_optimized --requests 4 --threads 1
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="balanced", help="comma-separated: balanced,performance,memory_optimized")
    parser.add_argument("--models", default=None, help="comma-separated bundled model names (default: all)")
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--sweep", action="store_true", help="also run the CPU scaling sweep")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: all CPUs)")
    parser.add_argument("--force", action="store_true", help="profile again even if an identical profile exists")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")
    import django

    django.setup()
    from evaluations import performance
    from evaluations.services import model_entries
    from evaluations.models import PerformanceProfile
    from runner.environment import hardware
    from runner.presets import preset_options

    config = performance.profile_config(requests=args.requests, prompt_tokens=args.prompt_tokens,
                                        max_new_tokens=args.max_new_tokens, sweep=args.sweep)
    label = performance.hardware_label(hardware())
    names = [name.strip() for name in args.models.split(",")] if args.models else None
    for model in model_entries.model_register_bundled(names=names):
        for preset in [name.strip() for name in args.presets.split(",") if name.strip()]:
            options = preset_options(preset, "llama_cpp")
            if args.threads is not None:
                options["n_threads"] = args.threads
            digest = performance.profile_config_hash(model=model, backend="llama_cpp", backend_options=options,
                                                     config=config.as_dict(), hardware_label=label)
            if not args.force and PerformanceProfile.objects.filter(config_hash=digest).exists():
                print(f"{model.name} {preset}: already profiled on {label}")
                continue
            profile = performance.profile_model(model=model, backend="llama_cpp", preset=preset, config=config,
                                                threads=args.threads)
            memory = profile.peak_memory_bytes / 2**20 if profile.peak_memory_bytes is not None else None
            print(f"{model.name} {preset}: {_figure(profile.output_tokens_per_s, 'tok/s')}, "
                  f"p50 {_figure(profile.latency_p50_ms, 'ms')}, peak {_figure(memory, 'MiB')}, "
                  f"{_figure(profile.energy_per_1k_tokens_j, 'J/1k tokens')} ({profile.energy_source or 'unavailable'})")
    return 0


def _figure(value: float | None, unit: str) -> str:
    return "unavailable" if value is None else f"{value:.1f} {unit}"


if __name__ == "__main__":
    raise SystemExit(main())
