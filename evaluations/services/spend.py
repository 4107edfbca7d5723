"""Spend of priced runs: tokens billed, added to the run's row as each batch returns, and read back for the budget.

The run's row holds the totals, incremented in the database (`F() + n`), so shards executing on several workers
at once never lose each other's counts, and a resumed run starts from what it had already spent.
"""
from __future__ import annotations

from django.db.models import F

from evaluations.models import Run
from runner.backends import Backend
from runner.backends.budget import BudgetedBackend
from runner.pricing import Pricing, TokenUsage


def run_spend_usage(*, run_id: int) -> TokenUsage:
    """The tokens the run has been billed for so far, by every shard wherever it ran."""
    row = Run.objects.filter(pk=run_id).values_list(
        "spend_input_tokens", "spend_output_tokens", "spend_estimated_tokens").first()
    return TokenUsage(*row) if row else TokenUsage()


def run_spend_record(*, run_id: int, usage: TokenUsage) -> None:
    """Add a batch's billed tokens to the run (at once, before its samples are scored and stored)."""
    Run.objects.filter(pk=run_id).update(
        spend_input_tokens=F("spend_input_tokens") + usage.input_tokens,
        spend_output_tokens=F("spend_output_tokens") + usage.output_tokens,
        spend_estimated_tokens=F("spend_estimated_tokens") + usage.estimated_tokens,
    )


def run_budgeted(*, run: Run, backend: Backend) -> Backend:
    """The run's backend with its prices and budget applied; the backend itself for an unpriced run."""
    pricing = Pricing.from_config(run.config)
    if pricing is None:
        return backend
    run_id = run.pk
    return BudgetedBackend(backend, pricing=pricing, spent=lambda: run_spend_usage(run_id=run_id),
                           record=lambda usage: run_spend_record(run_id=run_id, usage=usage))
