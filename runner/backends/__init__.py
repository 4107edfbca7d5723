"""Model runtimes behind one protocol. `load_backend` is the only way the rest of the code gets one."""
from __future__ import annotations

from runner.backends.base import (
    Backend,
    Generation,
    GenerationRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    ModelInfo,
)
from typing import Callable

from runner.errors import BenchsiteError

BACKENDS = ("hf", "llama_cpp", "openai")
# Runtimes added at run time, e.g. the test suite's deterministic stand-in; the product registers none.
_REGISTERED: dict[str, Callable[..., Backend]] = {}


def register_backend(kind: str, factory: Callable[..., Backend]) -> None:
    if kind in BACKENDS:
        raise ValueError(f"{kind!r} is a built-in backend")
    _REGISTERED[kind] = factory


def available_backends() -> tuple[str, ...]:
    return BACKENDS + tuple(_REGISTERED)


def load_backend(kind: str, location: str, **options) -> Backend:
    if kind == "hf":
        from runner.backends.hf import TransformersBackend

        return TransformersBackend(location, **options)
    if kind == "llama_cpp":
        from runner.backends.llama_cpp import LlamaCppBackend

        return LlamaCppBackend(location, **options)
    if kind == "openai":
        from runner.backends.openai import OpenAICompatibleBackend

        return OpenAICompatibleBackend(location, **options)
    if kind in _REGISTERED:
        return _REGISTERED[kind](location, **options)
    raise BenchsiteError(f"unknown backend {kind!r}; choose one of {', '.join(available_backends())}")


__all__ = [
    "Backend",
    "BACKENDS",
    "Generation",
    "GenerationRequest",
    "LoglikelihoodRequest",
    "LoglikelihoodResult",
    "ModelInfo",
    "available_backends",
    "load_backend",
    "register_backend",
]
