"""Custom benchmarks: a YAML/JSON spec plus a JSONL file, validated with line-numbered errors.

A valid benchmark becomes an ordinary TaskSpec whose rows are rendered by one generic template (bound to
the stored spec) and, for generation, scored by one generic scorer; no benchmark needs code of its own.
docs/custom-benchmarks.md is the reference for the spec format.
"""
from __future__ import annotations

import hashlib
import json
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import yaml

from runner import similarity
from runner.datasets import DataSource
from runner.errors import BenchsiteError
from runner.registry import TEMPLATES, ScoreContext, ScoreResult, Template, scorer
from runner.spec import GENERATE_UNTIL, MULTIPLE_CHOICE, TaskSpec
from runner.templates import Doc
from runner.text_metrics import best_token_f1, normalize_answer

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_MAX_ROWS = 100_000
MAX_PROBLEMS_SHOWN = 50
SCORER = "custom"
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
VERSION_PATTERN = re.compile(r"^[\w.+-]{1,20}$")
OUTPUT_TYPES = {"multiple_choice": MULTIPLE_CHOICE, "generate": GENERATE_UNTIL}
SAMPLERS = {"random": "default", "first_n": "first_n"}  # spec word -> engine sampler (seeded random, as the harness)

_REQUIRED = ("name", "version", "data", "type", "prompt", "target", "metric")
_DEFAULTS: dict = {
    "title": "",
    "category": "custom",
    "description": "",
    "choices": None,
    "id_field": "id",
    "fewshot": None,
    "stop": None,
    "max_new_tokens": 256,
    "target_delimiter": " ",
    "fewshot_delimiter": "\n\n",
    "chat": False,
}
_FEWSHOT_KEYS = {"n", "file", "sampler"}
_GENERATE_ONLY = ("stop", "max_new_tokens")


# -- generation metrics: best over the accepted answers; BLEU and chrF are 0-100, the others 0-1 ------
def _exact_match(prediction: str, references: Sequence[str]) -> float:
    """SQuAD's exact match: equal after normalisation (case, punctuation, articles, spaces)."""
    return max(float(normalize_answer(prediction) == normalize_answer(ref)) for ref in references)


def _rouge_l(prediction: str, references: Sequence[str]) -> float:
    return max(similarity.rouge(prediction, ref)["rougeL"] for ref in references)


GENERATION_METRICS: dict[str, Callable[[str, Sequence[str]], float]] = {
    "exact_match": _exact_match,
    "f1": best_token_f1,
    "bleu": similarity.bleu,
    "chrf": similarity.chrf,
    "rouge_l": _rouge_l,
}
METRICS_BY_TYPE = {"multiple_choice": ("acc", "acc_norm"), "generate": tuple(GENERATION_METRICS)}


@scorer(SCORER)
def score_generation(doc: Doc, outputs: list[str], context: ScoreContext) -> ScoreResult:
    prediction = outputs[0].strip()
    metric = doc.extra["metric"]
    return ScoreResult({metric: GENERATION_METRICS[metric](prediction, doc.extra["references"])}, prediction)


# -- errors ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "message": self.message}


class CustomBenchmarkInvalid(BenchsiteError):
    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


class RowError(ValueError):
    """A row that the spec cannot render; the message names the field."""


# -- rendering (shared by validation and evaluation, so what validates is what runs) ------------------
def _field(row: dict, name: str, role: str):
    if name not in row:
        raise RowError(f"{role} field {name!r} is not in the row")
    return row[name]


def row_choices(spec: dict, row: dict) -> list[str]:
    choices = spec["choices"]
    if isinstance(choices, str):
        choices = _field(row, choices, "choices")
    if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) for c in choices):
        raise RowError("choices must be a list of at least two strings")
    return choices


def gold_index(choices: list[str], target) -> int:
    """A target is a 0-based index into the choices or the text of one of them."""
    if isinstance(target, bool) or not isinstance(target, (int, str)):
        raise RowError(f"target must be a choice index or a choice text, not {type(target).__name__}")
    if isinstance(target, int):
        if not 0 <= target < len(choices):
            raise RowError(f"label {target} is out of range for {len(choices)} choices (0..{len(choices) - 1})")
        return target
    if target not in choices:
        raise RowError(f"label {target!r} is not one of the choices {choices!r}")
    return choices.index(target)


def reference_texts(target) -> list[str]:
    references = target if isinstance(target, list) else [target]
    if not references or not all(isinstance(ref, str) and ref.strip() for ref in references):
        raise RowError("target must be a non-empty string or a non-empty list of non-empty strings")
    return references


