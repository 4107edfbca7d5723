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
        indexes = [models.Index(fields=["suite", "average"], name="board_row_average_idx")]

    def __str__(self) -> str:
        return f"{self.model_id} on suite {self.suite_id}"


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
