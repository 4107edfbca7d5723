"""A small leaderboard built with the ORM: three ranked models, superseded and unfinished runs, samples."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from evaluations.models import ModelEntry, Run, RunStatus
from tests.leaderboard.factories import (
    BenchmarkFactory,
    ModelEntryFactory,
    SampleFactory,
    ScoreFactory,
    finished_run,
)

ARC_SAMPLES = 60  # 30 correct (even doc ids), 30 incorrect
ASTRONOMY_SAMPLES = 5  # all incorrect


@dataclass
class Board:
    alpha: ModelEntry
    beta: ModelEntry
    gamma: ModelEntry
    idle: ModelEntry
    alpha_run: Run  # alpha's newest finished run: arc_easy, mmlu (+ astronomy), with samples
    alpha_old_run: Run  # alpha's older run: the only one with gsm8k


@pytest.fixture
def board(db) -> Board:
    """Averages: gamma 90 (arc_easy only), beta 60, alpha 53.3 (arc 80, mmlu 50, gsm8k 30 from an older run)."""
    arc = BenchmarkFactory(slug="arc_easy", title="ARC-Easy", primary_metric="acc_norm")
    BenchmarkFactory(slug="gsm8k", title="GSM8K", category="math", primary_metric="exact_match,strict-match")
    BenchmarkFactory(slug="mmlu", title="MMLU", category="knowledge", is_group=True)
    astronomy = BenchmarkFactory(slug="mmlu_astronomy", title="MMLU: astronomy", category="knowledge")

    alpha = ModelEntryFactory(name="alpha", family="llama", parameter_count=1_500_000_000)
    beta = ModelEntryFactory(name="beta")
    gamma = ModelEntryFactory(name="gamma")
    idle = ModelEntryFactory(name="idle")

    alpha_old = finished_run(alpha, {"arc_easy": 0.10, "gsm8k": 0.30}, days_ago=5)
    alpha_run = finished_run(alpha, {"arc_easy": 0.80, "mmlu": 0.50, "mmlu_astronomy": 0.40}, days_ago=1,
                             requested_benchmarks=["arc_easy", "mmlu"], done=65, total=65,
                             dataset_hashes={"arc_easy": "d" * 64, "mmlu_astronomy": "e" * 64},
                             task_spec_hashes={"arc_easy": "5" * 64, "mmlu_astronomy": "6" * 64})
    ScoreFactory(run=alpha_run, benchmark_slug="arc_easy", metric="acc", value=0.75, is_primary=False)
    alpha_run.benchmarks.set([arc, astronomy, BenchmarkFactory(slug="mmlu")])
    # Newer than everything but not finished: never on the leaderboard.
    finished_run(alpha, {"arc_easy": 0.99}, status=RunStatus.FAILED, error="RuntimeError: out of memory")
    finished_run(idle, {"arc_easy": 0.99}, status=RunStatus.RUNNING, finished_at=None)

    finished_run(beta, {"arc_easy": 0.60, "mmlu": 0.60, "gsm8k": 0.60})
    finished_run(gamma, {"arc_easy": 0.90})

    for doc_id in range(ARC_SAMPLES):
        SampleFactory(run=alpha_run, benchmark=arc, doc_id=doc_id, correct=doc_id % 2 == 0)
    for doc_id in range(ASTRONOMY_SAMPLES):
        SampleFactory(run=alpha_run, benchmark=astronomy, doc_id=doc_id, correct=False, target="Mars")
    return Board(alpha, beta, gamma, idle, alpha_run, alpha_old)
