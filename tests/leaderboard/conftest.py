"""A small leaderboard built with the ORM: a suite version, three ranked models, superseded and unfinished runs,
scores under another configuration, samples."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from evaluations.models import ModelEntry, Run, RunStatus, Suite
from tests.leaderboard.factories import (
    BenchmarkFactory,
    ModelEntryFactory,
    SampleFactory,
    ScoreFactory,
    SuiteFactory,
    finished_run,
)

ARC_SAMPLES = 60  # 30 correct (even doc ids), 30 incorrect
ASTRONOMY_SAMPLES = 5  # all incorrect
BOARD_BENCHMARKS = ["arc_easy", "mmlu", "gsm8k"]  # the suite's column order


@dataclass
class Board:
    alpha: ModelEntry
    beta: ModelEntry
    gamma: ModelEntry
    idle: ModelEntry
    alpha_run: Run  # alpha's newest finished run: arc_easy, mmlu (+ astronomy), with samples
    alpha_old_run: Run  # alpha's older run: the only one with gsm8k
    suite: Suite  # the "standard" suite version every score above is keyed for


def normalised(value: float, chance: float) -> float:
    return (value - chance) / (1 - chance)


# arc_easy and mmlu are 4-way multiple choice (chance 0.25); gsm8k's exact match has chance 0.
ALPHA_AVERAGE = (normalised(0.80, 0.25) + normalised(0.50, 0.25) + 0.30) / 3  # 45.6
BETA_AVERAGE = (normalised(0.60, 0.25) * 2 + 0.60) / 3  # 51.1
GAMMA_AVERAGE = normalised(0.90, 0.25)  # 86.7, over arc_easy only


@pytest.fixture
def board(db) -> Board:
    """Normalised averages: gamma 86.7 (arc_easy only), beta 51.1, alpha 45.6 (arc 80, mmlu 50 and gsm8k 30
    from an older run). Unfinished runs and gamma's newer run under another configuration count for nothing."""
    arc = BenchmarkFactory(slug="arc_easy", title="ARC-Easy", primary_metric="acc_norm")
    BenchmarkFactory(slug="gsm8k", title="GSM8K", category="math", primary_metric="exact_match,strict-match")
    mmlu = BenchmarkFactory(slug="mmlu", title="MMLU", category="knowledge", is_group=True,
                            task_spec={"members": ["mmlu_anatomy", "mmlu_astronomy"]})
    astronomy = BenchmarkFactory(slug="mmlu_astronomy", title="MMLU: astronomy", category="knowledge")
    suite = SuiteFactory(slug="standard", order=BOARD_BENCHMARKS)

    alpha = ModelEntryFactory(name="alpha", family="llama", parameter_count=1_500_000_000)
    beta = ModelEntryFactory(name="beta")
    gamma = ModelEntryFactory(name="gamma")
    idle = ModelEntryFactory(name="idle")

    alpha_old = finished_run(alpha, {"arc_easy": 0.10, "gsm8k": 0.30}, days_ago=5)
    alpha_run = finished_run(alpha, {"arc_easy": 0.80, "mmlu": 0.50, "mmlu_astronomy": 0.40}, days_ago=1,
                             requested_benchmarks=["arc_easy", "mmlu"], done=65, total=65,
                             dataset_hashes={"arc_easy": "d" * 64, "mmlu_astronomy": "e" * 64},
                             task_spec_hashes={"arc_easy": "5" * 64, "mmlu_astronomy": "6" * 64})
    ScoreFactory(run=alpha_run, benchmark=arc, metric="acc", value=0.75, is_primary=False)
    alpha_run.benchmarks.set([arc, astronomy, mmlu])
    # Newer than everything but not finished: never on the leaderboard.
    finished_run(alpha, {"arc_easy": 0.99}, status=RunStatus.FAILED, error="RuntimeError: out of memory")
    finished_run(idle, {"arc_easy": 0.99}, status=RunStatus.RUNNING, finished_at=None)

    finished_run(beta, {"arc_easy": 0.60, "mmlu": 0.60, "gsm8k": 0.60})
    finished_run(gamma, {"arc_easy": 0.90}, days_ago=2)
    # Finished and newer, but on other items: another configuration than the suite's, so not on this board.
    finished_run(gamma, {"arc_easy": 0.98}, variant="subset")

    for doc_id in range(ARC_SAMPLES):
        SampleFactory(run=alpha_run, benchmark=arc, doc_id=doc_id, correct=doc_id % 2 == 0)
    for doc_id in range(ASTRONOMY_SAMPLES):
        SampleFactory(run=alpha_run, benchmark=astronomy, doc_id=doc_id, correct=False, target="Mars")
    return Board(alpha, beta, gamma, idle, alpha_run, alpha_old, suite)
