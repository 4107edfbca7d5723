"""PEFT adapters on the transformers backend: the scores are those of PEFT's own forward pass."""
from __future__ import annotations

import pytest
import torch

from runner.backends import LoglikelihoodRequest, load_backend
from runner.errors import ModelLoadError

PROMPTS = ["Question: What is the capital of France?\nAnswer:", "The quick brown fox"]


def peft_logits(base_dir, adapter_dir, ids):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    with torch.inference_mode():
        return PeftModel.from_pretrained(base, str(adapter_dir)).eval()(input_ids=ids).logits


def test_adapter_logits_equal_peft_applying_it_and_differ_from_the_base(tiny_llama_dir, tiny_lora_dir):
    tuned = load_backend("hf", str(tiny_llama_dir), dtype="float32", device="cpu", adapter=str(tiny_lora_dir))
    base = load_backend("hf", str(tiny_llama_dir), dtype="float32", device="cpu")
    ids = torch.tensor([tuned.tokenize(PROMPTS[0])])
    with torch.inference_mode():
        merged = tuned.model(input_ids=ids).logits
        plain = base.model(input_ids=ids).logits
    expected = peft_logits(tiny_llama_dir, tiny_lora_dir, ids)
    torch.testing.assert_close(merged, expected, rtol=1e-4, atol=1e-5)
    assert (plain - expected).abs().max() > 1e-2  # the adapter does change the model
    assert tuned.info().extra["adapter"] == str(tiny_lora_dir)


def test_scores_through_the_backend_follow_the_adapter(tiny_llama_dir, tiny_lora_dir):
    requests = [LoglikelihoodRequest(PROMPTS[0], " Paris"), LoglikelihoodRequest(PROMPTS[1], " jumps")]
    tuned = load_backend("hf", str(tiny_llama_dir), dtype="float32", device="cpu", adapter=str(tiny_lora_dir))
    base = load_backend("hf", str(tiny_llama_dir), dtype="float32", device="cpu")
    tuned_scores = [r.logprob for r in tuned.loglikelihood(requests)]
    base_scores = [r.logprob for r in base.loglikelihood(requests)]
    # The expected value, from PEFT's unmerged forward pass over context + continuation.
    context, continuation = tuned.encode_pair(PROMPTS[0], " Paris")
    logits = peft_logits(tiny_llama_dir, tiny_lora_dir, torch.tensor([context + continuation]))[0]
    log_probs = torch.log_softmax(logits[len(context) - 1:-1], dim=-1)
    expected = float(log_probs.gather(1, torch.tensor(continuation).unsqueeze(1)).sum())
    assert tuned_scores[0] == pytest.approx(expected, abs=1e-4)
    assert all(abs(a - b) > 1e-3 for a, b in zip(tuned_scores, base_scores))


def test_a_folder_without_adapter_config_is_refused_clearly(tiny_llama_dir, tmp_path):
    with pytest.raises(ModelLoadError, match="not a PEFT adapter folder"):
        load_backend("hf", str(tiny_llama_dir), device="cpu", adapter=str(tmp_path))


def test_llama_cpp_wants_a_gguf_lora_file(tmp_path, tiny_lora_dir):
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")  # never loaded: the adapter is refused first
    with pytest.raises(ModelLoadError, match="convert_lora_to_gguf"):
        load_backend("llama_cpp", str(gguf), adapter=str(tiny_lora_dir))
