"""finetune_lora on the tiny random Llama: trains on non-test items only, registers the fine-tune, plans the pair."""
from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from evaluations.models import ModelEntry, Run, RunStatus
from evaluations.services import model_entries
from runner.finetune import DOMAIN_SETS, TRAINING_MANIFEST, domain_set, evaluated_item_ids, training_examples

pytestmark = pytest.mark.django_db


def test_the_science_set_never_holds_an_evaluated_item():
    science = DOMAIN_SETS["science"]
    examples = training_examples(science.train)
    evaluated = evaluated_item_ids(science.train)
    assert len(examples) == 867 and len(evaluated) == 3548
    assert not {example.item_id for example in examples} & evaluated
    assert all(example.continuation.startswith(" ") for example in examples)


def test_unknown_domain_sets_are_refused_by_name():
    from runner.errors import BenchsiteError

    with pytest.raises(BenchsiteError, match="unknown domain set or benchmark 'nope'"):
        domain_set("arc_easy,nope")


def test_finetune_lora_trains_registers_and_evaluates_the_paired_runs(tiny_llama_dir, tmp_path, capsys):
    base = model_entries.model_register(name="tiny-base", location=str(tiny_llama_dir), source_kind="local",
                                        parameter_count=30_000)
    adapter = tmp_path / "adapter"
    call_command("finetune_lora", "--base", "tiny-base", "--data", "science", "--train-items", "8", "--batch-size",
                 "4", "--rank", "2", "--output", str(adapter), "--compare-limit", "2", "--name", "tiny-science",
                 "--run-now")  # evaluated in this process after training (a forked child hung here once)
    out = capsys.readouterr().out
    tuned = ModelEntry.objects.get(name="tiny-science")
    assert (tuned.base_model, tuned.base_relation) == (base, ModelEntry.Relation.FINE_TUNE)
    assert (adapter / "adapter_config.json").is_file() and len(tuned.adapter_sha256) == 64
    assert "8 items of arc_easy, arc_challenge" in out and "2 steps" in out
    trained = {item["id"] for item in json.loads((adapter / TRAINING_MANIFEST).read_text())["items"]}
    assert len(trained) == 8 and not trained & evaluated_item_ids(("arc_easy", "arc_challenge"))
    pair = list(Run.objects.filter(model__in=[base, tuned]).order_by("pk"))
    assert [run.model for run in pair] == [base, tuned]
    assert {run.status for run in pair} == {RunStatus.FINISHED}
    assert all(run.scores.filter(is_primary=True).count() == 6 for run in pair)
    assert pair[0].config["tasks"] == pair[1].config["tasks"]  # same items, so the differences pair
    assert pair[1].config["model"]["adapter_sha256"] == tuned.adapter_sha256
    assert pair[0].requested_benchmarks == ["arc_easy", "arc_challenge", "hellaswag", "winogrande", "piqa", "boolq"]
