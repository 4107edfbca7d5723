"""A priced backend in front of another: the budget checked before each batch, the tokens billed recorded after."""
from __future__ import annotations

from typing import Callable, Sequence, TypeVar

from runner.backends.base import (
    Backend,
    Generation,
    GenerationRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    PassThrough,
)
from runner.errors import BenchsiteError
from runner.pricing import BudgetReached, Pricing, TokenUsage, UsageMeter, estimate_request

Result = TypeVar("Result")


class BudgetedBackend(PassThrough):
    """A priced backend in front of the one that sends requests: every batch is checked against the budget
    before it goes out, and what it was billed is recorded as soon as it comes back.

    `spent` reads the run's recorded usage (every shard's, wherever it runs); `record` adds to it. Behind
    a response cache it sees only the requests the cache could not answer, so cached answers cost nothing.
    Streaming passes through unmetered: evaluation never streams, and priced runs skip the streamed probe.
    """

    def __init__(self, inner: Backend, *, pricing: Pricing, spent: Callable[[], TokenUsage],
                 record: Callable[[TokenUsage], None]) -> None:
        meter = getattr(inner, "usage", None)
        if not isinstance(meter, UsageMeter):
            raise BenchsiteError(f"the {inner.name} backend reports no token usage, so its requests cannot be priced")
        self.name = inner.name
        self.inner = inner
        self.pricing = pricing
        self._meter = meter
        self._spent = spent
        self._record = record

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        return self._metered(requests, lambda: self.inner.loglikelihood(requests))

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        return self._metered(requests, lambda: self.inner.generate(requests))

    def _metered(self, requests: Sequence[GenerationRequest | LoglikelihoodRequest],
                 send: Callable[[], list[Result]]) -> list[Result]:
        self._check(requests)
        before = self._meter.total()
        try:
            return send()
        finally:  # a batch that failed halfway was still billed for the requests that were answered
            billed = self._meter.total() - before
            if billed:
                self._record(billed)

    def _check(self, requests: Sequence[GenerationRequest | LoglikelihoodRequest]) -> None:
        budget = self.pricing.budget_usd
        if budget is None or not requests:
            return
        spent = self.pricing.cost(self._spent())
        upcoming = self.pricing.cost(sum((estimate_request(r) for r in requests), TokenUsage()))
        if spent + upcoming > budget:
            raise BudgetReached(budget_usd=budget, spent_usd=spent, next_usd=upcoming)
