"""`demo --with-finetune`: trains the LoRA once, then evaluates it and its base on the same items."""
from __future__ import annotations

import pytest

from evaluations.management.commands import seed_demo
from evaluations.models import ModelEntry
from evaluations.services import finetunes, model_entries

pytestmark = pytest.mark.django_db


def test_with_finetune_trains_once_and_evaluates_the_pair(tiny_lora_dir, monkeypatch):
    base = ModelEntry.objects.create(name=seed_demo.FINETUNE_BASE, location="bundled:SmolLM2-135M-Instruct",
                                     source_kind="bundled", format="gguf", file_sha256="a" * 64)
    trained, evaluated = [], []

    def finetune_lora(**kwargs):  # never SmolLM2 in a test: a registered adapter stands for the training
        trained.append(kwargs)
        tuned = model_entries.model_register_adapter(name=kwargs["name"], base=kwargs["base"],
                                                     adapter=str(tiny_lora_dir), target_benchmarks=["arc_easy"])
        return finetunes.Finetune(tuned, None, type("Report", (), {"seconds": 1.0, "adapter_bytes": 1e6})(),
                                  tiny_lora_dir)

    monkeypatch.setattr(finetunes, "finetune_lora", finetune_lora)
    work = seed_demo.DemoWork(log=lambda line: None, presets=False, profile=False, finetune=True)
    monkeypatch.setattr(work, "_evaluate", lambda model, preset, limits, suite=None, plan=None:
                        evaluated.append(plan))
    work._finetune([base])
    work._finetune([base])  # a second demo reuses the registered adapter
    assert [(call["data"], call["train_items"]) for call in trained] == [("science", seed_demo.FINETUNE_TRAIN_ITEMS)]
    assert [plan.model.name for plan in evaluated] == [base.name, f"{base.name}-lora-science-demo"] * 2
    assert evaluated[0].requested == ["arc_easy", "hellaswag", "winogrande", "piqa", "boolq"]
    assert evaluated[0].config["tasks"] == evaluated[1].config["tasks"]
    assert evaluated[0].backend == evaluated[1].backend == "hf"
