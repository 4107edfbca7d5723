"""Custom benchmarks: line-numbered validation, all-or-nothing import, hashes and versions, real runs."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from evaluations.custom_benchmarks import benchmark_import, custom_benchmarks_register
from evaluations.models import Benchmark, Sample
from runner import catalog as task_registry
from runner.custom import CustomBenchmarkInvalid, custom_task, load_custom_benchmark, score_generation
from runner.engine import prepare_task
from runner.errors import BenchsiteError
from runner.registry import ScoreContext
from runner.templates import Doc
from runner.text_metrics import normalize_answer

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
pytestmark = pytest.mark.django_db

MC_SPEC = {
    "name": "colours",
    "version": "1.0",
    "data": "data.jsonl",
    "type": "multiple_choice",
    "prompt": "Q: What colour is {thing}?\nA:",
    "choices": "options",
    "target": "answer",
    "metric": "acc",
}
MC_ROWS = [
    {"id": "a", "thing": "grass", "options": ["red", "green", "blue"], "answer": 1},
    {"id": "b", "thing": "the sky", "options": ["red", "green", "blue"], "answer": "blue"},
    {"id": "c", "thing": "blood", "options": ["red", "green", "blue"], "answer": 0},
]


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path) -> Path:
    settings.VAR_DIR = tmp_path / "var"
    yield settings.VAR_DIR
    for slug in [slug for slug in task_registry.TASKS if not task_registry.is_builtin(slug)]:
        task_registry.unregister(slug)


def write(folder: Path, spec: dict, rows: list[dict] | str, *, spec_name: str = "spec.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = rows if isinstance(rows, str) else "".join(json.dumps(row) + "\n" for row in rows)
    (folder / spec["data"]).write_text(text)
    spec_path = folder / spec_name
    spec_path.write_text(json.dumps(spec, indent=2) if spec_name.endswith(".json") else yaml.safe_dump(spec))
    return spec_path


def problems(spec_path: Path, **limits) -> list[str]:
    with pytest.raises(CustomBenchmarkInvalid) as caught:
        load_custom_benchmark(spec_path, **limits)
    return [str(problem) for problem in caught.value.problems]


def stored_files(var_dir: Path) -> list[str]:
    folder = var_dir / "custom_benchmarks"
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


# -- validation: every problem with its file and line --------------------------------------------------
def test_bad_json_is_reported_on_its_line(tmp_path):
    lines = [json.dumps(MC_ROWS[0]), json.dumps(MC_ROWS[1]), '{"id": "c", "thing": "blood" "answer": 0}']
    found = problems(write(tmp_path, MC_SPEC, "\n".join(lines) + "\n"))
    assert len(found) == 1
    assert found[0].startswith("data.jsonl:3: invalid JSON: Expecting ',' delimiter")


def test_line_numbers_count_blank_lines_and_every_problem_is_listed(tmp_path):
    duplicate = {**MC_ROWS[2], "id": "a"}
    text = f"{json.dumps(MC_ROWS[0])}\n{json.dumps(duplicate)}\n\n[1, 2]\n{{\"id\": \n"
    assert problems(write(tmp_path, MC_SPEC, text)) == [
        "data.jsonl:2: duplicate id 'a' (first on line 1)",
        "data.jsonl:4: a row must be a JSON object, not list",
        "data.jsonl:5: invalid JSON: Expecting value (column 8)",
    ]


def test_missing_spec_fields_are_named(tmp_path):
    spec = {key: value for key, value in MC_SPEC.items() if key not in ("prompt", "metric")}
    assert problems(write(tmp_path, spec, MC_ROWS)) == [
        "spec.yaml: missing field 'prompt'",
        "spec.yaml: missing field 'metric'",
    ]


def test_row_fields_the_spec_needs_are_checked_per_line(tmp_path):
    rows = [MC_ROWS[0], {"id": "b", "options": ["x", "y"], "answer": 0},
            {"id": "c", "thing": "ink", "options": ["x", "y"]}]
    assert problems(write(tmp_path, {**MC_SPEC, "prompt": "Q: {thing} ({colour_hint})"}, MC_ROWS[:1])) == [
        "data.jsonl:1: prompt field 'colour_hint' is not in the row",
    ]
    assert problems(write(tmp_path, MC_SPEC, rows)) == [
        "data.jsonl:2: prompt field 'thing' is not in the row",
        "data.jsonl:3: target field 'answer' is not in the row",
    ]


def test_labels_out_of_range_or_not_among_the_choices(tmp_path):
    rows = [MC_ROWS[0], {**MC_ROWS[1], "answer": 3}, {**MC_ROWS[2], "answer": "purple"},
            {**MC_ROWS[2], "id": "d", "answer": -1}]
    assert problems(write(tmp_path, MC_SPEC, rows)) == [
        "data.jsonl:2: label 3 is out of range for 3 choices (0..2)",
        "data.jsonl:3: label 'purple' is not one of the choices ['red', 'green', 'blue']",
        "data.jsonl:4: label -1 is out of range for 3 choices (0..2)",
    ]


def test_unknown_metric_and_type_point_at_their_spec_lines(tmp_path):
    spec_path = tmp_path / "spec.yaml"
    write(tmp_path, MC_SPEC, MC_ROWS)
    text = spec_path.read_text()
    lines = text.splitlines()
    metric_line = next(i for i, line in enumerate(lines, 1) if line.startswith("metric:"))
    spec_path.write_text(text.replace("metric: acc", "metric: bleu"))
    assert problems(spec_path) == [
        f"spec.yaml:{metric_line}: unknown metric 'bleu' for multiple_choice; use one of: acc, acc_norm"
    ]
    type_line = next(i for i, line in enumerate(lines, 1) if line.startswith("type:"))
    spec_path.write_text(text.replace("type: multiple_choice", "type: ranking"))
    assert problems(spec_path) == [
        f"spec.yaml:{type_line}: unknown type 'ranking'; use one of: multiple_choice, generate"
    ]


def test_spec_syntax_errors_and_unknown_or_repeated_fields(tmp_path):
    spec_path = tmp_path / "spec.json"
    spec_path.write_text('{\n  "name": "x",\n  "version": "1.0",,\n}\n')
    assert problems(spec_path) == [
        "spec.json:3: invalid JSON: Expecting property name enclosed in double quotes (column 20)"
    ]
    write(tmp_path, MC_SPEC, MC_ROWS)
    yaml_path = tmp_path / "spec.yaml"
    text = yaml_path.read_text()
    yaml_path.write_text(text + "promt: oops\nmetric: acc_norm\n")
    count = len(text.splitlines())
    original_metric = next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith("metric:"))
    assert problems(yaml_path) == [
        f"spec.yaml:{count + 2}: field 'metric' is given twice (first on line {original_metric})",
    ]
    yaml_path.write_text(text + "promt: oops\n")
    assert problems(yaml_path) == [
        f"spec.yaml:{count + 1}: unknown field 'promt'; see docs/custom-benchmarks.md for the fields"
    ]
    yaml_path.write_text(text.replace('version: \'1.0\'', "version: 1.10"))
    assert "quote it" in problems(yaml_path)[0]


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("Q: {thing", "prompt is not a valid format string"),
        ("Q: {} or {0}", "prompt fields must be named after row fields"),
        ("Q: {thing.__class__}", "prompt fields cannot use attributes"),
        ("Q: {thing:>99999999}", "widths of 1000 or more"),
        ("Q: {thing:{answer}}", "cannot nest fields"),
    ],
)
def test_prompt_format_strings_are_checked_before_any_row(tmp_path, prompt, message):
    spec_path = write(tmp_path, {**MC_SPEC, "prompt": prompt}, MC_ROWS)
    prompt_line = next(i for i, line in enumerate(spec_path.read_text().splitlines(), 1) if line.startswith("prompt:"))
    [found] = problems(spec_path)
    assert found.startswith(f"spec.yaml:{prompt_line}: ") and message in found


def test_empty_and_oversized_files_are_refused(tmp_path):
    assert problems(write(tmp_path, MC_SPEC, "\n\n")) == ["data.jsonl: file is empty: no JSON rows"]
    spec_path = write(tmp_path, MC_SPEC, MC_ROWS)
    size = (tmp_path / "data.jsonl").stat().st_size
    assert problems(spec_path, max_bytes=size - 1) == [
        f"data.jsonl: file is {size} bytes, over the limit of {size - 1} bytes"
    ]
    assert problems(spec_path, max_rows=2) == ["data.jsonl:3: more than 2 rows, the limit"]
    assert load_custom_benchmark(spec_path, max_bytes=size, max_rows=3).items == 3


def test_generation_targets_and_fewshot_pool_are_checked(tmp_path):
    spec = {**MC_SPEC, "type": "generate", "metric": "f1", "prompt": "{thing}", "target": "colour"}
    del spec["choices"]
    rows = [{"thing": "grass", "colour": ["green", "verdant"]}, {"thing": "sky", "colour": []},
            {"thing": "ink", "colour": 3}]
    assert problems(write(tmp_path, spec, rows)) == [
        "data.jsonl:2: target must be a non-empty string or a non-empty list of non-empty strings",
        "data.jsonl:3: target must be a non-empty string or a non-empty list of non-empty strings",
    ]
    spec_path = write(tmp_path, {**spec, "fewshot": {"n": 1}}, rows[:1])
    fewshot_line = spec_path.read_text().splitlines().index("fewshot:") + 1
    assert problems(spec_path) == [f"spec.yaml:{fewshot_line}: fewshot n=1 needs more examples than the 0 available"]


# -- import: all or nothing, hashes, versions --------------------------------------------------------
def test_nothing_is_stored_when_validation_fails(tmp_path, var_dir):
    spec_path = write(tmp_path, MC_SPEC, [MC_ROWS[0], {**MC_ROWS[1], "answer": 7}])
    with pytest.raises(CustomBenchmarkInvalid):
        benchmark_import(spec_path=spec_path)
    assert not Benchmark.objects.exists() and stored_files(var_dir) == []


def test_nothing_is_stored_when_the_database_write_fails(tmp_path, var_dir, monkeypatch):
    spec = {**MC_SPEC, "fewshot": {"n": 1, "file": "shots.jsonl"}}
    spec_path = write(tmp_path, spec, MC_ROWS)
    (tmp_path / "shots.jsonl").write_text(json.dumps(MC_ROWS[0]) + "\n")

    def refuse(**fields):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Benchmark.objects, "create", refuse)
    with pytest.raises(RuntimeError):
        benchmark_import(spec_path=spec_path)
    assert not Benchmark.objects.exists() and stored_files(var_dir) == []


def test_import_stores_a_content_addressed_copy_and_the_spec(tmp_path, var_dir):
    result = benchmark_import(spec_path=write(tmp_path, MC_SPEC, MC_ROWS))
    benchmark = result.benchmark
    assert result.created and result.items == 3 and len(result.content_hash) == 64
    assert (benchmark.origin, benchmark.slug, benchmark.version) == (Benchmark.Origin.CUSTOM, "colours", "1.0")
    assert benchmark.data_path == f"custom_benchmarks/colours-{result.content_hash}.jsonl"
    assert (var_dir / benchmark.data_path).read_bytes() == (tmp_path / "data.jsonl").read_bytes()
    assert stored_files(var_dir) == [f"colours-{result.content_hash}.jsonl", f"colours-{result.content_hash}.spec.json"]
    stored_spec = json.loads((var_dir / f"custom_benchmarks/colours-{result.content_hash}.spec.json").read_text())
    assert stored_spec["spec"]["prompt"] == MC_SPEC["prompt"] and stored_spec["content_hash"] == result.content_hash
    [task] = custom_benchmarks_register(slugs=["colours"])
    assert benchmark.spec_hash == task.spec_hash() and task_registry.TASKS["colours"] == task
    assert benchmark.task_spec["template"] == task.template and benchmark.primary_metric == "acc"


def test_a_missing_stored_spec_is_a_clear_error(tmp_path, var_dir):
    result = benchmark_import(spec_path=write(tmp_path, MC_SPEC, MC_ROWS))
    (var_dir / f"custom_benchmarks/colours-{result.content_hash}.spec.json").unlink()
    with pytest.raises(BenchsiteError, match="colours v1.0: .* is missing; import it again"):
        custom_benchmarks_register(slugs=["colours", "arc_easy"])


def test_content_hash_ignores_file_names_format_and_comments_but_not_content(tmp_path):
    yaml_path = write(tmp_path / "a", MC_SPEC, MC_ROWS)
    yaml_path.write_text("# a comment\n" + yaml_path.read_text())
    json_path = write(tmp_path / "b", {**MC_SPEC, "data": "other-name.jsonl"}, MC_ROWS, spec_name="spec.json")
    first = load_custom_benchmark(yaml_path).content_hash
    assert load_custom_benchmark(json_path).content_hash == first
    assert load_custom_benchmark(yaml_path).content_hash == first  # stable across reads
    changed_data = write(tmp_path / "c", MC_SPEC, [*MC_ROWS[:2], {**MC_ROWS[2], "thing": "rubies"}])
    changed_prompt = write(tmp_path / "d", {**MC_SPEC, "prompt": "Q: {thing}?\nA:"}, MC_ROWS)
    assert len({first, load_custom_benchmark(changed_data).content_hash,
                load_custom_benchmark(changed_prompt).content_hash}) == 3


def test_version_rules(tmp_path, var_dir):
    spec_path = write(tmp_path, MC_SPEC, MC_ROWS)
    first = benchmark_import(spec_path=spec_path)
    again = benchmark_import(spec_path=spec_path)
    assert not again.created and again.benchmark.pk == first.benchmark.pk
    assert Benchmark.objects.count() == 1 and len(stored_files(var_dir)) == 2

    snow = {"id": "d", "thing": "snow", "options": ["white", "black"], "answer": 0}
    write(tmp_path, MC_SPEC, [*MC_ROWS, snow])
    with pytest.raises(BenchsiteError, match="bump the version"):
        benchmark_import(spec_path=spec_path)
    assert Benchmark.objects.count() == 1 and len(stored_files(var_dir)) == 2

    write(tmp_path, {**MC_SPEC, "version": "1.1"}, [*MC_ROWS, snow])
    bumped = benchmark_import(spec_path=spec_path)
    assert bumped.created and bumped.items == 4 and Benchmark.objects.count() == 2
    [task] = custom_benchmarks_register(slugs=["colours"])
    assert task.version == "1.1"  # the latest import is the one evaluated


def test_builtin_names_are_refused(tmp_path):
    with pytest.raises(CustomBenchmarkInvalid, match="taken by a built-in benchmark"):
        benchmark_import(spec_path=write(tmp_path, {**MC_SPEC, "name": "arc_easy"}, MC_ROWS))
    with pytest.raises(ValueError):
        task_registry.register(task_registry.TASKS["gsm8k"])


# -- the command ---------------------------------------------------------------------------------------
def test_import_command_prints_what_it_imported(capsys):
    content_hash = load_custom_benchmark(EXAMPLES / "capitals.yaml").content_hash
    call_command("import_benchmark", str(EXAMPLES / "capitals.yaml"))
    assert capsys.readouterr().out == f"capitals v1.0: 6 items, hash {content_hash} (imported)\n"
    call_command("import_benchmark", str(EXAMPLES / "capitals.yaml"), "--json")
    payload = json.loads(capsys.readouterr().out)
    assert payload == {"slug": "capitals", "version": "1.0", "content_hash": content_hash, "items": 6, "created": False}
    assert Benchmark.objects.filter(slug="capitals").count() == 1


def test_import_command_lists_problems_and_exits_2(tmp_path, capsys):
    spec_path = write(tmp_path, MC_SPEC, [MC_ROWS[0], {**MC_ROWS[1], "id": "a"}, {**MC_ROWS[2], "answer": 5}])
    with pytest.raises(CommandError) as caught:
        call_command("import_benchmark", str(spec_path), "--json")
    assert caught.value.returncode == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "data.jsonl:2: duplicate id 'a' (first on line 1)",
        "data.jsonl:3: label 5 is out of range for 3 choices (0..2)",
    ]
    errors = json.loads(captured.out)["errors"]
    assert [(error["file"], error["line"]) for error in errors] == [("data.jsonl", 2), ("data.jsonl", 3)]
    assert not Benchmark.objects.exists()


# -- rendering and scoring ---------------------------------------------------------------------------
def test_fewshot_prompts_follow_the_spec(tmp_path):
    loaded = load_custom_benchmark(EXAMPLES / "capitals.yaml")
    task = custom_task(loaded.spec, content_hash=loaded.content_hash, data_file=EXAMPLES / "capitals.jsonl")
    first = prepare_task(task).items[0]
    assert first.prompt == (
        "The following are questions about the capital cities of countries.\n\n"
        "Question: What is the capital of Japan?\nAnswer: Tokyo\n\n"
        "Question: What is the capital of France?\nAnswer:"
    )
    assert [request.continuation for request in first.requests] == [" Lyon", " Paris", " Marseille", " Nice"]
    assert first.target == "Paris"

    loaded = load_custom_benchmark(EXAMPLES / "antonyms.json")
    task = custom_task(loaded.spec, content_hash=loaded.content_hash, data_file=EXAMPLES / "antonyms.jsonl",
                       fewshot_file=EXAMPLES / "antonyms-fewshot.jsonl")
    items = prepare_task(task).items
    shots = {"Word: big\nOpposite: small", "Word: light\nOpposite: dark", "Word: fast\nOpposite: slow"}
    prefix, question = items[3].prompt.rsplit("\n\n", 1)
    examples = prefix.split("\n\n")
    assert question == "Word: open\nOpposite:" and len(set(examples)) == 2 and set(examples) < shots
    assert items[3].generation.stop == ("\n",) and items[3].generation.max_new_tokens == 8


@pytest.mark.parametrize(
    ("metric", "output", "references", "expected"),
    [
        ("exact_match", " The Cold.", ["cold"], 1.0),
        ("exact_match", " colder", ["cold"], 0.0),
        ("exact_match", "shut", ["closed", "shut"], 1.0),
        ("f1", "cold weather", ["cold"], 2 / 3),
        ("f1", "hot", ["cold", "freezing"], 0.0),
        ("bleu", "the cat sat on the mat", ["the cat sat on the mat"], 100.0),
        ("bleu", "the cat sat on the mat", ["a dog barked", "the cat sat on the mat"], 100.0),
        ("bleu", "the cat", ["the cat sat on the mat"], 0.0),  # no 4-gram in common
        ("chrf", "the cat sat on the mat", ["the cat sat on the mat"], 100.0),
        ("chrf", "xyz", ["the cat sat on the mat"], 0.0),
        ("rouge_l", "the cat sat", ["the cat sat on the mat"], 2 / 3),
        ("rouge_l", "a dog", ["the cat sat on the mat", "a dog barked"], 0.8),
    ],
)
def test_generation_metrics_on_known_answers(metric, output, references, expected):
    doc = Doc(text="", gold=references[0], target_text=references[0],
              extra={"references": references, "metric": metric})
    result = score_generation(doc, [output], ScoreContext())
    assert result.metrics == {metric: pytest.approx(expected)}
    assert result.prediction == output.strip()


# -- real runs -----------------------------------------------------------------------------------------
def imported_examples(tmp_path: Path) -> None:
    folder = tmp_path / "examples"
    shutil.copytree(EXAMPLES, folder)
    call_command("import_benchmark", str(folder / "capitals.yaml"))
    call_command("import_benchmark", str(folder / "antonyms.json"))


def evaluate(tmp_path: Path, *args: str) -> dict:
    output = tmp_path / "result.json"
    call_command("evaluate", "--model", "SmolLM2-135M-Instruct", *args, "--output", str(output), "--no-progress")
    return json.loads(output.read_text())


def test_evaluate_runs_imported_benchmarks_with_the_fake_backend(tmp_path):
    """Orchestration only: the DeterministicFakeBackend is a stand-in, not a model."""
    imported_examples(tmp_path)
    result = evaluate(tmp_path, "--backend", "fake", "--benchmark", "capitals,antonyms", "--limit", "3")
    assert result["scores"]["capitals"]["acc_norm"]["n"] == 3 and result["scores"]["antonyms"]["exact_match"]["n"] == 3
    golds = [1, 2, 2]  # Paris, Tokyo, Canberra
    for sample, gold in zip(result["samples"]["capitals"], golds):
        predicted = max(range(4), key=sample["loglikelihoods"].__getitem__)
        assert sample["pred"] == predicted and sample["acc"] == float(predicted == gold)
    stored = Sample.objects.filter(benchmark__slug="antonyms").order_by("doc_id")
    # The fake writes "The answer is N." and stops at the newline: never an antonym.
    assert [s.prediction.startswith("The answer is ") for s in stored] == [True] * 3
    assert [s.metrics for s in stored] == [{"exact_match": 0.0}] * 3
    assert stored[0].target == "cold" and stored[0].prompt.endswith("Word: hot\nOpposite:")
    benchmark = Benchmark.objects.get(slug="capitals")
    assert benchmark.origin == Benchmark.Origin.CUSTOM and Benchmark.objects.filter(slug="capitals").count() == 1

    task_registry.unregister("capitals")  # as in a fresh process: the second run reads the stored spec again
    again = evaluate(tmp_path, "--backend", "fake", "--benchmark", "capitals", "--limit", "3")
    assert again["samples"]["capitals"] == result["samples"]["capitals"]
    assert again["task_spec_hashes"]["capitals"] == result["task_spec_hashes"]["capitals"] == benchmark.spec_hash


@pytest.mark.slow
def test_evaluate_runs_imported_benchmarks_on_smollm2_with_llama_cpp(tmp_path):
    imported_examples(tmp_path)
    result = evaluate(tmp_path, "--backend", "llama_cpp", "--benchmark", "capitals,antonyms", "--limit", "2")
    assert result["scores"]["capitals"]["acc_norm"]["n"] == 2 and result["scores"]["antonyms"]["exact_match"]["n"] == 2
    for sample in result["samples"]["capitals"]:
        assert len(sample["loglikelihoods"]) == 4 and all(value < 0 for value in sample["loglikelihoods"])
        assert sample["pred"] == max(range(4), key=sample["loglikelihoods"].__getitem__)
    antonyms = {0: "cold", 1: "down"}
    for sample in Sample.objects.filter(benchmark__slug="antonyms"):
        assert "\n" not in sample.output and sample.prediction == sample.output.strip()
        assert sample.metrics == {"exact_match": float(normalize_answer(sample.prediction) == antonyms[sample.doc_id])}
