"""Keeping the stored board (leaderboard.models) equal to what the Score table says.

`board_sync` is called before every board read: it takes the models the triggers marked as changed and
rebuilds their rows, usually none (one indexed read). `board_rebuild` is the same computation for given
models or all of them (`manage.py refresh_leaderboard`).
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from statistics import fmean

import numpy as np
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Window
from django.db.models.functions import RowNumber

from evaluations import statistics
from evaluations.models import ModelEntry, Regression, RunStatus, Score, Suite
from leaderboard.models import EVERY_MODEL, BoardCell, BoardChange, BoardRow, BoardSummary

CELL_FIELDS = ("value", "stderr", "n", "run_id", "normalized", "normalized_stderr", "scale_max", "regressed", "metric")
BATCH = 2000


def board_sync() -> int:
    """Rebuild the rows of models changed since the last read; returns how many models were rebuilt.

    The markers are deleted before the rebuild reads the scores, so a write that lands meanwhile marks
    its model again and the next read picks it up: nothing is missed, at worst rebuilt twice.
    """
    changed = set(BoardChange.objects.values_list("model_id", flat=True))
    if not changed:
        return 0
    BoardChange.objects.filter(model_id__in=changed).delete()
    if EVERY_MODEL in changed:
        return board_rebuild()
    return board_rebuild(model_ids=changed)


def board_rebuild(*, model_ids: Iterable[int] | None = None) -> int:
    """Recompute the board rows of these models (all when None) for every suite version, then the summaries."""
    ids = None if model_ids is None else sorted(set(model_ids))
    suites = list(Suite.objects.all())
    rows = _rows_for(suites, ids)
    with transaction.atomic():
        stale = BoardRow.objects.all() if ids is None else BoardRow.objects.filter(model_id__in=ids)
        stale.delete()
        BoardRow.objects.bulk_create(rows, batch_size=BATCH)
        BoardCell.objects.bulk_create(_sort_cells(rows), batch_size=BATCH)
        for suite in suites:
            _summarise(suite)
    return len({row.model_id for row in rows}) if ids is None else len(ids)


def _rows_for(suites: list[Suite], model_ids: list[int] | None) -> list[BoardRow]:
    wanted: dict[str, list[tuple[Suite, str]]] = defaultdict(list)  # config key → (suite, benchmark slug)
    for suite in suites:
        for slug, key in suite.entries.items():
            wanted[key].append((suite, slug))
    if not wanted:
        return []
    scores = _latest_public_primary_scores(config_keys=list(wanted), model_ids=model_ids)
    cells: dict[tuple[int, int], dict[str, dict]] = defaultdict(dict)  # (suite, model) → slug → cell
    for score in scores:
        for suite, slug in wanted[score["config_key"]]:
            cells[(suite.pk, score["run__model_id"])][slug] = {name: score[name] for name in CELL_FIELDS}
    by_pk = {suite.pk: suite for suite in suites}
    return [_row(by_pk[suite_id], model_id, model_cells) for (suite_id, model_id), model_cells in cells.items()]


def _sort_cells(rows: list[BoardRow]) -> list[BoardCell]:
    """Each row's sort keys: every column of its suite, its average and its name (see BoardCell)."""
    models = {pk: (name, synthetic, base is not None) for pk, name, synthetic, base in ModelEntry.every.filter(
        pk__in={row.model_id for row in rows}).values_list("pk", "name", "is_synthetic", "base_model_id")}
    cells = []
    for row in rows:
        name, synthetic, derived = models[row.model_id]
        keys = dict(zip(_column_order(row.suite), row.values))
        keys[BoardCell.AVERAGE_KEY] = row.average
        keys[BoardCell.NAME_KEY] = 0.0
        cells.extend(BoardCell(suite_id=row.suite_id, row=row, key=key, has_value=value is not None,
                               value=value or 0.0, sort_name=name.lower()[:200], is_synthetic=synthetic,
                               is_derived=derived) for key, value in keys.items())
    return cells


def _latest_public_primary_scores(*, config_keys: list[str], model_ids: list[int] | None) -> list[dict]:
    """Per (model, benchmark, configuration key): the primary score of the most recent public finished run."""
    recency = Window(
        RowNumber(),
        partition_by=[F("run__model_id"), F("benchmark__slug"), F("config_key")],
        order_by=[F("run__finished_at").desc(nulls_last=True), F("run__created_at").desc(), F("run_id").desc()],
    )
    scores = Score.objects.filter(is_primary=True, run__status=RunStatus.FINISHED, run__is_private=False,
                                  config_key__in=config_keys)
    if model_ids is not None:
        scores = scores.filter(run__model_id__in=model_ids)
    regressed = Exists(Regression.objects.filter(run_id=OuterRef("run_id"), benchmark_id=OuterRef("benchmark_id")))
    fields = [name for name in CELL_FIELDS if name != "regressed"]
    return list(scores.annotate(recency=recency, regressed=regressed).filter(recency=1)
                .values("run__model_id", "config_key", "regressed", *fields))


def _row(suite: Suite, model_id: int, cells: dict[str, dict]) -> BoardRow:
    """The average of baseline-normalised scores; its standard error treats benchmarks as independent."""
    order = _column_order(suite)
    present = [cell for slug, cell in cells.items() if slug in order and cell["normalized"] is not None]
    average = stderr = None
    if present:
        average = fmean(cell["normalized"] for cell in present)
        errors = [cell["normalized_stderr"] for cell in present]
        if all(error is not None for error in errors):
            stderr = math.sqrt(sum(error * error for error in errors)) / len(present)
    values = [cells[slug]["value"] if slug in cells else None for slug in order]
    return BoardRow(suite=suite, model_id=model_id, cells=cells, values=values, average=average,
                    average_stderr=stderr, covered=len(present))


def _column_order(suite: Suite) -> list[str]:
    return [slug for slug in (suite.order or sorted(suite.entries)) if slug in suite.entries]


def _summarise(suite: Suite) -> None:
    rows = list(BoardRow.objects.filter(suite=suite).values_list("cells", "values", "model__is_synthetic"))
    metrics: dict[str, str] = {}
    for cells, _, _ in rows:
        for slug, cell in cells.items():
            metrics.setdefault(slug, cell["metric"])
        if len(metrics) == len(suite.entries):
            break
    real = [values for _, values, synthetic in rows if not synthetic]
    BoardSummary.objects.update_or_create(suite=suite, defaults={
        "metrics": metrics, "real_models": len(real), "all_models": len(rows),
        "correlations": correlations_of(real), "correlations_all": correlations_of([values for _, values, _ in rows]),
    })


def correlations_of(rows: list[list[float | None]]) -> dict:
    """Pearson across models of each pair of columns with at least three models (indexes into the order)."""
    if not rows:
        return {"columns": [], "pearson": [], "n": []}
    matrix = np.array([[np.nan if value is None else value for value in values] for values in rows], dtype=float)
    kept = [index for index in range(matrix.shape[1]) if (~np.isnan(matrix[:, index])).sum() >= 3]
    r, n = statistics.pearson_pairwise(matrix[:, kept])
    pearson = [[None if np.isnan(value) else round(float(value), 4) for value in line] for line in r]
    return {"columns": kept, "pearson": pearson, "n": n.tolist()}
