"""Uploaded model files: streamed to disk under a size cap while hashed, then checked as hostile input.

Nothing here loads a model. The checks read only headers, with every count and length bounded by the
file's real size, so a crafted file is refused in milliseconds with a message saying what is wrong.
"""
from __future__ import annotations

import hashlib
import json
import mmap
import os
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext

WEIGHT_SUFFIXES = {".gguf": "gguf", ".safetensors": "safetensors"}
# Formats that unpickle (and so can run code) when loaded; named so the refusal can say which it is.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
COMPANION_MAX_BYTES = 50 * 1024 * 1024  # config.json, tokenizer.json
GGUF_MAX_KV = 100_000
GGUF_MAX_STRING = 64 * 1024 * 1024
GGUF_MAX_DIMS = 8
SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024


class UploadRefused(ValueError):
    """An upload that is not accepted; the message is shown to the person as it is."""


class StagedFile(UploadedFile):
    """A file the capped handler wrote to the staging folder, with its size and sha256 already known."""

    def __init__(self, *, path: Path, name: str, size: int, sha256: str, content_type: str | None):
        super().__init__(open(path, "rb"), name=name, content_type=content_type, size=size)
        self.path = path
        self.sha256 = sha256

    def temporary_file_path(self) -> str:
        return str(self.path)

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


def staging_dir() -> Path:
    folder = Path(settings.BENCHSITE_UPLOAD_DIR) / "staging"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class CappedUploadHandler(FileUploadHandler):
    """Writes each uploaded file to the staging folder chunk by chunk, hashing it, and stops past the cap.

    Django's default handlers would spool the whole body first and leave the size to be checked after;
    this one never holds more than a chunk and gives up as soon as the cap is passed.
    """

    def __init__(self, request=None):
        super().__init__(request)
        self.refusal: str | None = None

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        handle, name = tempfile.mkstemp(dir=staging_dir(), suffix=".part")
        self.file = os.fdopen(handle, "wb")
        self.path = Path(name)
        self.digest = hashlib.sha256()
        self.size = 0
        caps = {"file": settings.BENCHSITE_UPLOAD_MAX_BYTES, "data": settings.BENCHSITE_BENCHMARK_MAX_BYTES,
                "fewshot": settings.BENCHSITE_BENCHMARK_MAX_BYTES}
        self.cap = caps.get(self.field_name, COMPANION_MAX_BYTES)

    def receive_data_chunk(self, raw_data: bytes, start: int):
        self.size += len(raw_data)
        if self.size > self.cap:
            self.file.close()
            self.path.unlink(missing_ok=True)
            self.refusal = (gettext("%(file)s is larger than the %(cap)s this site accepts for the %(field)r field")
                            % {"file": self.file_name, "cap": human_size(self.cap), "field": self.field_name})
            if self.request is not None:
                self.request.upload_refusal = self.refusal
            raise StopUpload(connection_reset=False)
        self.file.write(raw_data)
        self.digest.update(raw_data)
        return None

    def file_complete(self, file_size: int):
        self.file.close()
        return StagedFile(path=self.path, name=self.file_name, size=self.size, sha256=self.digest.hexdigest(),
                          content_type=self.content_type)

    def upload_interrupted(self):
        if getattr(self, "file", None) is not None:
            self.file.close()
            self.path.unlink(missing_ok=True)


def request_limit() -> int:
    """The largest request body a submission may have: the weights' cap, two JSON companions, the fields."""
    return settings.BENCHSITE_UPLOAD_MAX_BYTES + 2 * COMPANION_MAX_BYTES + 1024 * 1024


def human_size(size: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:g} {unit}" if unit == "bytes" else f"{size:.1f} {unit}".replace(".0 ", " ")
        size /= 1024
    return f"{size} bytes"


@dataclass
class WeightsSummary:
    format: str
    details: dict = field(default_factory=dict)


def inspect_weights(path: Path, *, name: str) -> WeightsSummary:
    """Check an uploaded weights file's format from its own bytes; UploadRefused says what is wrong."""
    lowered = name.lower()
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(8)
    if size == 0:
        raise UploadRefused(gettext("%(name)s is empty") % {"name": name})
    if _looks_pickled(head):
        raise UploadRefused(gettext("%(name)s is a Python pickle or a PyTorch checkpoint, whatever its name says; "
                                    "pickles can run code when loaded, so only GGUF and safetensors files are "
                                    "accepted") % {"name": name})
    if lowered.endswith(PICKLE_SUFFIXES):
        raise UploadRefused(gettext("%(name)s: %(suffix)s files are pickles, which can run code when loaded; "
                                    "upload GGUF or safetensors") % {"name": name, "suffix": Path(lowered).suffix})
    suffix = Path(lowered).suffix
    if suffix not in WEIGHT_SUFFIXES:
        raise UploadRefused(gettext("%(name)s: only .gguf and .safetensors files are accepted") % {"name": name})
    if WEIGHT_SUFFIXES[suffix] == "gguf":
        return WeightsSummary("gguf", inspect_gguf(path))
    return WeightsSummary("safetensors", inspect_safetensors(path))


