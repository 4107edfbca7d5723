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
from runner.errors import BenchsiteError

BACKENDS = ("hf", "llama_cpp", "openai", "fake")


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
    if kind == "fake":
        from runner.backends.fake import DeterministicFakeBackend

        return DeterministicFakeBackend(location, **options)
    raise BenchsiteError(f"unknown backend {kind!r}; choose one of {', '.join(BACKENDS)}")


__all__ = [
    "Backend",
    "BACKENDS",
    "Generation",
    "GenerationRequest",
    "LoglikelihoodRequest",
    "LoglikelihoodResult",
    "ModelInfo",
    "load_backend",
]
