"""Real runs for the comparison tests: two models evaluated through the services with a per-model stand-in.

The test suite's fake backend answers from the text alone, so two models would agree on every item; this
stand-in also hashes the model's location, so each model answers differently (and still deterministically).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from evaluations.models import ModelEntry, Run, RunStatus, Suite
from evaluations.services import benchmarks, plans, runs, shards
from runner.backends.base import Generation, LoglikelihoodResult, truncate_at_stop
from tests.fake_backend import DeterministicFakeBackend
from tests.leaderboard.factories import ModelEntryFactory

BACKEND = "fake_per_model"
# Multiple choice (binary acc/acc_norm), a group clustered by subject, and generation with exact match.
BENCHMARKS = ["arc_easy", "mmlu", "gsm8k"]
LIMITS = {"arc_easy": 40, "mmlu": 2, "gsm8k": 12}


def _unit(*parts: str) -> float:
    return int.from_bytes(hashlib.sha256("\x00".join(parts).encode()).digest()[:8], "big") / 2**64


class PerModelFakeBackend(DeterministicFakeBackend):
    """Scores from a hash of the model's file name and the text. Not a model; never a result."""

    name = BACKEND

    def __init__(self, location: str = "fake", **options) -> None:
        super().__init__(Path(location).name, **options)  # the name, not the temporary folder: same every run

    def loglikelihood(self, requests):
        return [LoglikelihoodResult(-10 * _unit(self.location, r.context, r.continuation), False,
                                    len(r.continuation)) for r in requests]

    def generate(self, requests):
        outputs = []
        for request in requests:
            # One in three answers is the gold's last number when the prompt's hash says so: some agreement.
            number = int(_unit(self.location, request.prompt) * 3)
            text = truncate_at_stop(f" The answer is {number}.\n#### {number}\n\nQuestion:", request.stop)
            outputs.append(Generation(text, len(request.prompt), len(text)))
        return outputs


def register() -> None:
    from runner.backends import available_backends, register_backend

    if BACKEND not in available_backends():
        register_backend(BACKEND, PerModelFakeBackend)


@dataclass
class CompareWorld:
    alpha: ModelEntry
    beta: ModelEntry
    alpha_run: Run
    beta_run: Run
    suite: Suite


def evaluate(model: ModelEntry, *, backend: str = BACKEND, benchmarks_: list[str] | None = None,
             limits: dict[str, int] | None = None, pin: bool = True, **create) -> tuple[Run, Suite | None]:
    plan = plans.run_plan(model=model, backend=backend, benchmarks=benchmarks_ or BENCHMARKS,
                          limits=limits or LIMITS)
    suite = benchmarks.suite_pin(slug="demo", plan=plan) if pin else None
    run = shards.run_execute(run=runs.run_create(plan=plan, suite=suite, **create), plan=plan)
    assert run.status == RunStatus.FINISHED, run.error
    return run, suite


def build_compare_world(folder: Path) -> CompareWorld:
    """alpha and beta, each evaluated once on the demo-like suite pinned by alpha's plan."""
    register()
    models = []
    for name in ("alpha", "beta"):
        location = folder / f"{name}.gguf"
        location.write_bytes(b"not a model")
        models.append(ModelEntryFactory(name=name, location=str(location)))
    alpha, beta = models
    alpha_run, suite = evaluate(alpha)
    beta_run, same = evaluate(beta)
    assert same == suite
    return CompareWorld(alpha, beta, alpha_run, beta_run, suite)
