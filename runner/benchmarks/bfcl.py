"""The Berkeley Function Calling Leaderboard (BFCL v4): its single-turn categories, prompted and scored as BFCL does.

Data and possible answers are read from the installed `bfcl-eval` package (`bfcl_eval/data/BFCL_v4_*.json`,
`bfcl_eval/data/possible_answer/`; JSON lines); the run records the package version and the sha256 of both
files. Prompts are BFCL's for models without native function calling (its default "prompt-based" system
prompt: return format python, function docs as JSON, plaintext, classic style, with the language hints BFCL
adds to Java and JavaScript docs), sent through the model's chat template. Answers are decoded and checked by
BFCL's AST checker (runner.bfcl_checker). The `bfcl` group aggregates as BFCL's leaderboard does.

Multi-turn, memory and web-search categories need BFCL's executable environments and are not included.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import itertools
import json
import math
from functools import lru_cache
from pathlib import Path

from runner.datasets import READERS, DataSource, LoadedSplit
from runner.errors import DataUnavailable
from runner.metrics import Aggregate, pooled
from runner.registry import ScoreContext, ScoreResult, aggregation, scorer, template
from runner.spec import GENERATE_UNTIL, TaskGroup, TaskSpec
from runner.templates import Doc

PACKAGE = "bfcl-eval"
PACKAGE_VERSION = "2026.3.23"  # requirements-data.txt
VERSION_PREFIX = "BFCL_v4"
NON_LIVE = ("simple_python", "simple_java", "simple_javascript", "multiple", "parallel", "parallel_multiple",
            "irrelevance")
LIVE = ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple", "live_irrelevance",
        "live_relevance")
CATEGORIES = NON_LIVE + LIVE
# BFCL's default prompt-based format (constants/default_prompts.py DEFAULT_SYSTEM_PROMPT_FORMAT).
PROMPT_FORMAT = "ret_fmt=python&tool_call_tag=False&func_doc_fmt=json&prompt_fmt=plaintext&style=classic"


# -- data ------------------------------------------------------------------------------------------
def _data_dir() -> Path:
    spec = importlib.util.find_spec("bfcl_eval")
    if spec is None or not spec.submodule_search_locations:
        raise DataUnavailable(f"BFCL data comes from the {PACKAGE} package: pip install --no-deps "
                              f"{PACKAGE}=={PACKAGE_VERSION} (requirements-data.txt)")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


@lru_cache(maxsize=None)
def _read_category(category: str) -> tuple[tuple[dict, ...], str, str]:
    if category not in CATEGORIES:
        raise DataUnavailable(f"unknown BFCL category {category!r}")
    data = _data_dir()
    files = [data / f"{VERSION_PREFIX}_{category}.json"]
    answers_file = data / "possible_answer" / f"{VERSION_PREFIX}_{category}.json"
    if answers_file.exists():
        files.append(answers_file)
    digest = hashlib.sha256()
    parsed = []
    for file in files:
        raw = file.read_bytes()
        digest.update(raw)
        parsed.append([json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()])
    rows = parsed[0]
    if len(parsed) == 2:
        truth = {entry["id"]: entry["ground_truth"] for entry in parsed[1]}
        missing = [row["id"] for row in rows if row["id"] not in truth]
        if missing:
            raise DataUnavailable(f"{answers_file} has no possible answer for {missing[:3]}")
        rows = [{**row, "ground_truth": truth[row["id"]]} for row in rows]
    version = importlib.metadata.version(PACKAGE)
    origin = f"{PACKAGE}=={version}:" + "+".join(str(file.relative_to(data.parent.parent)) for file in files)
    return tuple(rows), origin, digest.hexdigest()


def read_bfcl(category: str) -> LoadedSplit:
    rows, origin, content_hash = _read_category(category)
    return LoadedSplit(_copy(list(rows)), origin, content_hash)


def _copy(value):
    """A deep copy of JSON data; json's C codec is many times faster than the copy module on these docs."""
    return json.loads(json.dumps(value))


READERS["bfcl"] = read_bfcl


# -- prompts (bfcl_eval/utils.py, model_handler/utils.py) --------------------------------------------
def _language_hint(category: str) -> str:
    if category == "simple_java":
        return " Note that the provided function is in Java 8 SDK syntax."
    if category == "simple_javascript":
        return " Note that the provided function is in JavaScript syntax."
    return " Note that the provided function is in Python 3 syntax."


