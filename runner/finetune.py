"""LoRA fine-tuning on a domain set built from benchmark splits that are never evaluated (plain Python, no Django).

A domain set trains on the few-shot/validation split of benchmarks whose test split is what runs score, and
drops any training item whose id or question also appears in that test split, so a fine-tune is never
trained on what it is evaluated on. Examples are the evaluation's own zero-shot prompt and the gold
continuation, and the loss covers the continuation's tokens only.
"""
from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from runner.catalog import TASKS
from runner.datasets import load_split
from runner.errors import BenchsiteError
from runner.templates import TEMPLATES

TRAINING_MANIFEST = "benchsite-training.json"
LORA_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class DomainSet:
    """Benchmarks trained on (their non-test split) and the general ones that measure what the tuning costs."""

    name: str
    description: str
    train: tuple[str, ...]
    general: tuple[str, ...]


DOMAIN_SETS = {
    "science": DomainSet(
        "science",
        "Grade-school science questions: the ARC-Easy and ARC-Challenge Dev (validation) splits, 869 items less "
        "the 2 whose question is also in a Test split (867); "
        "evaluated on their Test splits (3548 items), which are never trained on.",
        train=("arc_easy", "arc_challenge"),
        general=("hellaswag", "winogrande", "piqa", "boolq"),
    ),
}


@dataclass(frozen=True)
class TrainingExample:
    benchmark: str
    item_id: str  # the dataset's own id where it has one, else the question text
    context: str
    continuation: str


@dataclass(frozen=True)
class LoraSettings:
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.0
    learning_rate: float = 3e-4
    epochs: int = 1
    batch_size: int = 8
    max_length: int = 256
    seed: int = 0


@dataclass(frozen=True)
class TrainingReport:
    steps: int
    examples: int
    seconds: float
    first_loss: float
    last_loss: float
    trainable_parameters: int
    adapter_bytes: int


def domain_set(data: str) -> DomainSet:
    """A named domain set, or a comma-separated list of benchmarks to train on (general: none)."""
    if data in DOMAIN_SETS:
        return DOMAIN_SETS[data]
    slugs = tuple(slug.strip() for slug in data.split(",") if slug.strip())
    unknown = [slug for slug in slugs if slug not in TASKS]
    if not slugs or unknown:
        raise BenchsiteError(f"unknown domain set or benchmark {', '.join(unknown) or data!r}; domain sets: "
                             f"{', '.join(DOMAIN_SETS)}, or benchmark slugs separated by commas")
    return DomainSet(data, f"non-test splits of {', '.join(slugs)}", slugs, ())


def training_examples(benchmarks: tuple[str, ...], *, limit: int | None = None, seed: int = 0) -> list[TrainingExample]:
    """Items of the benchmarks' few-shot splits, minus any whose id or question is in their test split."""
    examples: list[TrainingExample] = []
    for slug in benchmarks:
        spec = TASKS[slug]
        if spec.fewshot is None or spec.fewshot.data_path == spec.test.data_path:
            raise BenchsiteError(f"{slug} has no split apart from the one it is evaluated on")
        template = TEMPLATES[spec.template]
        test_rows = load_split(spec.test).rows
        evaluated = {_row_id(row) for row in test_rows} | {template(row).text for row in test_rows}
        for row in load_split(spec.fewshot).rows:
            doc = template(row)
            if _row_id(row) in evaluated or doc.text in evaluated:
                continue
            if doc.multiple_input:
                context, target = doc.contexts[int(doc.gold)], doc.target_text
            elif doc.choices:
                context, target = doc.text, doc.choices[int(doc.gold)]
            else:
                context, target = doc.text, doc.target_text or str(doc.gold)
            examples.append(TrainingExample(slug, _row_id(row) or doc.text, spec.description + context,
                                            spec.target_delimiter + target))
    random.Random(seed).shuffle(examples)
    return examples[:limit] if limit else examples


def evaluated_item_ids(benchmarks: tuple[str, ...]) -> set[str]:
    """The ids (else question texts) of the items runs score on these benchmarks."""
    ids: set[str] = set()
    for slug in benchmarks:
        spec = TASKS[slug]
        template = TEMPLATES[spec.template]
        ids |= {_row_id(row) or template(row).text for row in load_split(spec.test).rows}
    return ids


def _row_id(row: dict) -> str:
    return str(row.get("id") or row.get("ind") or "")


def train_lora(model, tokenizer, examples: list[TrainingExample], output: Path, *, settings: LoraSettings,
               on_step: Callable[[int, int, float], None] | None = None) -> TrainingReport:
    """Train a LoRA adapter on `model` (a transformers causal LM) and save it as a PEFT folder at `output`."""
    import torch
    from peft import LoraConfig, get_peft_model

    if not examples:
        raise BenchsiteError("no training examples")
    started = time.perf_counter()
    torch.manual_seed(settings.seed)
    targets = [name for name in LORA_TARGET_MODULES if any(n.endswith(name) for n, _ in model.named_modules())]
    config = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                        target_modules=targets, task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, config)
    peft_model.train()
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=settings.learning_rate)
    encoded = [_encode(tokenizer, example, settings.max_length) for example in examples]
    order = random.Random(settings.seed)
    batches = [encoded[i:i + settings.batch_size] for i in range(0, len(encoded), settings.batch_size)]
    total = len(batches) * settings.epochs
    step, losses = 0, []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    for _ in range(settings.epochs):
        order.shuffle(batches)
        for batch in batches:
            input_ids, attention, labels = _pad(torch, batch, pad)
            loss = peft_model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            losses.append(float(loss.detach()))
            if on_step:
                on_step(step, total, losses[-1])
    peft_model.eval()
    output.mkdir(parents=True, exist_ok=True)
    peft_model.save_pretrained(str(output))
    manifest = {"settings": asdict(settings), "target_modules": targets,
                "items": [{"benchmark": e.benchmark, "id": e.item_id} for e in examples]}
    (output / TRAINING_MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    size = sum(f.stat().st_size for f in output.rglob("*") if f.is_file())
    return TrainingReport(step, len(examples), time.perf_counter() - started, losses[0], losses[-1], trainable, size)


def _encode(tokenizer, example: TrainingExample, max_length: int) -> tuple[list[int], list[int]]:
    """Tokens as scoring splits them (the continuation is the tail of the whole), labels on the continuation."""
    context_ids = tokenizer.encode(example.context, add_special_tokens=False)
    whole = tokenizer.encode(example.context + example.continuation, add_special_tokens=False)
    continuation = whole[len(context_ids):] or whole[-1:]
    ids = (context_ids + continuation)[-max_length:]
    labels = ([-100] * len(context_ids) + continuation)[-max_length:]
    return ids, labels


def _pad(torch, batch: list[tuple[list[int], list[int]]], pad: int):
    width = max(len(ids) for ids, _ in batch)
    input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
    attention = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    for row, (ids, label) in enumerate(batch):
        input_ids[row, :len(ids)] = torch.tensor(ids)
        attention[row, :len(ids)] = 1
        labels[row, :len(label)] = torch.tensor(label)
    return input_ids, attention, labels
