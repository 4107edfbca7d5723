"""Results in lm-evaluation-harness's format: validated against the harness's own schema (lm_eval.result_schema,
0.4.13) and rendered by its own results table."""
from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from pydantic import TypeAdapter

from evaluations import exports
from evaluations.models import Sample
from tests.leaderboard.conftest import Board, board  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db

lm_eval_schema = pytest.importorskip("lm_eval.result_schema", reason="lm-evaluation-harness (requirements-dev.txt)")
lm_eval_utils = pytest.importorskip("lm_eval.utils")


def test_a_runs_results_match_the_harness_schema_and_render_in_its_table(client: Client, board: Board):
    document = client.get(reverse("leaderboard:run_harness_results", args=[board.alpha_run.pk])).json()

    validated = TypeAdapter(lm_eval_schema.EvalResults).validate_python(document, strict=True)

    assert validated["results"]["arc_easy"]["acc_norm,none"] == 0.8
    assert validated["results"]["arc_easy"]["acc_norm_stderr,none"] == 0.05
    assert validated["groups"]["mmlu"]["acc,none"] == 0.5
    assert validated["group_subtasks"] == {"mmlu": ["mmlu_astronomy"], "arc_easy": []}
    assert validated["n-samples"]["arc_easy"] == {"original": 100, "effective": 100}
    table = lm_eval_utils.make_table(document)
    rows = [line.split("|") for line in table.splitlines()]
    arc = [[cell.strip() for cell in row] for row in rows if len(row) > 9 and row[1].strip() == "arc_easy"]
    assert {(row[5], row[7], row[9]) for row in arc} == {("acc", "0.75", "0.05")}  # its first metric's row
    assert ["", "", "", "none", "0", "acc_norm", "↑", "0.80", "±", "0.05", ""] in [
        [cell.strip() for cell in row] for row in rows]  # the next metric's row, the task column left blank
    assert "- mmlu_astronomy" in table  # the harness indents a group's members itself
    assert "|mmlu" in lm_eval_utils.make_table(document, "groups")


def test_filtered_metrics_keep_their_filter_and_samples_match_the_sample_schema(board: Board):
    from tests.leaderboard.factories import ScoreFactory, BenchmarkFactory

    gsm8k = BenchmarkFactory(slug="gsm8k")
    ScoreFactory(run=board.alpha_run, benchmark=gsm8k, metric="exact_match,strict-match", value=0.25, stderr=None)
    sample = Sample.objects.filter(run=board.alpha_run, benchmark__slug="arc_easy").first()

    results = exports.harness_results(board.alpha_run)
    line = exports.harness_sample(sample)

    assert results["results"]["gsm8k"]["exact_match,strict-match"] == 0.25
    assert "exact_match_stderr,strict-match" not in results["results"]["gsm8k"]  # unknown, left out
    TypeAdapter(lm_eval_schema.EvalResults).validate_python(results, strict=True)
    TypeAdapter(lm_eval_schema.SampleResult).validate_python(line)
    assert line["doc_id"] == sample.doc_id and line["acc"] == 1.0 and line["metrics"] == ["acc"]
