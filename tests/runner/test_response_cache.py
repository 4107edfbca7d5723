"""runner.backends.responses: identical requests are answered from the store, anything else reaches the model.

The model here is the test suite's DeterministicFakeBackend (a stand-in, not a model), counted per call.
"""
from __future__ import annotations

from runner.backends.base import GenerationRequest, LoglikelihoodRequest
from runner.backends.responses import CachingBackend, response_key
from tests.fake_backend import DeterministicFakeBackend


class MemoryStore:
    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, dict]] = {}

    def lookup(self, keys):
        return {key: self.rows[key][1] for key in keys if key in self.rows}

    def save(self, entries):
        for key, value in entries.items():
            self.rows.setdefault(key, value)


class CountingBackend(DeterministicFakeBackend):
    def __init__(self) -> None:
        super().__init__()
        self.requests_seen = 0

    def loglikelihood(self, requests):
        self.requests_seen += len(requests)
        return super().loglikelihood(requests)

    def generate(self, requests):
        self.requests_seen += len(requests)
        return super().generate(requests)


IDENTITY = {"model_sha256": "ab" * 32, "backend": "fake", "options": {"dtype": "float32"}}
PAIRS = [LoglikelihoodRequest("Q: 2+2?\nA:", f" {n}") for n in range(4)]


def caching(store, identity=IDENTITY):
    loads: list[CountingBackend] = []

    def load():
        loads.append(CountingBackend())
        return loads[-1]

    return CachingBackend(name="fake", identity=identity, store=store, load=load), loads


def test_a_repeated_request_is_answered_without_loading_the_model():
    store = MemoryStore()
    first, first_loads = caching(store)
    computed = first.loglikelihood(PAIRS)
    assert len(first_loads) == 1 and first_loads[0].requests_seen == 4
    assert not any(result.cached for result in computed)

    again, again_loads = caching(store)
    reused = again.loglikelihood(PAIRS)
    assert again_loads == [] and not again.loaded
    assert [r.logprob for r in reused] == [r.logprob for r in computed]
    assert all(r.cached and r.compute_ms >= 0 for r in reused)
    assert (again.stats.hits, again.stats.misses) == (4, 0)


def test_only_the_new_requests_of_a_batch_reach_the_model_and_order_is_kept():
    store = MemoryStore()
    warm, _ = caching(store)
    warm.loglikelihood(PAIRS[:2])
    mixed, loads = caching(store)
    results = mixed.loglikelihood(list(reversed(PAIRS)))
    assert loads[0].requests_seen == 2
    assert [r.cached for r in results] == [False, False, True, True]
    assert [r.logprob for r in results] == [r.logprob for r in CountingBackend().loglikelihood(list(reversed(PAIRS)))]


def test_another_model_option_or_generation_parameter_is_never_answered_from_the_cache():
    store = MemoryStore()
    base, _ = caching(store)
    base.loglikelihood(PAIRS)
    request = GenerationRequest("Say hi", stop=("\n",), max_new_tokens=16, temperature=0.0, seed=1)
    base.generate([request])
    for identity in ({**IDENTITY, "model_sha256": "cd" * 32}, {**IDENTITY, "options": {"dtype": "bfloat16"}},
                     {**IDENTITY, "backend": "other"}):
        other, loads = caching(store, identity)
        assert not any(r.cached for r in other.loglikelihood(PAIRS)) and loads[0].requests_seen == 4
    same, _ = caching(store)
    assert same.generate([request])[0].cached
    for changed in (GenerationRequest("Say hi", stop=("\n",), max_new_tokens=17, seed=1),
                    GenerationRequest("Say hi", stop=(), max_new_tokens=16, seed=1),
                    GenerationRequest("Say hi", stop=("\n",), max_new_tokens=16, seed=2),
                    GenerationRequest("Say hi", stop=("\n",), max_new_tokens=16, temperature=0.7, seed=1)):
        assert not same.generate([changed])[0].cached
        assert response_key(IDENTITY, "generate", changed) != response_key(IDENTITY, "generate", request)
