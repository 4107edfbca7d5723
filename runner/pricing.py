"""What a run against a priced endpoint spends: prices per 1M tokens, token counts, and a budget checked per batch.

Money is `Decimal` throughout, so a run's spend is exactly tokens × price (no float drift over millions of
tokens). Counts are what the server reports in `usage`; where it reports none, the backend's own count,
kept apart as `estimated_tokens`.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from runner.backends.base import GenerationRequest, LoglikelihoodRequest
from runner.errors import BenchsiteError

PER_TOKENS = Decimal(1_000_000)
# What a server may add around a prompt's own bytes (BOS, a chat template's role markers) in the estimate.
REQUEST_OVERHEAD_TOKENS = 16


@dataclass(frozen=True)
class TokenUsage:
    input_tokens: int = 0
    output_tokens: int = 0
    estimated_tokens: int = 0  # of the two above, counted by the backend because the server reported none

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens,
                          self.estimated_tokens + other.estimated_tokens)

    def __sub__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(self.input_tokens - other.input_tokens, self.output_tokens - other.output_tokens,
                          self.estimated_tokens - other.estimated_tokens)

    def __bool__(self) -> bool:
        return bool(self.input_tokens or self.output_tokens)


class UsageMeter:
    """A running total of the tokens a backend was billed for; backends fill it from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = TokenUsage()

    def add(self, usage: TokenUsage) -> None:
        with self._lock:
            self._total = self._total + usage

    def total(self) -> TokenUsage:
        with self._lock:
            return self._total


@dataclass(frozen=True)
class Pricing:
    """USD per 1M input and output tokens, and an optional budget in USD for the whole run."""

    usd_per_1m_input: Decimal
    usd_per_1m_output: Decimal
    budget_usd: Decimal | None = None

    @classmethod
    def parse(cls, *, price_in, price_out, budget=None) -> Pricing | None:
        """From user input (strings or numbers); None when nothing is given. Bad values raise BenchsiteError."""
        if price_in in (None, "") and price_out in (None, "") and budget in (None, ""):
            return None
        if price_in in (None, "") or price_out in (None, ""):
            raise BenchsiteError("give both --price-in and --price-out (USD per 1M input and output tokens)"
                                 + ("; a budget needs prices to count spend against it" if budget else ""))
        budget_usd = None if budget in (None, "") else _amount(budget, "--budget-usd", "USD")
        if budget_usd is not None and budget_usd == 0:
            raise BenchsiteError("--budget-usd must be more than 0 USD")
        return cls(_amount(price_in, "--price-in", "USD per 1M input tokens"),
                   _amount(price_out, "--price-out", "USD per 1M output tokens"), budget_usd)

    @classmethod
    def from_config(cls, config: dict | None) -> Pricing | None:
        recorded = (config or {}).get("pricing")
        if not recorded:
            return None
        return cls.parse(price_in=recorded["usd_per_1m_input"], price_out=recorded["usd_per_1m_output"],
                         budget=recorded.get("budget_usd"))

    def as_config(self) -> dict:
        """As a run's configuration records it: plain JSON numbers, read back exactly through their decimal text."""
        return {"usd_per_1m_input": _number(self.usd_per_1m_input),
                "usd_per_1m_output": _number(self.usd_per_1m_output),
                "budget_usd": None if self.budget_usd is None else _number(self.budget_usd)}

    def cost(self, usage: TokenUsage) -> Decimal:
        return (usage.input_tokens * self.usd_per_1m_input + usage.output_tokens * self.usd_per_1m_output) / PER_TOKENS


def _amount(value, option: str, unit: str) -> Decimal:
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise BenchsiteError(f"{option} must be a number of {unit}, not {value!r}") from None
    if not amount.is_finite():
        raise BenchsiteError(f"{option} must be a finite number of {unit}, not {value!r}")
    if amount < 0:
        raise BenchsiteError(f"{option} must not be negative (got {value})")
    return amount


def _number(amount: Decimal) -> int | float:
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def format_usd(amount: Decimal) -> str:
    """$ amounts as people read them: cents at least, up to six decimals for the fractions tokens cost."""
    text = f"{amount.quantize(Decimal('0.000001')):f}".rstrip("0")
    whole, _, fraction = text.partition(".")
    return f"${whole}.{fraction.ljust(2, '0')}"


def estimate_request(request: GenerationRequest | LoglikelihoodRequest) -> TokenUsage:
    """An upper bound on what one request will be billed, before it is sent.

    Input: one token per UTF-8 byte of the prompt (no tokenizer makes more, byte-level BPE at worst makes
    that many) plus a template's overhead. Output: the request's whole token budget; a log-likelihood
    request generates one token.
    """
    if isinstance(request, GenerationRequest):
        return TokenUsage(len(request.prompt.encode()) + REQUEST_OVERHEAD_TOKENS, request.max_new_tokens)
    text = request.context + request.continuation
    return TokenUsage(len(text.encode()) + REQUEST_OVERHEAD_TOKENS, 1)


class BudgetReached(BenchsiteError):
    """The next batch could take the run past its budget, so it was not sent."""

    def __init__(self, *, budget_usd: Decimal, spent_usd: Decimal, next_usd: Decimal) -> None:
        super().__init__(f"budget of {format_usd(budget_usd)} reached after {format_usd(spent_usd)} "
                         f"(the next batch could cost up to {format_usd(next_usd)})")
        self.budget_usd, self.spent_usd, self.next_usd = budget_usd, spent_usd, next_usd