def render_row(spec: dict, row: dict) -> Doc:
    try:
        text = spec["prompt"].format_map(row)
    except KeyError as exc:
        raise RowError(f"prompt field {exc.args[0]!r} is not in the row") from None
    except (IndexError, AttributeError, TypeError, ValueError) as exc:
        raise RowError(f"cannot fill the prompt: {exc}") from None
    target = _field(row, spec["target"], "target")
    if spec["type"] == "multiple_choice":
        choices = row_choices(spec, row)
        return Doc(text=text, choices=tuple(choices), gold=gold_index(choices, target))
    references = reference_texts(target)
    return Doc(text=text, gold=references[0], target_text=references[0],
               extra={"references": references, "metric": spec["metric"]})


def _renderer(spec: dict) -> Template:
    def render(row: dict) -> Doc:
        return render_row(spec, row)

    return render


# -- the validated benchmark -------------------------------------------------------------------------
@dataclass(frozen=True)
class CustomBenchmark:
    """A validated spec (normalised: defaults filled, file names dropped) and the bytes it reads."""

    spec: dict
    data: bytes
    fewshot_data: bytes | None
    items: int

    @property
    def slug(self) -> str:
        return self.spec["name"]

    @property
    def version(self) -> str:
        return self.spec["version"]

    @property
    def content_hash(self) -> str:
        """Covers the normalised spec and the data bytes, not where the files were, nor YAML vs JSON."""
        parts = [json.dumps(self.spec, sort_keys=True), _sha256(self.data), _sha256(self.fewshot_data or b"")]
        return _sha256("\n".join(parts).encode())

    @property
    def dataset_hash(self) -> str:
        return _sha256(self.data)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_custom_benchmark(
    spec_path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, max_rows: int = DEFAULT_MAX_ROWS
) -> CustomBenchmark:
    """Read and validate a spec and its data; raise CustomBenchmarkInvalid listing every problem found."""
    spec_path = Path(spec_path)
    raw, key_lines, problems = _read_spec(spec_path)
    if problems:
        raise CustomBenchmarkInvalid(problems)
    spec, problems = _normalize_spec(raw, key_lines, spec_path.name)
    if problems:
        raise CustomBenchmarkInvalid(problems)
    data_path = spec_path.parent / raw["data"]
    data, rows, problems = _read_rows(data_path, raw["data"], max_bytes, max_rows)
    problems = _by_line(problems + _check_rows(spec, rows, raw["data"]))
    fewshot = raw.get("fewshot") or {}
    fewshot_data = None
    pool = len(rows) - 1  # an item is never its own example
    if fewshot.get("file"):
        fewshot_data, fewshot_rows, fewshot_problems = _read_rows(
            spec_path.parent / fewshot["file"], fewshot["file"], max_bytes, max_rows
        )
        problems += _by_line(fewshot_problems + _check_rows(spec, fewshot_rows, fewshot["file"]))
        pool = len(fewshot_rows)
    if not problems and spec["fewshot"]["n"] > pool:
        problems.append(Problem(spec_path.name, key_lines.get("fewshot"),
                                f"fewshot n={spec['fewshot']['n']} needs more examples than the {pool} available"))
    if problems:
        raise CustomBenchmarkInvalid(_capped(problems))
    return CustomBenchmark(spec, data, fewshot_data, len(rows))


def _by_line(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda problem: problem.line or 0)


def _capped(problems: list[Problem]) -> list[Problem]:
    if len(problems) <= MAX_PROBLEMS_SHOWN:
        return problems
    hidden = len(problems) - MAX_PROBLEMS_SHOWN
    return problems[:MAX_PROBLEMS_SHOWN] + [Problem(problems[-1].file, None, f"... and {hidden} more problems")]