def function_docs_for_prompt(functions: list[dict], category: str) -> list[dict]:
    """BFCL's `_func_doc_language_specific_pre_processing`: the docs as the model sees them (a copy)."""
    functions = _copy(functions)
    for item in functions:
        item["description"] = item["description"] + _language_hint(category)
        properties = item["parameters"]["properties"]
        if category == "simple_java":
            for key, value in properties.items():
                if value["type"] == "any":
                    properties[key]["description"] += (
                        " This parameter can be of any type of Java object in string representation.")
                else:
                    value["description"] += f" This is Java {value['type']} type parameter in string representation."
                if value["type"] == "ArrayList" or value["type"] == "Array":
                    value["description"] += (f" The list elements are of type {value['items']['type']}; "
                                             "they are not in string representation.")
                    del value["items"]
                value["type"] = "string"
        elif category == "simple_javascript":
            for key, value in properties.items():
                if value["type"] == "any":
                    properties[key]["description"] += (
                        " This parameter can be of any type of JavaScript object in string representation.")
                else:
                    value["description"] += (
                        f" This is JavaScript {value['type']} type parameter in string representation.")
                if value["type"] == "array":
                    value["description"] += (f" The list elements are of type {value['items']['type']}; "
                                             "they are not in string representation.")
                    del value["items"]
                if value["type"] == "dict":
                    if "properties" in value:
                        value["description"] += (" The dictionary entries have the following schema; they are not "
                                                 f"in string representation. {json.dumps(value['properties'])}")
                        del value["properties"]
                value["type"] = "string"
    return functions


def system_prompt(functions: list[dict]) -> str:
    """BFCL's `formulate_system_prompt` for its default format, from the package's own prompt texts."""
    from bfcl_eval.constants.default_prompts import (
        OUTPUT_FORMAT_MAPPING,
        PARAM_TYPE_MAPPING,
        PROMPT_STYLE_TEMPLATES,
        PROMPT_TEMPLATE_MAPPING,
    )

    style = PROMPT_STYLE_TEMPLATES["classic"]
    return PROMPT_TEMPLATE_MAPPING["plaintext"].format(
        persona=style["persona"],
        task=style["task"],
        tool_call_format=style["tool_call_no_tag"].format(
            output_format=OUTPUT_FORMAT_MAPPING["python"], param_types=PARAM_TYPE_MAPPING["python"]),
        multiturn_behavior=style["multiturn_behavior"],
        available_tools=style["available_tools"].format(format="json", functions=json.dumps(functions, indent=4)),
    )


def prompt_messages(row: dict, category: str) -> list[dict]:
    """BFCL's `system_prompt_pre_processing_chat_model`: its system prompt first (joined to the entry's own)."""
    messages = _copy(row["question"][0])
    prompt = system_prompt(function_docs_for_prompt(row["function"], category))
    if messages[0]["role"] == "system":
        messages[0]["content"] = prompt + "\n\n" + messages[0]["content"]
    else:
        messages.insert(0, {"role": "system", "content": prompt})
    return messages


# -- reference answers (for verify_benchmark and the tests) ---------------------------------------
def _first(options: list):
    """The first acceptable value; "" marks an optional parameter that may be left out."""
    return next((option for option in options if option != ""), "")


def _python_value(options: list, schema: dict):
    value = _first(options)
    if schema.get("type") == "dict" and isinstance(value, dict):
        return {key: _first(inner) for key, inner in value.items() if _first(inner) != ""}
    if (schema.get("type") == "array" and schema.get("items", {}).get("type") == "dict" and isinstance(value, list)
            and all(isinstance(entry, dict) for entry in value)):
        return [{key: _first(inner) for key, inner in entry.items() if _first(inner) != ""} for entry in value]
    return value


def _java_literal(value, java_type: str, nested: str = "") -> str:
    if isinstance(value, str) and java_type not in ("String", "any", "char"):
        return value  # a variable name
    if java_type in ("String", "any"):
        return json.dumps(value) if isinstance(value, str) else json.dumps(json.dumps(value))
    if java_type == "char":
        return value
    if java_type == "boolean":
        return "true" if value else "false"
    if java_type == "long":
        return f"{value}L"
    if java_type == "float":
        return f"{value}f"
    if java_type in ("integer", "short", "byte", "double"):
        return repr(value)
    if java_type == "Array":
        elements = [element if nested == "String" else _java_literal(element, nested) for element in value]
        return f"new {nested or 'Object'}[]{{{', '.join(elements)}}}"
    if java_type == "ArrayList":
        elements = [_java_literal(element, nested) for element in value]
        return f"new ArrayList<>(Arrays.asList({', '.join(elements)}))"
    if java_type == "HashMap":
        puts = " ".join(f"put({json.dumps(key)}, {_java_plain(_first(inner))});" for key, inner in value.items()
                        if _first(inner) != "")
        return f"new HashMap<String, Object>() {{{{ {puts} }}}}"
    raise ValueError(f"no Java literal for type {java_type}")


