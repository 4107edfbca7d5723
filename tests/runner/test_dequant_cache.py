"""The transformers backend's cache of dequantized GGUF checkpoints, on a tiny random Llama written as GGUF here."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.backends import LoglikelihoodRequest, load_backend
from runner.modelfiles import atomic_directory, cache_dir, gguf_metadata, gguf_summary, sha256_path

REQUESTS = [
    LoglikelihoodRequest("Question: What is the capital of France?\nAnswer:", " Paris"),
    LoglikelihoodRequest("Question: What is the capital of France?\nAnswer:", " the lazy dog"),
    LoglikelihoodRequest("The quick brown fox", " jumps over the lazy dog."),
]


@pytest.fixture(scope="session")
def tiny_gguf(tiny_llama_dir, tmp_path_factory) -> Path:
    """The tiny Llama of conftest as a GGUF file: 2-D weights in Q8_0 (so loading dequantizes), norms in F32."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    config = json.loads((tiny_llama_dir / "config.json").read_text())
    tokenizer = json.loads((tiny_llama_dir / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    tokens = sorted(vocab, key=vocab.get)
    special = {added["content"] for added in tokenizer["added_tokens"]}
    merges = [" ".join(merge) if isinstance(merge, list) else merge for merge in tokenizer["model"]["merges"]]

    path = tmp_path_factory.mktemp("tiny-gguf") / "tiny-llama.Q8_0.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny llama")
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config["num_key_value_heads"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_rope_dimension_count(config["hidden_size"] // config["num_attention_heads"])
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t in tokens])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(config["bos_token_id"])
    writer.add_eos_token_id(config["eos_token_id"])

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config["num_hidden_layers"])
    for name, tensor in load_file(str(tiny_llama_dir / "model.safetensors")).items():
        gguf_name = names.get_name(name, try_suffixes=(".weight",))
        tensor = tensor.astype(np.float32)
        if tensor.ndim == 2:
            quantized = gguf.quants.quantize(tensor, gguf.GGMLQuantizationType.Q8_0)  # rows of block bytes
            writer.add_tensor(gguf_name, quantized, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:
            writer.add_tensor(gguf_name, tensor)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture
def cache_root(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("BENCHSITE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _scores(backend) -> list[tuple[float, bool]]:
    return [(result.logprob, result.is_greedy) for result in backend.loglikelihood(REQUESTS)]


def test_the_first_load_writes_the_cache_and_the_next_reuses_it(tiny_gguf, cache_root):
    cold = load_backend("hf", str(tiny_gguf), device="cpu")
    folder = Path(cold.info().extra["dequantized_cache"])
    assert cold.info().extra["dequantized_cache_hit"] is False
    assert folder.parent.parent == cache_root / "dequantized" and folder.name == sha256_path(tiny_gguf)
    assert {"model.safetensors", "config.json", "tokenizer.json", "benchsite-dequantized.json"} <= {
        file.name for file in folder.iterdir()
    }
    written = {file.name: file.stat().st_mtime_ns for file in folder.iterdir()}

    warm = load_backend("hf", str(tiny_gguf), device="cpu")
    assert warm.info().extra["dequantized_cache_hit"] is True
    assert warm.info().extra["dequantized_cache"] == str(folder)
    assert {file.name: file.stat().st_mtime_ns for file in folder.iterdir()} == written  # read, not rewritten
    assert warm.info().format == "gguf" and warm.info().dtype == cold.info().dtype == "float32"
    assert _scores(warm) == _scores(cold)  # the very same floats, not just close ones
    assert warm.tokenize("The quick brown fox jumps") == cold.tokenize("The quick brown fox jumps")
    assert [(warm.tokenizer.bos_token_id, warm.eos_token_id)] == [(cold.tokenizer.bos_token_id, cold.eos_token_id)]


def test_a_cached_load_scores_like_a_fresh_dequantization(tiny_gguf, tiny_llama_dir, cache_root):
    """Against transformers loading the GGUF itself, with no cache anywhere in the way."""
    import torch
    import transformers

    load_backend("hf", str(tiny_gguf), device="cpu")  # fills the cache
    warm = load_backend("hf", str(tiny_gguf), device="cpu", share_prefix=False)
    assert warm.info().extra["dequantized_cache_hit"] is True
    fresh = transformers.AutoModelForCausalLM.from_pretrained(str(tiny_gguf.parent), gguf_file=tiny_gguf.name)
    for name, tensor in fresh.state_dict().items():
        assert torch.equal(tensor, warm.model.state_dict()[name]), name
    # Q8_0 really was dequantized: close to the float original, not equal to it.
    original = transformers.AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir)).model.embed_tokens.weight
    assert torch.allclose(fresh.model.embed_tokens.weight, original, atol=0.01)
    assert not torch.equal(fresh.model.embed_tokens.weight, original)
    fresh_tokenizer = transformers.AutoTokenizer.from_pretrained(str(tiny_gguf.parent), gguf_file=tiny_gguf.name)
    for request in REQUESTS:
        text = request.context + request.continuation
        assert warm.tokenizer.encode(text) == fresh_tokenizer.encode(text)


def test_a_cache_with_another_dtype_request_still_holds_the_files_precision(tiny_gguf, cache_root):
    half = load_backend("hf", str(tiny_gguf), device="cpu", dtype="bfloat16")
    assert half.info().dtype == "bfloat16"
    full = load_backend("hf", str(tiny_gguf), device="cpu")
    assert full.info().extra["dequantized_cache_hit"] is True and full.info().dtype == "float32"


def test_an_unreadable_cache_is_rebuilt(tiny_gguf, cache_root):
    first = load_backend("hf", str(tiny_gguf), device="cpu")
    folder = Path(first.info().extra["dequantized_cache"])
    (folder / "model.safetensors").write_bytes(b"not safetensors")
    again = load_backend("hf", str(tiny_gguf), device="cpu")
    assert again.info().extra["dequantized_cache_hit"] is False
    assert _scores(again) == _scores(first)
    assert load_backend("hf", str(tiny_gguf), device="cpu").info().extra["dequantized_cache_hit"] is True


def test_an_unwritable_cache_costs_speed_not_the_run(tiny_gguf, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("BENCHSITE_CACHE_DIR", str(blocker))  # mkdir under a file fails
    backend = load_backend("hf", str(tiny_gguf), device="cpu")
    assert "dequantized_cache" not in backend.info().extra
    assert len(_scores(backend)) == len(REQUESTS)


def test_a_failed_write_leaves_no_cache_folder(tmp_path):
    target = tmp_path / "dequantized" / "abc"
    with pytest.raises(RuntimeError), atomic_directory(target) as scratch:
        (scratch / "model.safetensors").write_bytes(b"half of it")
        raise RuntimeError("killed mid-write")
    assert not target.exists() and list(target.parent.iterdir()) == []

    with atomic_directory(target) as scratch:
        (scratch / "model.safetensors").write_bytes(b"all of it")
    assert (target / "model.safetensors").read_bytes() == b"all of it"
    with atomic_directory(target) as scratch:  # a second writer that lost the race keeps the first copy
        (scratch / "model.safetensors").write_bytes(b"another copy")
    assert (target / "model.safetensors").read_bytes() == b"all of it"
    assert [p.name for p in target.parent.iterdir()] == ["abc"]


def test_the_cache_folder_defaults_to_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("BENCHSITE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "benchsite"
    monkeypatch.setenv("BENCHSITE_CACHE_DIR", "/somewhere/else")
    assert cache_dir() == Path("/somewhere/else")


def test_the_gguf_header_is_read_without_decoding_the_vocabulary(tiny_gguf, tmp_path):
    metadata = gguf_metadata(tiny_gguf)
    assert metadata["general.architecture"] == "llama" and metadata["llama.block_count"] == 2
    assert isinstance(metadata["tokenizer.ggml.tokens"], int)  # its length, not its strings
    summary = gguf_summary(tiny_gguf)
    assert (summary.name, summary.quantization, summary.layers, summary.hidden_size) == ("tiny llama", "Q8_0", 2, 32)
    assert (summary.attention_heads, summary.kv_heads, summary.context_length) == (4, 2, 256)

    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(tiny_gguf.read_bytes()[:200])
    from runner.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="corrupt GGUF"):
        gguf_summary(truncated)
