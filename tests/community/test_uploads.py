"""Uploaded weights are checked from their own bytes: real GGUF files pass, forged and pickled ones are refused
quickly with a message that says what is wrong."""
from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest

from community.uploads import UploadRefused, inspect_gguf, inspect_safetensors, inspect_weights
from tests.community.files import PICKLE, TORCH_ZIP, gguf_bytes, safetensors_bytes


def write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("model", ["SmolLM2-135M-Instruct", "Gemma 3 270M"])
def test_the_bundled_gguf_files_pass_with_their_real_counts(model):
    from runner.modelfiles import BUNDLED_MODELS, bundled_model_path, gguf_summary

    name = next(n for n in BUNDLED_MODELS if n.lower().startswith(model.split()[0].lower()))
    path = bundled_model_path(name)
    started = time.monotonic()
    summary = inspect_weights(path, name=path.name)
    assert time.monotonic() - started < 2
    assert summary.format == "gguf"
    assert summary.details["architecture"] == gguf_summary(path).architecture
    assert summary.details["tensors"] > 100
    assert summary.details["quantization"] == gguf_summary(path).quantization


def test_a_minimal_gguf_and_safetensors_pass(tmp_path):
    assert inspect_weights(write(tmp_path, "m.gguf", gguf_bytes()), name="m.gguf").details["tensors"] == 1
    details = inspect_weights(write(tmp_path, "m.safetensors", safetensors_bytes()), name="m.safetensors").details
    assert details == {"tensors": 1, "dtypes": {"F32": 1}, "parameters": 32}


HOSTILE = {
    "pickle renamed .gguf": ("model.gguf", PICKLE, "is a Python pickle"),
    "torch zip renamed .safetensors": ("model.safetensors", TORCH_ZIP, "is a Python pickle or a PyTorch checkpoint"),
    "empty file": ("model.gguf", b"", "is empty"),
    ".bin checkpoint": ("pytorch_model.bin", b"\x00" * 64, "pickles"),
    "text file named .gguf": ("model.gguf", b"hello world, not a model", "not a GGUF file"),
    "unknown suffix": ("model.onnx", b"\x00" * 64, "only .gguf and .safetensors"),
    "GGUF with 2^60 tensors": ("model.gguf", gguf_bytes(tensor_count=2**60), "claims 1152921504606846976 tensors"),
    "GGUF version 99": ("model.gguf", gguf_bytes(version=99), "GGUF version 99 is not supported"),
    "GGUF tensor past the end": ("model.gguf", gguf_bytes(elements=1 << 30, data_bytes=128), "past the end"),
    "GGUF truncated header": ("model.gguf", gguf_bytes()[:40], "runs past the end of the file"),
    "safetensors header claiming 2^40 bytes": ("model.safetensors", safetensors_bytes(header_length=2**40),
                                              "claims 1099511627776 bytes"),
    "safetensors wrong byte count": ("model.safetensors", safetensors_bytes(byte_count=10), "has 10 bytes for 32"),
    "safetensors header not JSON": ("model.safetensors", struct.pack("<Q", 4) + b"\xff\xfe{}" + b"\0" * 8,
                                    "not UTF-8 JSON"),
}


@pytest.mark.parametrize("case", HOSTILE, ids=list(HOSTILE))
def test_hostile_files_are_refused_quickly_with_a_reason(tmp_path, case):
    name, content, message = HOSTILE[case]
    path = write(tmp_path, name, content)
    started = time.monotonic()
    with pytest.raises(UploadRefused) as refused:
        inspect_weights(path, name=name)
    assert time.monotonic() - started < 1
    assert message in str(refused.value)


def test_a_gguf_array_longer_than_the_file_is_refused_without_reading_it(tmp_path):
    array = (struct.pack("<Q", 5) + b"vocab" + struct.pack("<I", 9) + struct.pack("<I", 8)
             + struct.pack("<Q", 2**40))
    content = b"GGUF" + struct.pack("<I", 3) + struct.pack("<Q", 1) + struct.pack("<Q", 1) + array + b"\0" * 64
    with pytest.raises(UploadRefused, match="claims 1099511627776 items"):
        inspect_gguf(write(tmp_path, "m.gguf", content))


def test_a_safetensors_tensor_outside_the_file_is_refused(tmp_path):
    content = safetensors_bytes(byte_count=10_000)  # offsets [0, 10000] in a 128-byte data section
    with pytest.raises(UploadRefused, match="data offsets outside the file"):
        inspect_safetensors(write(tmp_path, "m.safetensors", content))
