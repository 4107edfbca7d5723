"""`manage.py finetune_lora`: train a LoRA on a domain set, register it as a fine-tune, compare it with its base."""
from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluations.management.commands._options import ensure_migrated, run_owner
from evaluations.services import finetunes, model_entries, runs, shards
from runner.errors import BenchsiteError
from runner.finetune import DOMAIN_SETS, LoraSettings

USAGE_ERROR = 2


class Command(BaseCommand):
    help = ("Train a LoRA adapter on CPU on a domain set (non-test splits only), register it as a fine-tune of its "
            "base, and queue (or --run-now) the base and the fine-tune on the same items.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base", required=True, help="registered name, bundled model, GGUF file or HF folder")
        parser.add_argument("--data", default="science",
                            help=f"domain set ({', '.join(DOMAIN_SETS)}) or benchmark slugs separated by commas")
        parser.add_argument("--name", default="", help="the fine-tune's name (default: <base>-lora-<data>)")
        parser.add_argument("--output", type=Path, default=None, help="adapter folder (default: the cache dir)")
        parser.add_argument("--train-items", type=int, default=None, help="train on the first N shuffled items")
        parser.add_argument("--epochs", type=int, default=LoraSettings.epochs)
        parser.add_argument("--rank", type=int, default=LoraSettings.rank)
        parser.add_argument("--alpha", type=int, default=LoraSettings.alpha)
        parser.add_argument("--lr", type=float, default=LoraSettings.learning_rate)
        parser.add_argument("--batch-size", type=int, default=LoraSettings.batch_size)
        parser.add_argument("--max-length", type=int, default=LoraSettings.max_length)
        parser.add_argument("--seed", type=int, default=LoraSettings.seed)
        parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
        parser.add_argument("--compare-limit", type=int, default=200,
                            help="items per benchmark in the comparison runs (default 200; 0: all)")
        parser.add_argument("--no-compare", action="store_true", help="train and register only")
        parser.add_argument("--run-now", action="store_true",
                            help="evaluate base and fine-tune in this process instead of queueing the runs")
        parser.add_argument("--user", default=None, help="username that owns the model and runs")

    def handle(self, *args, **options) -> None:
        ensure_migrated(self.stderr)
        if options["threads"]:
            import torch

            torch.set_num_threads(options["threads"])
        settings = LoraSettings(rank=options["rank"], alpha=options["alpha"], learning_rate=options["lr"],
                                epochs=options["epochs"], batch_size=options["batch_size"],
                                max_length=options["max_length"], seed=options["seed"])
        started = time.perf_counter()
        try:
            user = run_owner(options)
            base = model_entries.model_resolve(reference=options["base"], user=user)
            tuned = finetunes.finetune_lora(base=base, data=options["data"], name=options["name"],
                                            output=options["output"], settings=settings,
                                            train_items=options["train_items"], user=user, on_step=self._step)
        except BenchsiteError as exc:
            raise CommandError(str(exc), returncode=USAGE_ERROR) from None
        report = tuned.report
        self.stdout.write(
            f"trained {tuned.model.name}: {report.examples} items of {', '.join(tuned.domain.train)} (non-test "
            f"splits), {report.steps} steps in {report.seconds:.1f} s, loss {report.first_loss:.3f} -> "
            f"{report.last_loss:.3f}, {report.trainable_parameters:,} trainable parameters, adapter "
            f"{report.adapter_bytes / 1e6:.2f} MB at {tuned.adapter} (sha256 {tuned.model.adapter_sha256[:12]})"
        )
        if options["no_compare"]:
            return
        benchmarks = [*tuned.domain.train, *tuned.domain.general]
        try:
            planned = finetunes.finetune_comparison_plans(tuned=tuned.model, benchmarks=benchmarks,
                                                          limit=options["compare_limit"] or None)
            for plan in planned:
                if options["run_now"]:
                    # In this process, not a forked child: training started torch's OpenMP pool here, and a
                    # child forked after that hangs at its first parallel region (libgomp is not fork-safe).
                    run = shards.run_execute(run=runs.run_create(plan=plan, user=user), plan=plan)
                else:
                    run, _ = runs.run_submit(plan=plan, user=user)
                self.stdout.write(f"run {run.pk}: {plan.model.name} on {', '.join(benchmarks)} ({run.status})")
        except BenchsiteError as exc:
            raise CommandError(str(exc), returncode=USAGE_ERROR) from None
        self.stdout.write(f"finished in {time.perf_counter() - started:.1f} s; compare at "
                          f"/models/{tuned.model.slug}/vs-base/")

    def _step(self, step: int, total: int, loss: float) -> None:
        if step == 1 or step == total or step % 10 == 0:
            self.stderr.write(f"step {step}/{total} loss {loss:.4f}")
