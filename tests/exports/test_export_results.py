"""`export_results DIR`: the model/benchmark/preset layout, a signed manifest of hashes, and --check."""
from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from evaluations import manifests
from tests.leaderboard.conftest import Board, board  # noqa: F401 (the fixture)
from tests.leaderboard.factories import finished_run

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def site_key(tmp_path, settings):
    settings.BENCHSITE_SIGNING_KEY = str(tmp_path / "key.pem")


def test_an_export_lays_runs_out_by_model_benchmark_and_preset_with_hashes(board: Board, tmp_path, capsys):
    owner = get_user_model().objects.create_user("owner", "owner@example.org", "pw")
    secret = finished_run(board.beta, {"arc_easy": 0.1}, is_private=True, created_by=owner, preset="balanced")
    board.alpha_run.preset = "balanced"
    board.alpha_run.save(update_fields=["preset"])
    out = tmp_path / "export"

    call_command("export_results", str(out))

    folder = out / "alpha" / "arc_easy" / "balanced" / f"run-{board.alpha_run.pk}"
    assert sorted(p.name for p in folder.iterdir()) == ["log.json", "metrics.json", "predictions.jsonl",
                                                        "results.json"]
    predictions = [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 60 and predictions[1]["acc"] == 0.0 and predictions[0]["resps"][0] == [["-1.5", "False"]]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert {(m["metric"], m["value"]) for m in metrics["metrics"]} == {("acc_norm", 0.8), ("acc", 0.75)}
    assert json.loads((folder / "log.json").read_text())["config_hash"] == board.alpha_run.config_hash
    assert (out / "alpha" / "gsm8k" / "custom" / f"run-{board.alpha_old_run.pk}" / "metrics.json").is_file()
    assert not list(out.glob(f"beta/*/*/run-{secret.pk}"))  # a private run stays out unless asked

    document = json.loads((out / "manifest.json").read_text())
    assert manifests.manifest_verify(document).valid
    listed = {entry["path"] for entry in document["manifest"]["files"]}
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {"manifest.json"}
    assert listed == written
    signed = json.loads((out / "alpha" / "manifests" / f"run-{board.alpha_run.pk}.json").read_text())
    assert manifests.manifest_verify(signed).valid and signed["manifest"]["run_id"] == board.alpha_run.pk

    call_command("export_results", str(out), "--check")
    assert "OK:" in capsys.readouterr().out
    (folder / "predictions.jsonl").write_text("tampered\n")
    with pytest.raises(CommandError, match=r"predictions\.jsonl: sha256 differs"):
        call_command("export_results", str(out), "--check")
    with pytest.raises(CommandError, match="not empty"):
        call_command("export_results", str(out))


def test_an_export_can_include_private_runs_and_one_model(board: Board, tmp_path):
    owner = get_user_model().objects.create_user("owner", "owner@example.org", "pw")
    secret = finished_run(board.beta, {"arc_easy": 0.1}, is_private=True, created_by=owner)

    call_command("export_results", str(tmp_path / "x"), "--include-private", "--model", "beta")

    runs = json.loads((tmp_path / "x" / "manifest.json").read_text())["manifest"]["runs"]
    assert secret.pk in runs and {p.name for p in (tmp_path / "x").iterdir()} == {"beta", "manifest.json"}
