"""The README's backup and restore, done for real: pg_dump -Fc the test database, pg_restore it into a fresh one,
and every run, sample and score comes back identical (README: Operations)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from evaluations.models import Benchmark, ModelEntry, Run, Sample, Score
from tests.leaderboard.factories import BenchmarkFactory, ModelEntryFactory, SampleFactory, ScoreFactory, finished_run

TOOLS = ("pg_dump", "pg_restore", "createdb", "dropdb")
# Every table a leaderboard is built from, with the columns that order it the same way in both databases.
TABLES = {
    ModelEntry: "id",
    Benchmark: "id",
    Run: "id",
    Run.benchmarks.through: "id",
    Score: "id",
    Sample: "id",
}

pytestmark = [
    pytest.mark.django_db(transaction=True),  # pg_dump sees only committed rows
    pytest.mark.skipif(any(shutil.which(tool) is None for tool in TOOLS),
                       reason=f"needs the PostgreSQL client tools ({', '.join(TOOLS)}) on PATH"),
]


@pytest.fixture
def postgresql_env() -> dict[str, str]:
    if connection.vendor != "postgresql":
        pytest.skip(f"backup and restore are documented for PostgreSQL; the database here is {connection.vendor}")
    database = connection.settings_dict
    env = dict(os.environ)
    for variable, key in (("PGHOST", "HOST"), ("PGPORT", "PORT"), ("PGUSER", "USER"), ("PGPASSWORD", "PASSWORD")):
        if database.get(key):
            env[variable] = str(database[key])
    return env


@pytest.fixture
def fresh_database(postgresql_env) -> Iterator[str]:
    name = f"{connection.settings_dict['NAME']}_restore_{uuid.uuid4().hex[:8]}"
    subprocess.run(["createdb", name], env=postgresql_env, check=True)
    yield name
    subprocess.run(["dropdb", "--if-exists", "--force", name], env=postgresql_env, check=True)


def rows(cursor, model) -> list[tuple]:
    table = model._meta.db_table
    cursor.execute(f'SELECT * FROM "{table}" ORDER BY {TABLES[model]}')
    return cursor.fetchall()


def leaderboard_data() -> None:
    """Two models, three finished runs, scores and samples with the awkward values a dump must keep."""
    alpha = ModelEntryFactory(name="alpha")
    beta = ModelEntryFactory(name="beta ünïcode")
    arc = BenchmarkFactory(slug="arc_easy")
    gsm8k = BenchmarkFactory(slug="gsm8k")
    runs = [
        finished_run(alpha, {"arc_easy": 0.8, "gsm8k": 0.3}, days_ago=2),
        finished_run(alpha, {"arc_easy": 0.81}),
        finished_run(beta, {"arc_easy": 0.6, "gsm8k": 0.6}),
    ]
    ScoreFactory(run=runs[0], benchmark=arc, metric="acc", value=0.123456789012345, stderr=None, is_primary=False)
    for run in runs:
        for doc_id in range(20):
            SampleFactory(run=run, benchmark=arc, doc_id=doc_id, correct=doc_id % 3 == 0)
        SampleFactory(run=run, benchmark=gsm8k, doc_id=0, correct=None, loglikelihoods=None,
                      prompt="Tab\there, a newline\nand 漢字 — “quotes” 'single' \\backslash",
                      output="", details={"checks": [True, False], "judge": {"score": 7.5, "text": "ok"}})


def test_pg_dump_and_pg_restore_give_back_every_run_sample_and_score(postgresql_env, fresh_database, tmp_path: Path):
    leaderboard_data()
    dump = tmp_path / "benchsite.dump"
    source = connection.settings_dict["NAME"]
    subprocess.run(["pg_dump", "-Fc", "--no-owner", "-f", str(dump), source], env=postgresql_env, check=True)
    subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", "-d", fresh_database, str(dump)],
                   env=postgresql_env, check=True)

    with _connect(source) as original_database, original_database.cursor() as cursor:
        original = {model: rows(cursor, model) for model in TABLES}
    assert (len(original[Run]), len(original[Score]), len(original[Sample])) == (3, 6, 63)

    with _connect(fresh_database) as restored, restored.cursor() as cursor:
        for model, expected in original.items():
            assert rows(cursor, model) == expected, f"{model._meta.db_table} differs after the restore"
        # Sequences come back too: the next run gets a new id, not one of the restored ones.
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [Run._meta.db_table])
        assert cursor.fetchone()[0] > max(row[0] for row in original[Run])

    # The README's first check after a restore: every migration of this code is already applied there.
    check = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--check"], cwd=settings.BASE_DIR, capture_output=True, text=True,
        env=postgresql_env | {"DATABASE_URL": _url(connection.settings_dict, fresh_database)},
    )
    assert check.returncode == 0, check.stdout + check.stderr


def _connect(name: str):
    """Plain psycopg for both databases, so both sides decode JSON and timestamps the same way (Django's own
    connection leaves JSON as text)."""
    import psycopg

    database = connection.settings_dict
    return psycopg.connect(dbname=name, host=database["HOST"] or None, port=database["PORT"] or None,
                           user=database["USER"] or None, password=database["PASSWORD"] or None)


def _url(database: dict, name: str) -> str:
    credentials = database["USER"] + (f":{database['PASSWORD']}" if database["PASSWORD"] else "")
    return f"postgres://{credentials}@{database['HOST'] or 'localhost'}:{database['PORT'] or 5432}/{name}"