def _looks_pickled(head: bytes) -> bool:
    # Protocol 2+ pickles open with PROTO (0x80) and the protocol number; torch.save writes a zip archive.
    return (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5) or head.startswith(b"PK\x03\x04")


# -- GGUF ----------------------------------------------------------------------------------------------
# ggml tensor types: (elements per block, bytes per block), for the ones whose layout is fixed and known.
GGML_BLOCKS = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 36),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82),
    23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2),
}
_GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_GGUF_STRING, _GGUF_ARRAY = 8, 9
_GGUF_FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
                    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
                    17: "Q5_K_M", 18: "Q6_K", 32: "BF16"}


class _Reader:
    """Bounded little-endian reads over a memory map (paged in on demand, never copied whole): a length that
    runs past the end of the file is an error, not a read."""

    def __init__(self, view, size: int, name: str):
        self.view, self.size, self.name, self.offset = view, size, name, 0

    def skip(self, count: int) -> int:
        start = self.offset
        if count < 0 or start + count > self.size:
            raise UploadRefused(f"{self.name}: the GGUF header runs past the end of the file (truncated or forged)")
        self.offset = start + count
        return start

    def take(self, count: int) -> bytes:
        start = self.skip(count)
        return bytes(self.view[start:start + count])

    def unpack(self, fmt: str):
        return struct.unpack_from(fmt, self.view, self.skip(struct.calcsize(fmt)))[0]

    def string(self, keep: bool = True) -> str:
        length = self.unpack("<Q")
        if length > GGUF_MAX_STRING:
            raise UploadRefused(f"{self.name}: a GGUF string claims {length} bytes")
        if not keep:  # a vocabulary's hundreds of thousands of tokens: only their bounds matter
            self.skip(length)
            return ""
        return self.take(length).decode("utf-8", errors="replace")

    def value(self, kind: int, depth: int = 0):
        if kind in _GGUF_SCALARS:
            return self.unpack(_GGUF_SCALARS[kind])
        if kind == _GGUF_STRING:
            return self.string(keep=depth == 0)
        if kind == _GGUF_ARRAY and depth == 0:
            item_kind, count = self.unpack("<I"), self.unpack("<Q")
            if count > self.size:  # every item takes at least one byte
                raise UploadRefused(f"{self.name}: a GGUF array claims {count} items in a {self.size}-byte file")
            if item_kind in _GGUF_SCALARS:  # skipped, not decoded
                self.skip(count * struct.calcsize(_GGUF_SCALARS[item_kind]))
                return f"<{count} numbers>"
            for _ in range(count):
                self.value(item_kind, depth + 1)
            return f"<{count} items>"
        raise UploadRefused(f"{self.name}: unknown GGUF value type {kind}")


