"""Triggers that record in leaderboard_boardchange which models' board rows a write made stale.

PostgreSQL: statement-level triggers with transition tables (one insert per statement, so a bulk insert of a
million scores costs one join, not a million). SQLite: row-level triggers. Both write 0 for "every model"
when a suite changes. The first read after migrating builds every row (the 0 inserted at the end).
"""
from django.db import migrations

# (table, how a changed row names its model)
SOURCES = [
    ("evaluations_run", "model_id"),
    ("evaluations_regression", "model_id"),
    ("evaluations_modelentry", "id"),
    ("evaluations_score", "run_id"),  # through its run
]
EVENTS = {"INSERT": "NEW", "UPDATE": "NEW", "DELETE": "OLD"}


def _postgres(table: str, column: str) -> list[str]:
    function = f"board_change_{table}"
    models = ("SELECT DISTINCT r.model_id FROM changed_rows c JOIN evaluations_run r ON r.id = c.run_id"
              if column == "run_id" else f"SELECT DISTINCT {column} FROM changed_rows")
    statements = [f"""
        CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO leaderboard_boardchange (model_id) {models} ON CONFLICT DO NOTHING;
            RETURN NULL;
        END $$"""]
    for event, row in EVENTS.items():
        statements.append(
            f"CREATE TRIGGER {function}_{event.lower()} AFTER {event} ON {table} "
            f"REFERENCING {row} TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    return statements


def _sqlite(table: str, column: str) -> list[str]:
    statements = []
    for event, row in EVENTS.items():
        models = (f"SELECT model_id FROM evaluations_run WHERE id = {row}.run_id" if column == "run_id"
                  else f"SELECT {row}.{column}")
        statements.append(
            f"CREATE TRIGGER board_change_{table}_{event.lower()} AFTER {event} ON {table} FOR EACH ROW "
            f"BEGIN INSERT OR IGNORE INTO leaderboard_boardchange (model_id) {models}; END"
        )
    return statements


def _suite_statements(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return ["""
            CREATE OR REPLACE FUNCTION board_change_everything() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO leaderboard_boardchange (model_id) VALUES (0) ON CONFLICT DO NOTHING;
                RETURN NULL;
            END $$""", *[
            f"CREATE TRIGGER board_change_suite_{event.lower()} AFTER {event} ON evaluations_suite "
            f"FOR EACH STATEMENT EXECUTE FUNCTION board_change_everything()" for event in EVENTS]]
    return [f"CREATE TRIGGER board_change_suite_{event.lower()} AFTER {event} ON evaluations_suite FOR EACH ROW "
            f"BEGIN INSERT OR IGNORE INTO leaderboard_boardchange (model_id) VALUES (0); END" for event in EVENTS]


def create(apps, schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    build = {"postgresql": _postgres, "sqlite": _sqlite}.get(vendor)
    if build is None:
        raise RuntimeError(f"board triggers are written for PostgreSQL and SQLite, not {vendor}")
    for table, column in SOURCES:
        for statement in build(table, column):
            schema_editor.execute(statement)
    for statement in _suite_statements(vendor):
        schema_editor.execute(statement)
    schema_editor.execute("INSERT INTO leaderboard_boardchange (model_id) VALUES (0)")


def drop(apps, schema_editor) -> None:
    postgres = schema_editor.connection.vendor == "postgresql"
    for table, _ in [*SOURCES, ("evaluations_suite", "")]:
        for event in EVENTS:
            name = (f"board_change_suite_{event.lower()}" if table == "evaluations_suite"
                    else f"board_change_{table}_{event.lower()}")
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgres else ""))
    if postgres:
        for table, _ in SOURCES:
            schema_editor.execute(f"DROP FUNCTION IF EXISTS board_change_{table}()")
        schema_editor.execute("DROP FUNCTION IF EXISTS board_change_everything()")


class Migration(migrations.Migration):
    dependencies = [
        ("leaderboard", "0001_board_rows"),
        ("evaluations", "0012_modelentry_is_synthetic"),
    ]
    operations = [migrations.RunPython(create, drop)]
