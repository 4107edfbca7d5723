"""Run plans: a run request validated, its data loaded and its configuration recorded; placement on hardware."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from django.conf import settings

from evaluations.custom_benchmarks import custom_benchmarks_register
from evaluations.models import ModelEntry
from evaluations.services.adaptive import AdaptiveRule, adaptive_order
from evaluations.services.model_entries import model_path, model_resolve
from runner.backends import available_backends
from runner.catalog import MULTIPLE_CHOICE, TaskSpec, expand
from runner.engine import FEWSHOT_SEED, PreparedTask, prepare_task
from runner.errors import BenchsiteError
from runner.judge import OPENAI_PREFIX, JudgeSpec, needs_judge
from runner.modelfiles import has_chat_template
from runner.pricing import Pricing
from runner.suites import task_config_key

# Recorded with a run but left out of its config hash: they change what a run costs, never its outputs, so a
# priced run and an unpriced one of the same configuration share a hash (and reproduce each other's samples).
UNHASHED_CONFIG_KEYS = frozenset({"pricing"})


@dataclass
class RunPlan:
    """Everything a run needs, validated: building one loads the data, so bad input fails here."""

    model: ModelEntry
    backend: str
    backend_options: dict
    requested: list[str]
    tasks: list[PreparedTask]
    limits: dict[str, int]
    limit: int | None
    num_fewshot: int | None
    chat_template: bool
    config: dict = field(default_factory=dict)
    preset: str = ""

    @property
    def config_hash(self) -> str:
        hashed = {key: value for key, value in self.config.items() if key not in UNHASHED_CONFIG_KEYS}
        return hashlib.sha256(json.dumps(hashed, sort_keys=True).encode()).hexdigest()

    @property
    def total(self) -> int:
        return sum(len(task.items) for task in self.tasks)


def run_plan(
    *,
    model: ModelEntry,
    backend: str,
    benchmarks: list[str],
    limit: int | None = None,
    num_fewshot: int | None = None,
    chat_template: bool = False,
    backend_options: dict | None = None,
    limits: dict[str, int] | None = None,
    judge: str = "",
    max_new_tokens: int | None = None,
    preset: str = "",
    response_cache: bool = True,
    adaptive: AdaptiveRule | None = None,
    pricing: Pricing | None = None,
) -> RunPlan:
    """Validate a run request and load its data. `limits` overrides `limit` per requested slug.

    `pricing` (openai backend only): USD per 1M tokens and an optional budget; the run records its spend
    and stops before a batch that could pass the budget.
    """
    custom_benchmarks_register(slugs=benchmarks)  # imported benchmarks live in the database, not in code
    if backend not in available_backends():
        raise BenchsiteError(f"unknown backend {backend!r}; choose one of {', '.join(available_backends())}")
    if limit is not None and limit < 1:
        raise BenchsiteError("--limit must be a positive number of items")
    if num_fewshot is not None and num_fewshot < 0:
        raise BenchsiteError("--num-fewshot must be zero or more")
    if not benchmarks:
        raise BenchsiteError("no benchmark given")
    if backend == "llama_cpp" and model.format != "gguf":
        raise BenchsiteError(f"the llama_cpp backend needs a GGUF file; {model.name} is {model.format or 'unknown'}")
    if (backend == "openai") != (model.format == "endpoint"):
        raise BenchsiteError(f"{model.name}: the openai backend is for server URLs, and server URLs need it")
    if pricing is not None and backend != "openai":
        raise BenchsiteError(f"prices and budgets are for endpoints billed per token (--backend openai), not the "
                             f"{backend} backend")
    limits = dict(limits or {})
    if max_new_tokens is not None and max_new_tokens < 1:
        raise BenchsiteError("--max-new-tokens must be a positive number of tokens")
    specs = [(requested, capped_spec(spec, max_new_tokens)) for requested, group in expand(benchmarks) for spec in group]
    refused = [spec.slug for _, spec in specs if spec.requires_execution and not settings.BENCHSITE_CODE_EXECUTION]
    if refused:
        raise BenchsiteError(
            f"{', '.join(refused)} run model-written code; set BENCHSITE_CODE_EXECUTION=1 to allow the sandbox"
        )
    unjudged = [spec.slug for _, spec in specs if needs_judge(spec)] if not judge else []
    if unjudged:
        raise BenchsiteError(f"{', '.join(unjudged)}: graded by an LLM judge; pass --judge MODEL or "
                             "--judge openai:<base_url>#<model>")
    if chat_template and backend != "openai" and not has_chat_template(model_path(model.location)):
        raise BenchsiteError(f"{model.name} has no chat template, and --chat-template asks for one")
    tasks = [(requested, prepare_task(spec, limit=limits.get(requested, limit), num_fewshot=num_fewshot))
             for requested, spec in specs]
    if adaptive is not None:
        if adaptive.reference:
            model_resolve(reference=adaptive.reference)  # an unknown reference fails now, not mid-run
        tasks = [(requested, dataclasses.replace(t, items=adaptive_order(t.items, adaptive.seed)))
                 for requested, t in tasks]
    judged = judge_record(spec=judge) if judge else None
    options = dict(backend_options or {})
    config = {
        # An adapter is hashed like the model's files: a retrained adapter is a new configuration.
        "model": {"name": model.name, "sha256": model.file_sha256,
                  **({"adapter_sha256": model.adapter_sha256} if model.adapter else {})},
        "backend": backend,
        "backend_options": options,
        "benchmarks": benchmarks,
        "tasks": {
            t.spec.slug: _task_config(t, limit=limits.get(requested, limit), chat_template=chat_template,
                                      judge=judged["name"] if judged and needs_judge(t.spec) else "",
                                      adaptive=adaptive.as_config() if adaptive else None)
            for requested, t in tasks
        },
        "limit": limit,
        "limits": limits,
        "num_fewshot": num_fewshot,
        "chat_template": chat_template,
        "fewshot_seed": FEWSHOT_SEED,
        "response_cache": response_cache,
        **({"judge": judged} if judged else {}),
        **({"max_new_tokens": max_new_tokens} if max_new_tokens else {}),
        **({"preset": preset} if preset else {}),
        **({"adaptive": adaptive.as_config()} if adaptive else {}),
        **({"pricing": pricing.as_config()} if pricing else {}),
    }
    prepared = [t for _, t in tasks]
    return RunPlan(model, backend, options, benchmarks, prepared, limits, limit, num_fewshot, chat_template, config,
                   preset)


def _task_config(task: PreparedTask, *, limit: int | None, chat_template: bool, judge: str,
                 adaptive: dict | None = None) -> dict:
    """What a run records of one benchmark, with the key that decides which suites its score counts for."""
    spec_hash = task.spec.spec_hash()
    key_fields = dict(slug=task.spec.slug, spec_hash=spec_hash, limit=limit, items=len(task.items),
                      num_fewshot=task.num_fewshot, chat_template=chat_template, judge=judge)
    recorded = {
        "version": task.spec.version, "spec_hash": spec_hash, "dataset_hash": task.dataset_hash,
        "num_fewshot": task.num_fewshot, "items": len(task.items), "limit": limit,
        "config_key": task_config_key(**key_fields, adaptive=adaptive),
    }
    if adaptive:  # the full run of the same configuration: what a reference model is compared on
        recorded["full_config_key"] = task_config_key(**key_fields)
    return recorded


def capped_spec(spec: TaskSpec, max_new_tokens: int | None) -> TaskSpec:
    """A generation budget below the benchmark's own (a quick look, a test); it changes the spec hash."""
    if max_new_tokens is None or spec.output_type == MULTIPLE_CHOICE or spec.max_new_tokens <= max_new_tokens:
        return spec
    return dataclasses.replace(spec, max_new_tokens=max_new_tokens)


