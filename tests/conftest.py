"""Shared fixtures: a tiny random Llama built in code, the real bundled models, data locations."""
from __future__ import annotations

from pathlib import Path

import pytest

from runner.datasets import data_dir
from tests.fake_backend import register as register_fake_backend

# The deterministic stand-in exists only here: the product cannot produce fake results.
register_fake_backend()


@pytest.fixture(autouse=True, scope="session")
def fast_password_hashing(django_test_environment) -> None:
    """Users made in tests log in with a cheap hash: PBKDF2's million rounds cost about a second a user."""
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory) -> Path:
    """A 2-layer random Llama with a byte-level BPE tokenizer trained here; saved like a hub folder."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    corpus = ["Question: What is the capital of France?\nAnswer: Paris", "The quick brown fox jumps over the lazy dog."]
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(corpus * 20, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>")
    fast.save_pretrained(folder)
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=256, bos_token_id=0, eos_token_id=1,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    from runner.modelfiles import bundled_model_path

    return bundled_model_path("SmolLM2-135M-Instruct")


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    folder = data_dir()
    if folder is None or not folder.is_dir():
        pytest.fail("benchmark data not found: set BENCHSITE_DATA_DIR or put ../shared/datasets beside the repo")
    return folder
