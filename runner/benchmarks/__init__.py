"""Benchmark families beyond the core harness tasks, one module each.

Each module registers its templates and scorers (runner.registry) and exposes `TASKS` (a list of
TaskSpec) and optionally `GROUPS` (a list of TaskGroup); runner.catalog collects them from `MODULES`.
"""
from __future__ import annotations

import importlib
import importlib.util

MODULES: tuple[str, ...] = (
    "coding", "knowledge", "reasoning", "safety", "ifeval", "mt_bench", "creativity", "tool_use",
    "bfcl",
)


def load_all() -> list:
    # TODO(integration): make every module mandatory once all families have landed.
    present = [name for name in MODULES if importlib.util.find_spec(f"runner.benchmarks.{name}") is not None]
    return [importlib.import_module(f"runner.benchmarks.{name}") for name in present]