def _java_plain(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _js_literal(value, js_type: str, nested: str = "") -> str:
    if js_type == "any" or (isinstance(value, str) and js_type != "String"):
        return value if isinstance(value, str) else json.dumps(value)
    if js_type == "String":
        return json.dumps(value)
    if js_type == "Boolean":
        return "true" if value else "false"
    if js_type == "Bigint":
        return f"{value}n"
    if js_type in ("integer", "float"):
        return repr(value)
    if js_type == "array":
        return "[" + ", ".join(_js_literal(element, nested or _js_type_of(element)) for element in value) + "]"
    if js_type == "dict":
        entries = {key: _first(inner) for key, inner in value.items() if _first(inner) != ""}
        return "{" + ", ".join(f"{key}: {_js_literal(item, _js_type_of(item))}" for key, item in entries.items()) + "}"
    raise ValueError(f"no JavaScript literal for type {js_type}")


def _js_type_of(value) -> str:
    return {bool: "Boolean", int: "integer", float: "float", str: "String", list: "array", dict: "dict"}[type(value)]


def _candidates(options: list, schema: dict, category: str) -> list[str]:
    """Ways to write the parameter's first acceptable value, most natural first (Java and JavaScript values
    reach BFCL's checker as source text, which its converters then read by the declared type)."""
    value = _first(options)
    if category not in ("simple_java", "simple_javascript"):
        return [repr(_python_value(options, schema))]
    nested = schema.get("items", {}).get("type", "")
    literal = _java_literal if category == "simple_java" else _js_literal
    texts = []
    try:
        source = literal(value, schema["type"], nested)
        texts += [source, json.dumps(source)]
    except (ValueError, KeyError, TypeError):
        pass
    if isinstance(value, str):
        texts += [value, json.dumps(value)]
    return list(dict.fromkeys(texts))


MAX_RENDERINGS = 256


def reference_answer(row: dict, category: str) -> str:
    """A model answer in BFCL's output format for the entry's first possible answer, written so that BFCL's
    decoder and checker accept it where some writing does (the first of at most MAX_RENDERINGS tried)."""
    from runner.bfcl_checker import evaluate_entry

    if "relevance" in category:
        if category == "live_relevance":  # any call counts
            return f"[{row['function'][0]['name']}()]"
        return "None of the functions can be used for this request."
    docs = {function["name"]: function for function in row["function"]}
    slots: list[tuple[int, str, list[str]]] = []  # (call index, parameter, candidate texts)
    names = []
    for index, answer in enumerate(row["ground_truth"]):
        (name, parameters), = answer.items()
        names.append(name)
        properties = docs[name]["parameters"]["properties"]
        required = docs[name]["parameters"].get("required", [])
        for parameter, options in parameters.items():
            if parameter not in properties:
                continue
            candidates = _candidates(options, properties[parameter], category) if _first(options) != "" else []
            if "" in options and parameter in required:  # "" is also the value of an empty string or list
                candidates.append("[]" if properties[parameter]["type"] in ("array", "tuple") else '""')
            if candidates:  # else "" marks an optional parameter, left out
                slots.append((index, parameter, candidates))

    def render(choice: tuple[str, ...]) -> str:
        arguments: list[list[str]] = [[] for _ in names]
        for (index, parameter, _), text in zip(slots, choice):
            arguments[index].append(f"{parameter}={text}")
        return "[" + ", ".join(f"{name}({', '.join(args)})" for name, args in zip(names, arguments)) + "]"

    first = render(tuple(candidates[0] for _, _, candidates in slots))
    if all(len(candidates) == 1 for _, _, candidates in slots):  # Python values have one writing
        return first
    for count, choice in enumerate(itertools.product(*(candidates for _, _, candidates in slots))):
        if count == MAX_RENDERINGS:
            break
        text = render(choice)
        if evaluate_entry(text, category=category, functions=row["function"], ground_truth=row["ground_truth"])[
                "valid"]:
            return text
    return first


# -- task ------------------------------------------------------------------------------------------
@template("bfcl")
def bfcl_prompt(row: dict) -> Doc:
    category = row["id"].rsplit("_", 1)[0]  # BFCL's extract_test_category_from_id
    messages = prompt_messages(row, category)
    truth = row.get("ground_truth")
    return Doc(
        text=messages[-1]["content"],
        gold="",
        target_text=json.dumps(truth) if truth is not None else (
            "(any function call)" if category == "live_relevance" else "(no function call)"),
        extra={"id": row["id"], "category": category, "messages": messages, "functions": row["function"],
               "ground_truth": truth, "reference_solution": reference_answer(row, category)},
    )


@scorer("bfcl")
def score_bfcl(doc: Doc, outputs: list[str], context: ScoreContext) -> ScoreResult:
    from runner.bfcl_checker import evaluate_entry

    verdict = evaluate_entry(outputs[0], category=doc.extra["category"], functions=doc.extra["functions"],
                             ground_truth=doc.extra["ground_truth"])
    decoded = verdict["decoded"]
    prediction = json.dumps(decoded, default=repr) if decoded else "(no function call)"
    return ScoreResult(metrics={"accuracy": float(verdict["valid"])}, prediction=prediction,
                       details={"error": verdict["error"], "error_type": verdict["error_type"]})


TITLES = {
    "simple_python": "Simple (Python)", "simple_java": "Simple (Java)", "simple_javascript": "Simple (JavaScript)",
    "multiple": "Multiple", "parallel": "Parallel", "parallel_multiple": "Parallel multiple",
    "irrelevance": "Irrelevance", "live_simple": "Live simple", "live_multiple": "Live multiple",
    "live_parallel": "Live parallel", "live_parallel_multiple": "Live parallel multiple",
    "live_irrelevance": "Live irrelevance", "live_relevance": "Live relevance",
}


def _task(category: str) -> TaskSpec:
    return TaskSpec(
        slug=f"bfcl_{category}",
        title=f"BFCL v4: {TITLES[category]}",
        category="tool_use",
        version="4.0",
        output_type=GENERATE_UNTIL,
        template="bfcl",
        test=DataSource(f"bfcl:{category}"),
        max_new_tokens=256,  # BFCL allows up to 4096; a longer answer than this is rare and, from a small model, wrong
        metrics=("accuracy",),
        primary_metric="accuracy",
        scorer="bfcl",
        chat=True,
    )


TASKS = [_task(category) for category in CATEGORIES]


# -- BFCL's aggregation (eval_checker/eval_runner_helper.py generate_leaderboard_csv) ---------------
def _unweighted(parts: list[Aggregate]) -> Aggregate:
    """calculate_unweighted_accuracy: the plain mean of the categories' accuracies."""
    parts = [part for part in parts if part.n > 0]
    if not parts:
        return Aggregate(float("nan"), None, 0)
    return _combine(parts, [1.0] * len(parts))


def _combine(parts: list[Aggregate], weights: list[float]) -> Aggregate:
    total = sum(weights)
    value = sum(weight * part.value for weight, part in zip(weights, parts)) / total
    stderr = None
    if all(part.stderr is not None for part in parts):
        stderr = math.sqrt(sum((weight / total * part.stderr) ** 2 for weight, part in zip(weights, parts)))
    return Aggregate(value, stderr, sum(part.n for part in parts))


@aggregation("bfcl")
def bfcl_aggregate(per_task: dict[str, dict[str, Aggregate]]) -> dict[str, Aggregate]:
    """Non-live AST: mean of simple (mean of Python, Java, JavaScript), multiple, parallel, parallel multiple;
    live AST: the four live categories weighted by size; irrelevance: mean of non-live and live; overall: BFCL's
    10/10/10 weights of non-live, live and irrelevance (its 30 multi-turn and 40 agentic are not run here)."""
    def part(category: str) -> Aggregate:
        found = per_task.get(f"bfcl_{category}", {}).get("accuracy")
        return found if found is not None else Aggregate(float("nan"), None, 0)

    simple = _unweighted([part("simple_python"), part("simple_java"), part("simple_javascript")])
    non_live = _unweighted([simple, part("multiple"), part("parallel"), part("parallel_multiple")])
    live = pooled([part(f"live_{kind}") for kind in ("simple", "multiple", "parallel", "parallel_multiple")])
    irrelevance = _unweighted([part("irrelevance"), part("live_irrelevance")])
    present = [(aggregate, 10.0) for aggregate in (non_live, live, irrelevance) if aggregate.n > 0]
    overall = _combine([a for a, _ in present], [w for _, w in present]) if present else Aggregate(
        float("nan"), None, 0)
    results = {"overall": overall, "non_live_ast": non_live, "simple_ast": simple, "live_ast": live,
               "irrelevance": irrelevance, "relevance": part("live_relevance")}
    return {name: value for name, value in results.items() if value.n > 0}


GROUPS = [TaskGroup("bfcl", "tool_use", tuple(f"bfcl_{category}" for category in CATEGORIES),
                    title="BFCL v4 (single-turn)", primary_metric="overall", aggregation="bfcl")]
