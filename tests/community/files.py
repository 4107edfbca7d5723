"""Model files built byte by byte for the upload tests: valid minimal GGUF and safetensors, and hostile ones."""
from __future__ import annotations

import json
import struct


def gguf_string(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def gguf_bytes(*, version: int = 3, tensor_count: int | None = None, elements: int = 32,
               data_bytes: int | None = None, architecture: str = "llama") -> bytes:
    """One F32 tensor of `elements` values; `tensor_count` and `data_bytes` can lie about it."""
    metadata = (gguf_string("general.architecture") + struct.pack("<I", 8) + gguf_string(architecture)
                + gguf_string("general.alignment") + struct.pack("<I", 4) + struct.pack("<I", 32))
    tensor = gguf_string("weight") + struct.pack("<I", 1) + struct.pack("<Q", elements) + struct.pack("<I", 0) \
        + struct.pack("<Q", 0)
    header = b"GGUF" + struct.pack("<I", version) + struct.pack("<Q", 1 if tensor_count is None else tensor_count) \
        + struct.pack("<Q", 2) + metadata + tensor
    header += b"\0" * (-len(header) % 32)
    return header + b"\x01" * (elements * 4 if data_bytes is None else data_bytes)


def safetensors_bytes(*, shape=(4, 8), dtype: str = "F32", header_length: int | None = None,
                      byte_count: int | None = None) -> bytes:
    """One tensor; `header_length` and `byte_count` can lie about the header and the data."""
    size = 4 if dtype == "F32" else 2
    elements = shape[0] * shape[1]
    nbytes = elements * size if byte_count is None else byte_count
    header = json.dumps({"__metadata__": {"format": "pt"},
                         "weight": {"dtype": dtype, "shape": list(shape), "data_offsets": [0, nbytes]}}).encode()
    return struct.pack("<Q", len(header) if header_length is None else header_length) + header \
        + b"\x02" * (elements * size)


PICKLE = b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s."
TORCH_ZIP = b"PK\x03\x04" + b"\0" * 60
CONFIG = json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "torch_dtype": "float32"}).encode()
TOKENIZER = json.dumps({"version": "1.0", "model": {"type": "BPE", "vocab": {}, "merges": []}}).encode()