def _read_spec(path: Path) -> tuple[dict, dict[str, int], list[Problem]]:
    """The spec as a dict, the line of each top-level key (for messages), and parse problems."""
    name = path.name
    if path.suffix.lower() not in (".yaml", ".yml", ".json"):
        return {}, {}, [Problem(name, None, "a spec must be a .yaml, .yml or .json file")]
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, {}, [Problem(name, None, f"spec file not found: {path}")]
    except UnicodeDecodeError as exc:
        return {}, {}, [Problem(name, None, f"not UTF-8 text: {exc.reason}")]
    try:
        spec = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        return {}, {}, [Problem(name, exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return {}, {}, [Problem(name, mark.line + 1 if mark else None, f"invalid YAML: {getattr(exc, 'problem', exc)}")]
    if not isinstance(spec, dict):
        return {}, {}, [Problem(name, 1, "the spec must be a mapping of fields")]
    return spec, *_key_lines(text, name)


def _key_lines(text: str, name: str) -> tuple[dict[str, int], list[Problem]]:
    """Top-level key lines from the YAML node tree (JSON parses as YAML too); repeated keys are problems."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return {}, []
    lines: dict[str, int] = {}
    problems = []
    for key, _ in getattr(root, "value", []) if isinstance(root, yaml.MappingNode) else []:
        line = key.start_mark.line + 1
        if key.value in lines:
            first = lines[key.value]
            problems.append(Problem(name, line, f"field {key.value!r} is given twice (first on line {first})"))
        lines.setdefault(key.value, line)
    return lines, problems


def _normalize_spec(raw: dict, key_lines: dict[str, int], name: str) -> tuple[dict, list[Problem]]:
    problems: list[Problem] = []

    def problem(key: str | None, message: str) -> None:
        problems.append(Problem(name, key_lines.get(key) if key else None, message))

    for key in sorted(set(raw) - set(_REQUIRED) - set(_DEFAULTS)):
        problem(key, f"unknown field {key!r}; see docs/custom-benchmarks.md for the fields")
    for key in _REQUIRED:
        if key not in raw:
            problem(None, f"missing field {key!r}")
    spec = {**_DEFAULTS, **{k: v for k, v in raw.items() if k in _REQUIRED or k in _DEFAULTS}}
    if problems:
        return spec, problems

    if not isinstance(spec["name"], str) or not SLUG_PATTERN.match(spec["name"]):
        problem("name", "name must be a slug: lowercase letters, digits, '-' or '_', at most 64 characters")
    version = spec["version"]
    if isinstance(version, float):
        problem("version", f"version {version!r} is a number; quote it (\"{version}\") so 1.10 stays 1.10")
    elif not isinstance(version, (str, int)) or isinstance(version, bool) or not VERSION_PATTERN.match(str(version)):
        problem("version", "version must be a short string such as \"1.0\" (letters, digits, . + - _)")
    else:
        spec["version"] = str(version)
    for key, limit in (("title", 200), ("category", 50), ("description", 10_000), ("data", 1000),
                       ("target", 200), ("id_field", 200), ("target_delimiter", 100), ("fewshot_delimiter", 100)):
        if not isinstance(spec[key], str) or len(spec[key]) > limit:
            problem(key, f"{key} must be a string of at most {limit} characters")
    kind = spec["type"]
    if not isinstance(kind, str) or kind not in OUTPUT_TYPES:
        problem("type", f"unknown type {kind!r}; use one of: {', '.join(OUTPUT_TYPES)}")
    elif spec["metric"] not in METRICS_BY_TYPE[kind]:
        known = ", ".join(METRICS_BY_TYPE[kind])
        problem("metric", f"unknown metric {spec['metric']!r} for {kind}; use one of: {known}")
    problems += [Problem(name, key_lines.get("prompt"), message) for message in _prompt_problems(spec["prompt"])]
    if not isinstance(spec["chat"], bool):
        problem("chat", "chat must be true or false")

    if kind == "multiple_choice":
        choices = spec["choices"]
        if choices is None:
            problem(None, "missing field 'choices' (a row field name or a list of choice texts)")
        elif not (isinstance(choices, str) and choices) and not (
            isinstance(choices, list) and len(choices) >= 2 and all(isinstance(c, str) for c in choices)
        ):
            problem("choices", "choices must be a row field name or a list of at least two strings")
        for key in _GENERATE_ONLY:
            if raw.get(key) is not None:
                problem(key, f"{key} applies to generate benchmarks only")
    elif kind == "generate":
        if spec["choices"] is not None:
            problem("choices", "choices applies to multiple_choice benchmarks only")
        stop = [spec["stop"]] if isinstance(spec["stop"], str) else spec["stop"] or []
        if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
            problem("stop", "stop must be a string or a list of non-empty strings")
        spec["stop"] = stop
        tokens = spec["max_new_tokens"]
        if isinstance(tokens, bool) or not isinstance(tokens, int) or not 1 <= tokens <= 8192:
            problem("max_new_tokens", "max_new_tokens must be a whole number from 1 to 8192")

    spec["fewshot"] = _normalize_fewshot(spec["fewshot"], lambda message: problem("fewshot", message))
    spec["title"] = spec["title"] or spec["name"]
    del spec["data"]  # the bytes are hashed, not the file name
    return spec, problems


def _prompt_problems(prompt) -> list[str]:
    if not isinstance(prompt, str) or not prompt.strip():
        return ["prompt must be a non-empty format string such as \"Question: {question}\\nAnswer:\""]
    try:
        parsed = [(field, spec) for _, field, spec, _ in string.Formatter().parse(prompt) if field is not None]
    except ValueError as exc:
        return [f"prompt is not a valid format string: {exc} (write {{{{ and }}}} for literal braces)"]
    problems = []
    if any(field == "" or field.split("[")[0].isdigit() for field, _ in parsed):
        problems.append("prompt fields must be named after row fields, e.g. {question}, not {} or {0}")
    # Rows come from uploads: no attribute walks, and no nested or huge widths that could exhaust memory.
    if any("." in re.sub(r"\[[^\]]*\]", "", field) for field, _ in parsed):
        problems.append("prompt fields cannot use attributes (.); index with [key], e.g. {meta[source]}")
    if any("{" in spec or re.search(r"\d{4,}", spec) for _, spec in parsed):
        problems.append("prompt format specs cannot nest fields or ask for widths of 1000 or more")
    return problems


def _normalize_fewshot(fewshot, problem: Callable[[str], None]) -> dict:
    if fewshot is None:
        return {"n": 0, "sampler": "random", "separate_file": False}
    if not isinstance(fewshot, dict):
        problem("fewshot must be a mapping with n, and optionally file and sampler")
        return {}
    for key in sorted(set(fewshot) - _FEWSHOT_KEYS):
        problem(f"unknown fewshot field {key!r}; use n, file, sampler")
    n = fewshot.get("n", 0)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        problem("fewshot n must be a whole number, 0 or more")
    sampler = fewshot.get("sampler", "random")
    if not isinstance(sampler, str) or sampler not in SAMPLERS:
        problem(f"unknown fewshot sampler {sampler!r}; use one of: {', '.join(SAMPLERS)}")
    file = fewshot.get("file")
    if file is not None and (not isinstance(file, str) or not file):
        problem("fewshot file must be a path relative to the spec")
    return {"n": n, "sampler": sampler, "separate_file": bool(file)}


def _read_rows(
    path: Path, label: str, max_bytes: int, max_rows: int
) -> tuple[bytes, list[tuple[int, dict]], list[Problem]]:
    """(bytes, [(line number, row)], problems). Blank lines are skipped, as the engine's loader does."""
    if not path.is_file():
        return b"", [], [Problem(label, None, f"data file not found: {path}")]
    size = path.stat().st_size
    if size > max_bytes:
        return b"", [], [Problem(label, None, f"file is {size} bytes, over the limit of {max_bytes} bytes")]
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return data, [], [Problem(label, data[: exc.start].count(b"\n") + 1, f"not UTF-8 text: {exc.reason}")]
    rows: list[tuple[int, dict]] = []
    problems: list[Problem] = []
    count = 0
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        count += 1
        if count > max_rows:
            problems.append(Problem(label, line_number, f"more than {max_rows} rows, the limit"))
            break
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(Problem(label, line_number, f"invalid JSON: {exc.msg} (column {exc.colno})"))
            continue
        if not isinstance(row, dict):
            problems.append(Problem(label, line_number, f"a row must be a JSON object, not {type(row).__name__}"))
            continue
        rows.append((line_number, row))
    if not rows and not problems:
        problems.append(Problem(label, None, "file is empty: no JSON rows"))
    return data, rows, problems


def _check_rows(spec: dict, rows: list[tuple[int, dict]], label: str) -> list[Problem]:
    problems = []
    first_seen: dict[str, int] = {}
    id_field = spec["id_field"]
    for line_number, row in rows:
        if id_field in row:
            key = json.dumps(row[id_field], sort_keys=True)
            if key in first_seen:
                problems.append(Problem(label, line_number,
                                        f"duplicate {id_field} {row[id_field]!r} (first on line {first_seen[key]})"))
            first_seen.setdefault(key, line_number)
        try:
            render_row(spec, row)
        except RowError as exc:
            problems.append(Problem(label, line_number, str(exc)))
    return problems


# -- as an engine task -------------------------------------------------------------------------------
def template_name(slug: str, content_hash: str) -> str:
    return f"custom:{slug}:{content_hash[:16]}"


def custom_task(spec: dict, *, content_hash: str, data_file: Path, fewshot_file: Path | None = None) -> TaskSpec:
    """The engine task of a stored custom benchmark; registers its (content-addressed) template."""
    name = template_name(spec["name"], content_hash)
    TEMPLATES.setdefault(name, _renderer(spec))
    is_generation = spec["type"] == "generate"
    return TaskSpec(
        slug=spec["name"],
        title=spec["title"],
        category=spec["category"],
        version=spec["version"],
        output_type=OUTPUT_TYPES[spec["type"]],
        template=name,
        test=DataSource(str(data_file)),
        fewshot=DataSource(str(fewshot_file or data_file)),
        fewshot_sampler=SAMPLERS[spec["fewshot"]["sampler"]],
        default_num_fewshot=spec["fewshot"]["n"],
        description=spec["description"],
        target_delimiter=spec["target_delimiter"],
        fewshot_delimiter=spec["fewshot_delimiter"],
        metrics=(spec["metric"],) if is_generation else METRICS_BY_TYPE["multiple_choice"],
        until=tuple(spec["stop"] or ()),
        max_new_tokens=spec["max_new_tokens"],
        primary_metric=spec["metric"],
        scorer=SCORER if is_generation else "",
        chat=spec["chat"],
    )