def inspect_gguf(path: Path, name: str | None = None) -> dict:
    """Magic, version, counts bounded by the file size, every metadata value and tensor record in bounds."""
    name = name or path.name
    size = path.stat().st_size
    if size < 24:
        raise UploadRefused(f"{name} is too short to be a GGUF file")
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
        reader = _Reader(view, size, name)
        if reader.take(4) != b"GGUF":
            raise UploadRefused(f"{name} is not a GGUF file (it does not start with the GGUF magic bytes)")
        version = reader.unpack("<I")
        if version not in (2, 3):
            raise UploadRefused(f"{name}: GGUF version {version} is not supported (2 and 3 are)")
        tensor_count, kv_count = reader.unpack("<Q"), reader.unpack("<Q")
        if tensor_count == 0:
            raise UploadRefused(f"{name}: the GGUF file holds no tensors (a vocabulary-only file?)")
        # A tensor record takes at least 29 bytes (name length, one dimension, type, offset).
        if tensor_count * 29 > size:
            raise UploadRefused(f"{name}: the GGUF header claims {tensor_count} tensors, impossible in a "
                                f"{size}-byte file")
        if kv_count > GGUF_MAX_KV:
            raise UploadRefused(f"{name}: the GGUF header claims {kv_count} metadata entries")
        metadata = {}
        for _ in range(kv_count):
            key = reader.string()
            metadata[key] = reader.value(reader.unpack("<I"))
        alignment = metadata.get("general.alignment", 32)
        if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
            raise UploadRefused(f"{name}: GGUF alignment {alignment!r} is not a power of two")
        tensors = []
        for _ in range(tensor_count):
            tensor_name = reader.string()
            dims = reader.unpack("<I")
            if not 1 <= dims <= GGUF_MAX_DIMS:
                raise UploadRefused(f"{name}: tensor {tensor_name!r} claims {dims} dimensions")
            shape = [reader.unpack("<Q") for _ in range(dims)]
            tensors.append((tensor_name, shape, reader.unpack("<I"), reader.unpack("<Q")))
        data_start = -(-reader.offset // alignment) * alignment
    data_size = size - data_start
    for tensor_name, shape, kind, offset in tensors:
        elements = 1
        for dim in shape:
            elements *= dim
        block = GGML_BLOCKS.get(kind)
        nbytes = elements // block[0] * block[1] if block else 0
        if offset + nbytes > data_size:
            raise UploadRefused(f"{name}: tensor {tensor_name!r} lies past the end of the file "
                                f"(offset {offset} + {nbytes} bytes > {data_size} bytes of tensor data)")
    file_type = metadata.get("general.file_type")
    return {
        "gguf_version": version,
        "tensors": tensor_count,
        "architecture": str(metadata.get("general.architecture", ""))[:100],
        "model_name": str(metadata.get("general.name", ""))[:200],
        "quantization": _GGUF_FILE_TYPES.get(file_type, str(file_type) if file_type is not None else ""),
    }


# -- safetensors ---------------------------------------------------------------------------------------
SAFETENSORS_DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8,
                      "U32": 4, "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1}


def inspect_safetensors(path: Path, name: str | None = None) -> dict:
    """Header length within the file and a cap, UTF-8 JSON object, every tensor's bytes exactly in bounds."""
    name = name or path.name
    size = path.stat().st_size
    with open(path, "rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise UploadRefused(f"{name} is too short to be a safetensors file")
        header_length = struct.unpack("<Q", prefix)[0]
        if header_length > min(SAFETENSORS_MAX_HEADER, size - 8):
            raise UploadRefused(f"{name}: the safetensors header claims {header_length} bytes, more than the "
                                f"file's {size - 8} (forged or truncated)")
        raw = handle.read(header_length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise UploadRefused(f"{name}: the safetensors header is not UTF-8 JSON ({exc})") from None
    if not isinstance(header, dict):
        raise UploadRefused(f"{name}: the safetensors header is not a JSON object")
    data_size = size - 8 - header_length
    dtypes: dict[str, int] = {}
    parameters = 0
    for tensor_name, info in header.items():
        if tensor_name == "__metadata__":
            continue
        if not isinstance(info, dict):
            raise UploadRefused(f"{name}: tensor {tensor_name!r} is not described by an object")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in SAFETENSORS_DTYPES:
            raise UploadRefused(f"{name}: tensor {tensor_name!r} has unknown dtype {dtype!r}")
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise UploadRefused(f"{name}: tensor {tensor_name!r} has an invalid shape")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= data_size):
            raise UploadRefused(f"{name}: tensor {tensor_name!r} has data offsets outside the file")
        elements = 1
        for dim in shape:
            elements *= dim
        if elements * SAFETENSORS_DTYPES[dtype] != offsets[1] - offsets[0]:
            raise UploadRefused(f"{name}: tensor {tensor_name!r} has {offsets[1] - offsets[0]} bytes for "
                                f"{elements} {dtype} values")
        dtypes[dtype] = dtypes.get(dtype, 0) + 1
        parameters += elements
    if not dtypes:
        raise UploadRefused(f"{name}: the safetensors file holds no tensors")
    return {"tensors": sum(dtypes.values()), "dtypes": dtypes, "parameters": parameters}


def inspect_json_companion(upload: UploadedFile, *, label: str) -> dict:
    """config.json or tokenizer.json beside safetensors weights: a JSON object; remote code is refused."""
    try:
        with open(upload.temporary_file_path(), "rb") as handle:
            document = json.loads(handle.read().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise UploadRefused(f"{label} is not UTF-8 JSON ({exc})") from None
    if not isinstance(document, dict):
        raise UploadRefused(f"{label} is not a JSON object")
    if label == "config.json" and "auto_map" in document:
        raise UploadRefused("config.json has an auto_map: the model needs its own Python code "
                            "(trust_remote_code), which this site never runs")
    return document
