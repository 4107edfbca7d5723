"""Results out of the site: a run's samples as flat rows (CSV/JSON downloads), a run in lm-evaluation-harness's
results format (results_<date>.json of harness 0.4.x, with its samples_<task>.jsonl lines), and the
`export_results` tree: predictions, logs and metrics by model / benchmark / preset, with a manifest of hashes.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from django.db.models import QuerySet
from django.utils import timezone

from evaluations import manifests
from evaluations.models import Benchmark, Run, RunStatus, Sample, Score, SignedManifest
from evaluations.selectors import visible_runs

EXPORT_FORMAT = "benchsite-export/1"
HARNESS_FILTER = "none"  # the harness's name for "no filter" in "metric,filter" keys
# Top-level keys the harness's schema allows to be null; others are left out when unknown.
NULLABLE_KEYS = frozenset({"system_instruction", "chat_template", "fewshot_as_multiturn"})
SAMPLE_COLUMNS = ("run_id", "model", "benchmark", "doc_id", "correct", "target", "prediction", "output", "prompt",
                  "metrics", "latency_ms", "prompt_tokens", "output_tokens")


# -- a run's samples as rows -------------------------------------------------------------------
def sample_rows(samples: QuerySet[Sample], run: Run) -> Iterator[dict]:
    """One flat dict per sample (metrics as a JSON string: a CSV cell), in the page's order."""
    for sample in samples.iterator(chunk_size=1000):
        yield {
            "run_id": run.pk, "model": run.model.slug, "benchmark": sample.benchmark.slug, "doc_id": sample.doc_id,
            "correct": sample.correct, "target": sample.target, "prediction": sample.prediction,
            "output": sample.output, "prompt": sample.prompt,
            "metrics": json.dumps(sample.metrics, sort_keys=True), "latency_ms": sample.latency_ms,
            "prompt_tokens": sample.prompt_tokens, "output_tokens": sample.output_tokens,
        }


# -- lm-evaluation-harness's format ------------------------------------------------------------
def harness_metric_key(metric: str) -> tuple[str, str]:
    """benchsite's "exact_match,strict-match" is the harness's metric and filter already; others have none."""
    name, _, filter_name = metric.partition(",")
    return name, filter_name or HARNESS_FILTER


def harness_results(run: Run, slugs: Iterable[str] | None = None) -> dict:
    """The run (or some of its benchmarks) as lm-evaluation-harness 0.4.x writes results_<date>.json.

    Tasks and groups both appear under "results", groups again under "groups", members listed in
    "group_subtasks" (the harness's table indents them from there); keys without a value are left out, as
    lm_eval.result_schema.EvalResults types them; extra benchsite facts are under "benchsite".
    """
    wanted = set(slugs) if slugs is not None else None
    scores = [score for score in Score.objects.filter(run=run).select_related("benchmark")
              .order_by("benchmark__slug", "metric") if wanted is None or score.benchmark.slug in wanted]
    benchmarks = {score.benchmark.slug: score.benchmark for score in scores}
    members = {slug: [member for member in benchmark.task_spec.get("members", ()) if member in benchmarks]
               for slug, benchmark in benchmarks.items() if benchmark.is_group}
    grouped = {member: group for group, names in members.items() for member in names}
    recorded = (run.config or {}).get("tasks", {})
    results: dict[str, dict] = {}
    higher: dict[str, dict[str, bool]] = {}
    samples: dict[str, dict[str, int]] = {}
    for score in scores:
        slug = score.benchmark.slug
        entry = results.setdefault(slug, {"name": slug, "alias": slug, "sample_len": score.n})
        name, filter_name = harness_metric_key(score.metric)
        entry[f"{name},{filter_name}"] = score.value
        if score.stderr is not None:  # the schema's metric values are numbers: an unknown one is left out
            entry[f"{name}_stderr,{filter_name}"] = score.stderr
        higher.setdefault(slug, {})[name] = score.higher_is_better
        samples.setdefault(slug, {"original": score.n, "effective": score.n})
    order = [slug for group in sorted(members) for slug in [group, *members[group]] if slug in results]
    order += sorted(slug for slug in results if slug not in order)
    environment = run.environment or {}
    started, finished = run.started_at or run.created_at, run.finished_at
    document = {
        "results": {slug: results[slug] for slug in order},
        "groups": {group: results[group] for group in sorted(members)},
        "group_subtasks": {slug: members.get(slug, []) for slug in order if slug not in grouped},
        "configs": {slug: _harness_task_config(slug, benchmarks[slug])
                    for slug in order if not benchmarks[slug].is_group},
        "versions": {slug: _version(benchmarks[slug].version) for slug in order},
        "n-shot": {slug: recorded.get(slug, {}).get("num_fewshot", (run.config or {}).get("num_fewshot") or 0)
                   for slug in order},
        "higher_is_better": {slug: higher[slug] for slug in order},
        "n-samples": {slug: samples[slug] for slug in order if not benchmarks[slug].is_group},
        "config": {
            "model": run.backend, "model_args": f"pretrained={run.model.location}",
            "batch_size": str((run.config or {}).get("backend_options", {}).get("batch_size", 1)),
            "device": environment.get("device"), "limit": (run.config or {}).get("limit"),
            "bootstrap_iters": 0, "gen_kwargs": None, "random_seed": 0, "numpy_seed": 1234, "torch_seed": 1234,
            "fewshot_seed": (run.config or {}).get("fewshot_seed", 1234),
        },
        "git_hash": environment.get("git_revision") or environment.get("git"),
        "date": finished.timestamp() if finished else None,
        "transformers_version": (environment.get("libraries") or {}).get("transformers"),
        "model_source": run.backend,
        "model_name": run.model.name,
        "model_name_sanitized": re.sub(r"[\"<>:/|\\?*\[\]]+", "__", run.model.name),
        "system_instruction": None,
        "chat_template": None,
        "fewshot_as_multiturn": False,
        "start_time": started.timestamp() if started else None,
        "end_time": finished.timestamp() if finished else None,
        "total_evaluation_time_seconds": str((finished - started).total_seconds()) if started and finished else None,
        "benchsite": {"run_id": run.pk, "config_hash": run.config_hash, "model_sha256": run.model_sha256,
                      "dataset_hashes": run.dataset_hashes, "task_spec_hashes": run.task_spec_hashes},
    }
    return {key: value for key, value in document.items() if value is not None or key in NULLABLE_KEYS}


