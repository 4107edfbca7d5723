"""Lineage: base → fine-tune / merge / adapter / quantization, validated where it is set; adapters hashed."""
from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from evaluations.models import ModelEntry
from evaluations.services import model_entries, plans, responses, runs, shards
from evaluations.services.model_entries import LineageError, model_set_lineage

pytestmark = pytest.mark.django_db


def entry(name: str, **fields) -> ModelEntry:
    return ModelEntry.objects.create(name=name, location=f"/models/{name}", source_kind="local",
                                     file_sha256="ab" * 32, format="safetensors", **fields)


def test_a_fine_tune_records_its_base_and_relation():
    base, tuned = entry("Base"), entry("Tuned")
    model_set_lineage(model=tuned, base="base", relation="merge")  # a slug, as a user types it
    tuned.refresh_from_db()
    assert (tuned.base_model, tuned.base_relation) == (base, ModelEntry.Relation.MERGE)
    model_set_lineage(model=tuned, base=None)
    tuned.refresh_from_db()
    assert (tuned.base_model, tuned.base_relation) == (None, "")


def test_an_unknown_base_is_refused_by_name():
    tuned = entry("Tuned")
    with pytest.raises(LineageError, match="unknown base model 'Nowhere-7B': register it first"):
        model_set_lineage(model=tuned, base="Nowhere-7B", relation="fine_tune")
    tuned.refresh_from_db()
    assert tuned.base_model is None


def test_cycles_are_refused_with_the_chain_they_would_make():
    a, b, c = entry("A"), entry("B"), entry("C")
    model_set_lineage(model=b, base=a, relation="fine_tune")
    model_set_lineage(model=c, base=b, relation="quantization")
    with pytest.raises(LineageError, match="cycle .*A → C → B → A|cycle"):
        model_set_lineage(model=a, base=c, relation="fine_tune")
    with pytest.raises(LineageError, match="its own base"):
        model_set_lineage(model=a, base=a, relation="fine_tune")
    a.refresh_from_db()
    assert a.base_model is None


def test_unknown_relations_and_non_adapters_are_refused(tmp_path):
    base, tuned = entry("Base"), entry("Tuned")
    with pytest.raises(LineageError, match="unknown relation 'distilled'"):
        model_set_lineage(model=tuned, base=base, relation="distilled")
    with pytest.raises(LineageError, match="neither a PEFT folder"):
        model_set_lineage(model=tuned, base=base, relation="adapter", adapter=str(tmp_path))


def test_register_model_cli_sets_lineage_and_registers_adapters(tiny_llama_dir, tiny_lora_dir, capsys):
    call_command("register_model", str(tiny_llama_dir), "--name", "tiny-base")
    call_command("register_model", "--base", "tiny-base", "--adapter", str(tiny_lora_dir), "--name", "tiny-lora",
                 "--relation", "fine_tune")
    tuned = ModelEntry.objects.get(name="tiny-lora")
    base = ModelEntry.objects.get(name="tiny-base")
    assert (tuned.base_model, tuned.base_relation) == (base, "fine_tune")
    assert (tuned.location, tuned.file_sha256) == (base.location, base.file_sha256)  # loads the base's files
    assert len(tuned.adapter_sha256) == 64 and tuned.adapter_sha256 != base.file_sha256
    assert "fine-tune of tiny-base" in capsys.readouterr().out
    with pytest.raises(CommandError, match="unknown base model 'missing'"):
        call_command("register_model", str(tiny_llama_dir), "--name", "orphan", "--base", "missing")
    assert not ModelEntry.objects.filter(name="orphan").exists()  # refused lineage, nothing registered


def test_the_adapter_is_hashed_into_the_run_config_and_loaded_by_the_worker(tiny_llama_dir, tiny_lora_dir,
                                                                              monkeypatch):
    base = model_entries.model_register(name="tiny-base", location=str(tiny_llama_dir), source_kind="local",
                                        parameter_count=30_000)
    tuned = model_entries.model_register_adapter(name="tiny-lora", base=base, adapter=str(tiny_lora_dir))
    base_plan = plans.run_plan(model=base, backend="hf", benchmarks=["arc_easy"], limit=2)
    tuned_plan = plans.run_plan(model=tuned, backend="hf", benchmarks=["arc_easy"], limit=2)
    assert tuned_plan.config["model"]["adapter_sha256"] == tuned.adapter_sha256
    assert "adapter_sha256" not in base_plan.config["model"]
    run = runs.run_create(plan=tuned_plan)
    assert responses.response_identity(run)["adapter_sha256"] == tuned.adapter_sha256
    loaded = {}
    monkeypatch.setattr(shards, "cached_backend", lambda kind, location, options: loaded.update(options))
    monkeypatch.setattr(shards, "response_identity", lambda run: None)
    shards.run_backend(run)
    assert loaded["adapter"] == str(tiny_lora_dir.resolve())
