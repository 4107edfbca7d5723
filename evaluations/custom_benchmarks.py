"""Writes for custom benchmarks: import a spec plus JSONL, and make imported ones known to the engine.

An import is content-addressed: the data copy and the user's spec beside it (VAR_DIR/custom_benchmarks/
<slug>-<hash>.jsonl, .spec.json) are named by the content hash, so re-importing the same content is a
no-op. The spec lives in a file, not in Benchmark.task_spec, because benchmark_sync rewrites that column
with the engine's TaskSpec on every run, as for every benchmark.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from django.conf import settings
from django.db import transaction

from evaluations.models import Benchmark
from runner.custom import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ROWS,
    CustomBenchmarkInvalid,
    Problem,
    custom_task,
    load_custom_benchmark,
)
from runner.errors import BenchsiteError, DataUnavailable
from runner.spec import TaskSpec
from runner.catalog import is_builtin, register

STORAGE_FOLDER = "custom_benchmarks"  # under settings.VAR_DIR
SPEC_SUFFIX = ".spec.json"
FEWSHOT_SUFFIX = ".fewshot.jsonl"


@dataclass(frozen=True)
class ImportResult:
    benchmark: Benchmark
    created: bool  # False: identical content was already imported under this version
    items: int
    content_hash: str


def benchmark_import(
    *, spec_path: Path, user=None, max_bytes: int = DEFAULT_MAX_BYTES, max_rows: int = DEFAULT_MAX_ROWS
) -> ImportResult:
    """Validate and store a custom benchmark; on any problem nothing is stored (no row, no file)."""
    loaded = load_custom_benchmark(Path(spec_path), max_bytes=max_bytes, max_rows=max_rows)
    slug, version, content_hash = loaded.slug, loaded.version, loaded.content_hash
    if is_builtin(slug) or Benchmark.objects.filter(slug=slug).exclude(origin=Benchmark.Origin.CUSTOM).exists():
        raise CustomBenchmarkInvalid([Problem(Path(spec_path).name, None,
                                              f"name {slug!r} is taken by a built-in benchmark; choose another")])
    data_path = f"{STORAGE_FOLDER}/{slug}-{content_hash}.jsonl"
    same_version = Benchmark.objects.filter(slug=slug, version=version, origin=Benchmark.Origin.CUSTOM).first()
    if same_version is not None:
        if same_version.data_path == data_path:
            return ImportResult(same_version, False, loaded.items, content_hash)
        raise BenchsiteError(
            f"{slug} version {version} was already imported with different content; "
            f"bump the version to import the change"
        )

    stored_spec = json.dumps({"content_hash": content_hash, "spec": loaded.spec}, indent=2, sort_keys=True)
    files = [(data_path, loaded.data), (_sibling(data_path, SPEC_SUFFIX), stored_spec.encode())]
    if loaded.fewshot_data is not None:
        files.append((_sibling(data_path, FEWSHOT_SUFFIX), loaded.fewshot_data))
    written: list[Path] = []
    try:
        with transaction.atomic():
            for relative, data in files:
                if _write_once(settings.VAR_DIR / relative, data):
                    written.append(settings.VAR_DIR / relative)
            task = _task(loaded.spec, content_hash, data_path)
            benchmark = Benchmark.objects.create(
                slug=slug,
                version=version,
                title=task.title,
                category=task.category,
                origin=Benchmark.Origin.CUSTOM,
                # The engine's view, as benchmark_sync writes it for every benchmark; the user's spec is a file.
                task_spec=json.loads(json.dumps(asdict(task), default=str)),
                spec_hash=task.spec_hash(),
                dataset_hash=loaded.dataset_hash,
                primary_metric=task.primary_metric,
                data_path=data_path,
                submitted_by=user,
            )
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return ImportResult(benchmark, True, loaded.items, content_hash)


@dataclass(frozen=True)
class BenchmarkPreview:
    slug: str
    version: str
    title: str
    items: int
    prompts: list[tuple[str, str]]  # (rendered prompt with its few-shot examples, target) of the first items


def benchmark_preview(*, spec_path: Path, max_bytes: int = DEFAULT_MAX_BYTES, max_rows: int = DEFAULT_MAX_ROWS,
                      count: int = 3) -> BenchmarkPreview:
    """Validate a spec and its data as an import would (CustomBenchmarkInvalid lists every problem), and render
    the first prompts exactly as a run will send them; nothing is stored."""
    from runner.engine import prepare_task

    loaded = load_custom_benchmark(Path(spec_path), max_bytes=max_bytes, max_rows=max_rows)
    with tempfile.TemporaryDirectory(prefix="benchmark-preview-") as folder:
        data_file = Path(folder) / "data.jsonl"
        data_file.write_bytes(loaded.data)
        fewshot_file = None
        if loaded.fewshot_data is not None:
            fewshot_file = Path(folder) / "fewshot.jsonl"
            fewshot_file.write_bytes(loaded.fewshot_data)
        task = custom_task(loaded.spec, content_hash=loaded.content_hash, data_file=data_file,
                           fewshot_file=fewshot_file)
        prepared = prepare_task(task, limit=count)
    return BenchmarkPreview(loaded.slug, loaded.version, task.title or loaded.slug, loaded.items,
                            [(item.prompt, item.target) for item in prepared.items])


def custom_benchmarks_register(*, slugs: Iterable[str]) -> list[TaskSpec]:
    """Make the imported benchmarks among `slugs` known to the engine, each at its latest imported version."""
    wanted = [slug for slug in slugs if not is_builtin(slug)]
    if not wanted:
        return []
    latest: dict[str, Benchmark] = {}
    for benchmark in Benchmark.objects.filter(origin=Benchmark.Origin.CUSTOM, slug__in=wanted).order_by("pk"):
        latest[benchmark.slug] = benchmark
    tasks = [custom_benchmark_task(benchmark=benchmark) for benchmark in latest.values()]
    for task in tasks:
        register(task)
    return tasks


def custom_benchmark_task(*, benchmark: Benchmark) -> TaskSpec:
    """The engine task of an imported benchmark, rebuilt from the spec stored beside its data."""
    spec_file = Path(settings.VAR_DIR) / _sibling(benchmark.data_path, SPEC_SUFFIX)
    try:
        stored = json.loads(spec_file.read_text())
    except FileNotFoundError:
        raise DataUnavailable(f"custom benchmark {benchmark.slug} v{benchmark.version}: {spec_file} is missing; "
                              f"import it again") from None
    return _task(stored["spec"], stored["content_hash"], benchmark.data_path)


def _task(spec: dict, content_hash: str, data_path: str) -> TaskSpec:
    var = Path(settings.VAR_DIR)
    fewshot_file = var / _sibling(data_path, FEWSHOT_SUFFIX) if spec["fewshot"]["separate_file"] else None
    return custom_task(spec, content_hash=content_hash, data_file=var / data_path, fewshot_file=fewshot_file)


def _sibling(data_path: str, suffix: str) -> str:
    """Paths are relative to VAR_DIR, so the var folder can move (or be mounted elsewhere on a worker)."""
    return data_path.removesuffix(".jsonl") + suffix


def _write_once(path: Path, data: bytes) -> bool:
    """Write atomically unless the file is already there (names are content hashes). True if written."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".import-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True
