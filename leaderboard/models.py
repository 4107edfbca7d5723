"""The leaderboard's stored aggregates: one row per (suite version, model), kept current by database triggers.

Computing the board from the Score table means a window over every primary score on each request: seconds at
10,000 models × 30 benchmarks × 3 runs. Instead each (suite version, model) keeps its cells and normalised
average in a `BoardRow`, so a page is a sorted, paginated read of one small table. Triggers on the tables the
board derives from (runs, scores, regressions, models, suites) record which models changed in `BoardChange`,
whatever wrote the change (services, the admin, a bulk insert, a data migration); the next read rebuilds
those models' rows first (leaderboard.services.board_sync). Nothing is cached in a process.
"""
from __future__ import annotations

from django.db import models

# A BoardChange with this model id asks for every row of every suite (a suite was added or changed).
EVERY_MODEL = 0


class BoardChange(models.Model):
    """A model whose board rows are out of date; written by triggers (leaderboard migration 0002)."""

    model_id = models.BigIntegerField(primary_key=True)

    def __str__(self) -> str:
        return "every model" if self.model_id == EVERY_MODEL else f"model {self.model_id}"


class BoardRow(models.Model):
    suite = models.ForeignKey("evaluations.Suite", on_delete=models.CASCADE, related_name="board_rows")
    model = models.ForeignKey("evaluations.ModelEntry", on_delete=models.CASCADE, related_name="board_rows")
    cells = models.JSONField(default=dict, help_text="Benchmark slug → the latest public primary score's fields")
    values = models.JSONField(default=list, help_text="Raw primary values in the suite's column order (None: no run)")
    average = models.FloatField(null=True, help_text="Mean of baseline-normalised scores over the covered columns")
    average_stderr = models.FloatField(null=True)
    covered = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["suite", "model"], name="board_row_unique")]

    def __str__(self) -> str:
        return f"{self.model_id} on suite {self.suite_id}"


class BoardCell(models.Model):
    """One sort key of a board row, so every order the page offers is an index scan, not a sort of JSON.

    A row has a cell per benchmark column (`key` = the slug), one for the average (AVERAGE_KEY) and one for
    the name (NAME_KEY). Models without the value go last in both directions (`has_value`), ties by name.
    """

    AVERAGE_KEY, NAME_KEY = "__average__", "__name__"

    suite = models.ForeignKey("evaluations.Suite", on_delete=models.CASCADE, related_name="+", db_index=False)
    row = models.ForeignKey(BoardRow, on_delete=models.CASCADE, related_name="sort_cells")
    key = models.CharField(max_length=100)
    has_value = models.BooleanField()
    value = models.FloatField(help_text="0 where has_value is false")
    sort_name = models.CharField(max_length=200, help_text="The model's name in lower case")
    is_synthetic = models.BooleanField(default=False)
    is_derived = models.BooleanField(default=False, help_text="The model has a base model")

    class Meta:
        indexes = [
            models.Index(fields=["suite", "key", "-has_value", "-value", "sort_name", "row"], name="board_cell_desc_idx"),
            models.Index(fields=["suite", "key", "-has_value", "value", "sort_name", "row"], name="board_cell_asc_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.key} of row {self.row_id}"


class BoardSummary(models.Model):
    """Per suite version: what the board needs from all of its rows (column metrics, correlations)."""

    suite = models.OneToOneField("evaluations.Suite", on_delete=models.CASCADE, primary_key=True,
                                 related_name="board_summary")
    metrics = models.JSONField(default=dict, help_text="Benchmark slug → its primary metric")
    real_models = models.PositiveIntegerField(default=0)
    all_models = models.PositiveIntegerField(default=0, help_text="Synthetic (seed_scale) models included")
    correlations = models.JSONField(default=dict, help_text="Pearson across real models: titles-free matrix")
    correlations_all = models.JSONField(default=dict, help_text="The same with synthetic models")

    def __str__(self) -> str:
        return f"summary of suite {self.suite_id}"
