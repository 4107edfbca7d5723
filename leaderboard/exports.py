"""CSV and JSON downloads of what the pages show: the leaderboard (its filters), a run's samples, a comparison."""
from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence

from django.http import HttpResponse, StreamingHttpResponse

from evaluations.compare import Comparison
from leaderboard.selectors import Leaderboard

CSV = "csv"
JSON = "json"
FORMATS = (CSV, JSON)


# -- tables ---------------------------------------------------------------------------------------
def leaderboard_records(board: Leaderboard) -> list[dict]:
    """One record per row in the board's order: each column's value, stderr, n and run, and the average."""
    records = []
    for rank, row in enumerate(board.rows, start=1):
        record: dict = {"rank": rank, "model": row.model.slug, "model_name": row.model.name,
                        "parameters": row.model.parameter_count}
        for column, cell in zip(board.columns, row.cells):
            record[f"{column.slug}"] = cell.value if cell else None
            record[f"{column.slug}_stderr"] = cell.stderr if cell else None
            record[f"{column.slug}_n"] = cell.n if cell else None
            record[f"{column.slug}_run"] = cell.run_id if cell else None
            record[f"{column.slug}_regression"] = cell.regressed if cell else None
        record.update(normalized_average=row.average, normalized_average_stderr=row.average_stderr,
                      benchmarks_covered=row.covered)
        records.append(record)
    return records


def leaderboard_document(board: Leaderboard) -> dict:
    return {
        "suite": {"id": board.suite.pk, "slug": board.suite.slug, "version": board.suite.version,
                  "title": board.suite.title} if board.suite else None,
        "sort": board.sort, "descending": board.descending,
        "columns": [{"benchmark": c.slug, "title": c.title, "metric": c.metric} for c in board.columns],
        "rows": leaderboard_records(board),
    }


def leaderboard_header(board: Leaderboard) -> list[str]:
    per_column = [f"{c.slug}{suffix}" for c in board.columns
                  for suffix in ("", "_stderr", "_n", "_run", "_regression")]
    return ["rank", "model", "model_name", "parameters", *per_column, "normalized_average",
            "normalized_average_stderr", "benchmarks_covered"]


def comparison_records(comparison: Comparison) -> list[dict]:
    """Every pair's benchmark rows (first model minus the other), flattened as the API names them."""
    records = []
    for pair in comparison.pairs:
        for row in pair.rows:
            data = row.as_dict()
            scores = data.pop("scores")
            records.append({"model_a": pair.model_a.slug, "model_b": pair.model_b.slug,
                            "score_a": scores[pair.model_a.slug], "score_b": scores[pair.model_b.slug], **data})
    return records


COMPARISON_HEADER = ["model_a", "model_b", "benchmark", "metric", "n_shared", "score_a", "score_b", "delta", "ci_low",
                     "ci_high", "p_value", "p_value_holm", "test", "correlation", "se", "clusters",
                     "minimum_detectable_difference", "verdict"]


def comparison_document(comparison: Comparison) -> dict:
    return {"suite": {"id": comparison.suite.pk, "slug": comparison.suite.slug, "version": comparison.suite.version},
            "models": [model.slug for model in comparison.models], "alpha": comparison.alpha,
            "rows": comparison_records(comparison)}


# -- responses ------------------------------------------------------------------------------------
class _Echo:
    """A file-like object whose write returns the line, for streaming csv.writer output."""

    def write(self, value: str) -> str:
        return value


def csv_response(filename: str, header: Sequence[str], records: Iterable[dict]) -> StreamingHttpResponse:
    """Streamed, so a run of 100k samples never sits in memory; None is an empty cell, booleans true/false."""
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(header)
        for record in records:
            yield writer.writerow([_cell(record.get(name)) for name in header])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def json_response(filename: str, document: dict) -> HttpResponse:
    response = HttpResponse(json.dumps(document, indent=1, ensure_ascii=False, default=str),
                            content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def json_lines_document(filename: str, head: dict, key: str, records: Iterable[dict]) -> StreamingHttpResponse:
    """{...head, key: [records…]} streamed record by record."""
    def chunks() -> Iterator[str]:
        opening = json.dumps(head, ensure_ascii=False)[:-1]
        yield (opening + ", " if head else "{") + json.dumps(key) + ": ["
        for index, record in enumerate(records):
            yield ("," if index else "") + "\n" + json.dumps(record, ensure_ascii=False, default=str)
        yield "\n]}\n"

    response = StreamingHttpResponse(chunks(), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
