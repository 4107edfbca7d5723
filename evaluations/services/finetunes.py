"""Fine-tunes made here: a LoRA trained on a domain set, registered as a fine-tune of its base, and the
paired comparison runs (base and fine-tune on the same items) planned."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from django.utils.text import slugify

from evaluations.models import ModelEntry
from evaluations.services import plans
from evaluations.services.model_entries import model_path, model_register_adapter
from runner.finetune import DomainSet, LoraSettings, TrainingReport, domain_set, train_lora, training_examples
from runner.modelfiles import cache_dir

COMPARISON_BACKEND = "hf"  # a PEFT adapter loads on the transformers backend; the base runs there too


@dataclass
class Finetune:
    model: ModelEntry
    domain: DomainSet
    report: TrainingReport
    adapter: Path


def finetune_lora(*, base: ModelEntry, data: str, name: str = "", output: Path | None = None,
                  settings: LoraSettings = LoraSettings(), train_items: int | None = None, user=None,
                  on_step: Callable[[int, int, float], None] | None = None) -> Finetune:
    """Train a LoRA on `base` (float32 on the CPU, dequantized if it is a GGUF file) and register it."""
    from runner.backends.hf import TransformersBackend

    domain = domain_set(data)
    examples = training_examples(domain.train, limit=train_items, seed=settings.seed)
    name = name or f"{base.name}-lora-{domain.name}"
    output = output or cache_dir() / "adapters" / slugify(name)
    loaded = TransformersBackend(str(model_path(base.location)), dtype="float32", device="cpu", share_prefix=False)
    report = train_lora(loaded.model, loaded.tokenizer, examples, output, settings=settings, on_step=on_step)
    model = model_register_adapter(name=name, base=base, adapter=str(output), relation=ModelEntry.Relation.FINE_TUNE,
                                   target_benchmarks=list(domain.train), user=user)
    return Finetune(model, domain, report, output)


def finetune_comparison_plans(*, tuned: ModelEntry, benchmarks: list[str], limit: int | None) -> list[plans.RunPlan]:
    """The base and the fine-tune on the same benchmarks and items, so their differences pair item by item."""
    return [plans.run_plan(model=model, backend=COMPARISON_BACKEND, benchmarks=benchmarks, limit=limit)
            for model in (tuned.base_model, tuned)]
