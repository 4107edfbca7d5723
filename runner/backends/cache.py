"""The loaded models of a worker process: one evaluated model and one judge, kept between shards.

Loading takes seconds to minutes, so consecutive shards of a run (and runs of the same model) reuse it;
a different model replaces it, freeing the previous one first so two never sit in memory together.
"""
from __future__ import annotations

import json
from typing import Callable

from runner.backends import Backend, load_backend


class _OneLoaded:
    def __init__(self) -> None:
        self._key: str | None = None
        self._value: Backend | None = None

    def get(self, key: str, load: Callable[[], Backend]) -> Backend:
        if key != self._key or self._value is None:
            self._key, self._value = None, None  # drop the reference before loading the next model
            self._value, self._key = load(), key
        return self._value

    def clear(self) -> None:
        self._key, self._value = None, None


_models = _OneLoaded()
_judges = _OneLoaded()


def cached_backend(kind: str, location: str, options: dict) -> Backend:
    key = json.dumps([kind, location, options], sort_keys=True)
    return _models.get(key, lambda: load_backend(kind, location, **options))


def cached_judge(kind: str, location: str, **options) -> Backend:
    from runner.judge import load_judge

    key = json.dumps([kind, location, options], sort_keys=True)
    return _judges.get(key, lambda: load_judge(kind, location, **options))


def clear() -> None:
    _models.clear()
    _judges.clear()