def harness_sample(sample: Sample) -> dict:
    """One line of the harness's samples_<task>_<date>.jsonl for a stored sample."""
    resps: list
    if sample.loglikelihoods is not None:
        # As the harness writes them (its sanitize_list): [log-likelihood, is_greedy] as strings.
        resps = [[[str(value), "False"]] for value in sample.loglikelihoods]
        filtered = [[str(value), "False"] for value in sample.loglikelihoods]
        arguments = {f"gen_args_{i}": {"arg_0": sample.prompt, "arg_1": f"choice {i}"}
                     for i in range(len(sample.loglikelihoods))}
    else:
        resps, filtered = [[sample.output]], [sample.prediction or sample.output]
        arguments = {"gen_args_0": {"arg_0": sample.prompt, "arg_1": {}}}
    metrics = {harness_metric_key(name)[0]: value for name, value in (sample.metrics or {}).items()}
    return {
        "doc_id": sample.doc_id, "doc": {}, "target": sample.target, "arguments": arguments, "resps": resps,
        "filtered_resps": filtered, "filter": HARNESS_FILTER, "metrics": sorted(metrics),
        "doc_hash": _sha256(str(sample.doc_id)), "prompt_hash": _sha256(sample.prompt),
        "target_hash": _sha256(sample.target), **metrics,
    }


def _harness_task_config(slug: str, benchmark: Benchmark) -> dict[str, str]:
    """The schema types a task config's values as strings (few-shot count and version have their own keys)."""
    spec = benchmark.task_spec or {}
    return {"task": slug, "dataset_path": str(spec.get("dataset", spec.get("source", ""))),
            "output_type": str(spec.get("output_type", "")), "spec_hash": benchmark.spec_hash}


def _version(version: str) -> float | str:
    try:
        return float(version)
    except ValueError:
        return version


# -- the export tree ---------------------------------------------------------------------------
def runs_to_export(*, user=None, include_private: bool = False, model: str | None = None) -> QuerySet[Run]:
    runs = Run.objects.all() if include_private else visible_runs(user)
    runs = runs.filter(status=RunStatus.FINISHED).select_related("model").order_by("model__slug", "pk")
    return runs.filter(model__slug=model) if model else runs


