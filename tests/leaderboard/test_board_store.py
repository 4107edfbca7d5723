"""The stored board (leaderboard.models) follows every write to what it derives from, whoever writes it.

Database triggers mark changed models; the next read rebuilds them. Each test writes in a way no Django
signal would see (bulk_create, queryset.update, raw SQL) and checks the board against a full rebuild.
"""
from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection

from evaluations.models import ModelEntry, Run, Score, Suite
from leaderboard import selectors
from leaderboard.models import BoardChange, BoardRow
from leaderboard.services import board_rebuild
from tests.leaderboard.conftest import Board
from tests.leaderboard.factories import BenchmarkFactory, ModelEntryFactory, SuiteFactory, finished_run

pytestmark = pytest.mark.django_db


def shown() -> dict[str, list[float | None]]:
    return {row.model.name: [cell.value if cell else None for cell in row.cells]
            for row in selectors.leaderboard_rows().rows}


def stored() -> list[tuple]:
    return sorted(BoardRow.objects.values_list("suite_id", "model_id", "cells", "values", "average", "covered"))


def assert_equals_a_full_rebuild() -> None:
    incremental = stored()
    board_rebuild()
    assert stored() == incremental


def test_a_bulk_inserted_score_is_on_the_next_read(board: Board):
    assert shown()["beta"] == [0.6, 0.6, 0.6]
    score = Score.objects.get(run__model=board.beta, benchmark__slug="gsm8k")
    run = finished_run(board.beta, {})
    Score.objects.bulk_create([Score(run=run, benchmark=score.benchmark, metric=score.metric, value=0.9, stderr=0.01,
                                     n=100, is_primary=True, config_key=score.config_key, normalized=0.9)])
    assert shown()["beta"] == [0.6, 0.6, 0.9]
    assert not BoardChange.objects.exists()
    assert_equals_a_full_rebuild()


def test_a_run_made_private_by_a_queryset_update_leaves_the_board(board: Board):
    assert "beta" in shown()
    Run.objects.filter(model=board.beta).update(is_private=True)
    assert "beta" not in shown()
    Run.objects.filter(model=board.beta).update(is_private=False)
    assert "beta" in shown()
    assert_equals_a_full_rebuild()


def test_deleting_a_run_or_a_model_takes_its_cells_away(board: Board):
    board.alpha_run.delete()
    assert shown()["alpha"] == [0.10, None, 0.30]  # the older run's scores come back
    ModelEntry.every.filter(pk=board.beta.pk).delete()
    assert "beta" not in shown()
    assert_equals_a_full_rebuild()


def test_a_raw_sql_update_of_a_value_is_seen(board: Board):
    score = Score.objects.get(run__model=board.gamma, benchmark__slug="arc_easy", config_key__isnull=False,
                              run__finished_at__isnull=False, value=0.90)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE evaluations_score SET value = %s WHERE id = %s", [0.25, score.pk])
    assert shown()["gamma"][0] == 0.25


def test_a_new_suite_version_gets_rows_for_every_model(board: Board):
    arc_key = board.suite.entries["arc_easy"]
    newer = SuiteFactory(slug="standard", version="2", order=["arc_easy"])
    Suite.objects.filter(pk=newer.pk).update(entries={"arc_easy": arc_key})
    board_v2 = selectors.leaderboard_rows(suite_id=newer.pk)
    assert {row.model.name: row.cells[0].value for row in board_v2.rows} == {"alpha": 0.8, "beta": 0.6, "gamma": 0.9}
    assert_equals_a_full_rebuild()


def test_a_page_is_sorted_and_cut_by_the_database(board: Board):
    for index in range(5):
        finished_run(ModelEntryFactory(name=f"extra-{index}"), {"arc_easy": 0.2 + index / 10})
    first = selectors.leaderboard_rows(sort="arc_easy", descending=False, page=1, page_size=3)
    second = selectors.leaderboard_rows(sort="arc_easy", descending=False, page=2, page_size=3)
    every = selectors.leaderboard_rows(sort="arc_easy", descending=False)
    names = [row.model.name for row in every.rows]
    assert [row.model.name for row in first.rows + second.rows] == names[:6]
    assert first.page.paginator.count == len(every.rows) == 8
    assert names == sorted(names, key=lambda name: (shown()[name][0], name))  # by value, ties by name
    assert names[:3] == ["extra-0", "extra-1", "extra-2"]


def test_refresh_leaderboard_rebuilds_changed_models_or_all(board: Board, capsys):
    selectors.leaderboard_rows()
    finished_run(board.beta, {"arc_easy": 0.1})
    call_command("refresh_leaderboard")
    assert "rebuilt the board rows of 1 model(s)" in capsys.readouterr().out
    call_command("refresh_leaderboard", "--all")
    assert "rebuilt the board rows of 3 model(s)" in capsys.readouterr().out
    assert shown()["beta"][0] == 0.1


def test_synthetic_models_are_stored_but_shown_only_when_asked(board: Board, settings):
    BenchmarkFactory(slug="arc_easy")
    fake = ModelEntryFactory(name="made-up", is_synthetic=True)
    finished_run(fake, {"arc_easy": 0.99})
    assert "made-up" not in shown()
    settings.BENCHSITE_SHOW_SYNTHETIC = True
    assert "made-up" in shown()