def judge_record(*, spec: str) -> dict:
    """The judge as a run's config records it (and judged samples repeat): name, backend, sha256 or endpoint."""
    parsed = JudgeSpec.parse(spec)
    if parsed.is_endpoint:
        return {"name": spec.strip(), "backend": "openai", "endpoint": parsed.endpoint, "model": parsed.model}
    entry = model_resolve(reference=parsed.model)
    if entry.format == "endpoint":  # a registered server URL: recorded as the endpoint spec it resolves to
        return judge_record(spec=OPENAI_PREFIX + entry.location)
    if not has_chat_template(model_path(entry.location)):
        raise BenchsiteError(f"judge {entry.name} has no chat template: a judge must be a chat (instruction-tuned) model")
    return {"name": entry.name, "backend": "llama_cpp" if entry.format == "gguf" else "hf",
            "sha256": entry.file_sha256}


def run_plan_for_suite(*, suite: str, model: ModelEntry, backend: str, backend_options: dict | None = None,
                       preset: str = "", judge: str = "") -> RunPlan:
    """A plan that evaluates a model on exactly a suite's configuration (runner.suites)."""
    from runner.suites import SUITES

    if suite not in SUITES:
        raise BenchsiteError(f"unknown suite {suite!r}; choose one of {', '.join(SUITES)}")
    definition = SUITES[suite]
    return run_plan(model=model, backend=backend, benchmarks=definition.benchmarks,
                    limits={slug: n for slug, n in definition.limits.items() if n is not None},
                    num_fewshot=definition.num_fewshot, chat_template=definition.chat_template,
                    backend_options=backend_options, preset=preset, judge=judge)