def export_results(*, directory: Path, runs: Iterable[Run]) -> dict:
    """Write each run under <model>/<benchmark>/<preset>/run-<id>/ and a signed manifest of every file's hash.

    Per benchmark: predictions.jsonl (its samples), metrics.json (its scores), results.json (harness format)
    and log.json (the run's configuration, environment, shards and performance). Per run, the run's signed
    manifest under <model>/manifests/. The top-level manifest.json lists every file with its sha256.
    """
    directory.mkdir(parents=True, exist_ok=True)
    files: list[dict] = []
    exported: list[int] = []
    for run in runs:
        exported.append(run.pk)
        model_dir = directory / _safe(run.model.slug)
        log = _run_log(run)
        scores = list(Score.objects.filter(run=run).select_related("benchmark").order_by("benchmark__slug", "metric"))
        slugs = sorted({score.benchmark.slug for score in scores}
                       | set(run.benchmarks.filter(is_group=False).values_list("slug", flat=True)))
        for slug in slugs:
            folder = model_dir / _safe(slug) / _safe(run.preset or "custom") / f"run-{run.pk}"
            folder.mkdir(parents=True, exist_ok=True)
            samples = Sample.objects.filter(run=run, benchmark__slug=slug).select_related("benchmark").order_by("doc_id")
            with (folder / "predictions.jsonl").open("w") as handle:
                for sample in samples.iterator(chunk_size=1000):
                    handle.write(json.dumps(harness_sample(sample), ensure_ascii=False) + "\n")
            metrics = [{"metric": s.metric, "value": s.value, "stderr": s.stderr, "n": s.n, "primary": s.is_primary,
                        "config_key": s.config_key, "normalized": s.normalized, "baseline": s.baseline,
                        "higher_is_better": s.higher_is_better} for s in scores if s.benchmark.slug == slug]
            _write_json(folder / "metrics.json", {"run_id": run.pk, "model": run.model.slug, "benchmark": slug,
                                                  "preset": run.preset, "metrics": metrics})
            _write_json(folder / "results.json", harness_results(run, [slug]))
            _write_json(folder / "log.json", log)
            files += [_file_entry(directory, folder / name)
                      for name in ("predictions.jsonl", "metrics.json", "results.json", "log.json")]
        signed = model_dir / "manifests" / f"run-{run.pk}.json"
        signed.parent.mkdir(parents=True, exist_ok=True)
        _write_json(signed, _signed_manifest(run))
        files.append(_file_entry(directory, signed))
    manifest = {"format": EXPORT_FORMAT, "generated_at": timezone.now().isoformat(), "runs": exported,
                "files": sorted(files, key=lambda entry: entry["path"])}
    document = manifests.manifest_sign(manifest)
    _write_json(directory / "manifest.json", document)
    return document


def export_check(directory: Path) -> list[str]:
    """Files whose bytes no longer match the export's manifest (missing ones included); empty when intact."""
    document = json.loads((directory / "manifest.json").read_text())
    problems = []
    for entry in document["manifest"]["files"]:
        path = directory / entry["path"]
        if not path.is_file():
            problems.append(f"{entry['path']}: missing")
        elif _sha256_file(path) != entry["sha256"]:
            problems.append(f"{entry['path']}: sha256 differs")
    return problems


def _signed_manifest(run: Run) -> dict:
    # The manifest signed when the run finished, if there is one; else signed now (not stored: a read).
    stored = SignedManifest.objects.filter(run=run).first()
    return stored.document if stored else manifests.manifest_sign(manifests.run_manifest(run))


def _run_log(run: Run) -> dict:
    shards = list(run.shards.order_by("benchmark_slug", "start").values(
        "benchmark_slug", "start", "stop", "status", "deliveries", "worker", "error", "updated_at"))
    return {
        "run_id": run.pk, "model": run.model.name, "backend": run.backend, "preset": run.preset,
        "status": run.status, "config": run.config, "config_hash": run.config_hash, "environment": run.environment,
        "created_at": _iso(run.created_at), "started_at": _iso(run.started_at), "finished_at": _iso(run.finished_at),
        "queue": run.queue, "error": run.error, "performance": run.performance,
        "shards": [{**shard, "updated_at": _iso(shard["updated_at"])} for shard in shards],
    }


def _write_json(path: Path, document: dict) -> None:
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False, default=str) + "\n")


def _file_entry(root: Path, path: Path) -> dict:
    return {"path": path.relative_to(root).as_posix(), "sha256": _sha256_file(path), "bytes": path.stat().st_size}


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _safe(name: str) -> str:
    """A path component: letters, digits, dot, dash and underscore only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip(".") or "_"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
