"""Both backends on the real SmolLM2-135M-Instruct GGUF, a few items each."""
from __future__ import annotations

import numpy as np
import pytest

from runner.backends import GenerationRequest, load_backend
from runner.engine import evaluate_items, prepare_task
from runner.catalog import TASKS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def arc_items(shared_data_dir):
    return prepare_task(TASKS["arc_easy"], limit=8)


@pytest.fixture(scope="module")
def llama(smollm2_path):
    return load_backend("llama_cpp", str(smollm2_path))


@pytest.fixture(scope="module")
def transformers_backend(smollm2_path):
    return load_backend("hf", str(smollm2_path), batch_size=8)


def test_both_backends_agree_on_arc_easy(arc_items, llama, transformers_backend):
    from_llama = list(evaluate_items(arc_items, llama))
    from_hf = list(evaluate_items(arc_items, transformers_backend))
    assert [r.doc_id for r in from_llama] == list(range(8))
    # Same weights (Q4_1); transformers dequantises to float32, llama.cpp computes in its own kernels.
    assert sum(a.prediction == b.prediction for a, b in zip(from_llama, from_hf)) >= 7
    for a, b in zip(from_llama, from_hf):
        np.testing.assert_allclose(a.loglikelihoods, b.loglikelihoods, atol=1.0)
    # A 135M instruct model is clearly better than chance (25%) on the easy set.
    assert np.mean([r.metrics["acc"] for r in from_hf]) >= 0.375


def test_llama_cpp_is_deterministic_and_its_prefix_cache_is_sound(arc_items, llama, smollm2_path):
    warm = [r.loglikelihoods for r in evaluate_items(arc_items, llama)]
    fresh = load_backend("llama_cpp", str(smollm2_path))
    assert [r.loglikelihoods for r in evaluate_items(arc_items, fresh)] == warm
    cold = []
    for item in arc_items.items:
        row = []
        for request in item.requests:
            fresh._cached_tokens = []  # force a full pass for every request
            row.append(fresh.loglikelihood([request])[0].logprob)
        cold.append(row)
    # Blocks are decoded at fixed positions, so a cache hit changes nothing, not even the last bit.
    assert warm == cold


@pytest.mark.parametrize("backend_name", ["llama", "transformers_backend"])
def test_greedy_generation_stops_and_repeats_exactly(request, backend_name):
    backend = request.getfixturevalue(backend_name)
    prompt = GenerationRequest("Question: What is 2 + 3?\nAnswer:", stop=("\n", "Question:"), max_new_tokens=24)
    first, second = backend.generate([prompt, prompt])
    assert first.text == second.text
    assert "\n" not in first.text and first.text.strip()
    assert first.prompt_tokens > 5 and 0 < first.output_tokens <= 24


def test_tokenizers_agree_between_backends(llama, transformers_backend):
    text = "Question: Which gas do plants absorb?\nAnswer: carbon dioxide"
    assert llama.tokenize(text) == transformers_backend.tokenize(text)


def test_model_info_describes_the_runtime(llama, transformers_backend):
    assert llama.info().quantization == "Q4_1"
    assert llama.info().format == transformers_backend.info().format == "gguf"
    assert 100_000_000 < transformers_backend.info().parameter_count < 200_000_000


def test_chat_template_wraps_the_prompt_for_instruct_models(llama, transformers_backend, shared_data_dir):
    task = prepare_task(TASKS["arc_easy"], limit=1, chat_template=llama.apply_chat_template)
    prompt = task.items[0].prompt
    assert prompt.startswith("<|im_start|>") and prompt.rstrip().endswith("<|im_start|>assistant")
    assert "Question: Which statement best explains" in prompt
    assert transformers_backend.apply_chat_template("hi") == llama.apply_chat_template("hi")
