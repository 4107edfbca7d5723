"""BFCL v4 from the bfcl-eval package: data provenance, BFCL's prompts, and our port of its AST checker against
the original functions (imported here with the API-client imports stubbed) on every possible answer and on
wrong calls."""
from __future__ import annotations

import ast
import copy
import hashlib
import importlib
import importlib.metadata
import json
import math
import os
import re
import sys
import types
from collections import defaultdict
from pathlib import Path
from unittest import mock

import pytest

from runner import bfcl_checker
from runner.backends.base import PLAIN_DIALOGUE_STOP
from runner.benchmarks import bfcl
from runner.catalog import GROUPS, TASKS
from runner.engine import prepare_task
from runner.metrics import Aggregate
from runner.registry import AGGREGATIONS, SCORERS, ScoreContext
from runner.templates import Doc

# Entries no answer can pass, with BFCL's own decoder and checker as much as with ours (asserted below):
# BFCL's Java parser drops the body of `new HashMap<>() {{ put(...); }}`, its Java converter turns every element
# of an ArrayList<any> into a string (the answers want 42 and true), and four live answers require parameters
# the function does not declare or leave out ones it requires.
UNREACHABLE = {
    "simple_java_1": "value_error:dict_key",
    "simple_java_67": "value_error:dict_key",
    "simple_java_68": "value_error:dict_key",
    "simple_java_36": "value_error:list/tuple",
    "simple_java_65": "value_error:list/tuple",
    "live_simple_106-63-0": "simple_function_checker:missing_required",
    "live_simple_112-68-0": "simple_function_checker:missing_required",
    "live_multiple_964-207-0": "simple_function_checker:missing_required",
    "live_multiple_862-181-3": "simple_function_checker:missing_optional",
}


@pytest.fixture(scope="module")
def items() -> dict[str, list]:
    """Every entry as the scorer sees it (the prompt, slow to render for all 3,641, is tested on a sample)."""
    found = {}
    for slug in GROUPS["bfcl"].members:
        category = slug.removeprefix("bfcl_")
        found[slug] = [types.SimpleNamespace(doc_id=index, doc=Doc(text="", extra={
            "id": row["id"], "category": category, "functions": row["function"], "ground_truth": row.get("ground_truth"),
            "reference_solution": bfcl.reference_answer(row, category)}))
            for index, row in enumerate(bfcl.read_bfcl(category).rows)]
    return found


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    """bfcl-eval's own functions. Its ast_checker imports constants.model_config (every API client) for one
    lookup that is a no-op for prompt-based models, and model_handler.utils imports tenacity for API retries:
    both are stubbed; bfcl_eval.utils creates folders at import, under BFCL_PROJECT_ROOT (a temporary one)."""
    model_config = types.ModuleType("bfcl_eval.constants.model_config")
    model_config.MODEL_CONFIG_MAPPING = defaultdict(lambda: types.SimpleNamespace(underscore_to_dot=False))
    tenacity = types.ModuleType("tenacity")
    for name in ("retry", "retry_if_exception_message", "retry_if_exception_type", "wait_random_exponential"):
        setattr(tenacity, name, lambda *args, **kwargs: None)
    stubs = {"bfcl_eval.constants.model_config": model_config, "tenacity": tenacity}
    root = tmp_path_factory.mktemp("bfcl-project-root")
    with mock.patch.dict(sys.modules, stubs), mock.patch.dict(os.environ, {"BFCL_PROJECT_ROOT": str(root)}):
        return types.SimpleNamespace(
            checker=importlib.import_module("bfcl_eval.eval_checker.ast_eval.ast_checker"),
            handler_utils=importlib.import_module("bfcl_eval.model_handler.utils"),
            utils=importlib.import_module("bfcl_eval.utils"),
            enums=importlib.import_module("bfcl_eval.constants.enums"),
            prompts=importlib.import_module("bfcl_eval.constants.default_prompts"),
        )


def bfcl_verdict(original, output: str, category: str, functions: list, truth) -> tuple[bool, str]:
    """eval_runner.py's _evaluate_single_relevance_entry / _evaluate_single_ast_entry with the original parts."""
    enums, decode = original.enums, original.handler_utils.default_decode_ast_prompting
    if "relevance" in category:
        try:
            contain_func_call = not original.utils.is_empty_output(decode(output, enums.ReturnFormat.PYTHON, False))
        except Exception:
            contain_func_call = False
        valid = not contain_func_call if "irrelevance" in category else contain_func_call
        return valid, "" if valid else ("irrelevance_error:decoder_success" if "irrelevance" in category
                                        else "relevance_error:decoder_failed")
    language = {"simple_java": "JAVA", "simple_javascript": "JAVASCRIPT"}.get(category, "PYTHON")
    try:
        decoded = decode(output, enums.ReturnFormat[language], False)
    except Exception:
        return False, "ast_decoder:decoder_failed"
    if not original.utils.is_function_calling_format_output(decoded):
        return False, "ast_decoder:decoder_wrong_output_format"
    result = original.checker.ast_checker(functions, decoded, truth, enums.Language[language], category, "model")
    return bool(result["valid"]), "" if result["valid"] else result["error_type"]


def ours(output: str, doc) -> tuple[bool, str]:
    verdict = bfcl_checker.evaluate_entry(output, category=doc.extra["category"], functions=doc.extra["functions"],
                                          ground_truth=doc.extra["ground_truth"])
    return verdict["valid"], verdict["error_type"]


# -- data ------------------------------------------------------------------------------------------
def test_data_is_read_from_the_pinned_bfcl_eval_package_and_hashed():
    assert importlib.metadata.version("bfcl-eval") == bfcl.PACKAGE_VERSION
    split = bfcl.read_bfcl("simple_java")
    folder = Path(importlib.import_module("bfcl_eval").__file__).parent / "data"
    raw = (folder / "BFCL_v4_simple_java.json").read_bytes() + (
        folder / "possible_answer" / "BFCL_v4_simple_java.json").read_bytes()
    assert split.content_hash == hashlib.sha256(raw).hexdigest()
    assert split.origin == ("bfcl-eval==2026.3.23:bfcl_eval/data/BFCL_v4_simple_java.json"
                            "+bfcl_eval/data/possible_answer/BFCL_v4_simple_java.json")
    assert len(split.rows) == 100 and split.rows[0]["ground_truth"]
    assert bfcl.read_bfcl("irrelevance").origin.endswith("BFCL_v4_irrelevance.json")  # no possible answers


def test_every_single_turn_ast_category_is_a_benchmark_in_the_bfcl_group(items):
    sizes = {slug: len(found) for slug, found in items.items()}
    assert sizes == {
        "bfcl_simple_python": 400, "bfcl_simple_java": 100, "bfcl_simple_javascript": 50, "bfcl_multiple": 200,
        "bfcl_parallel": 200, "bfcl_parallel_multiple": 200, "bfcl_irrelevance": 240, "bfcl_live_simple": 258,
        "bfcl_live_multiple": 1053, "bfcl_live_parallel": 16, "bfcl_live_parallel_multiple": 24,
        "bfcl_live_irrelevance": 884, "bfcl_live_relevance": 16,
    }
    assert TASKS["tool_use"].title.startswith("Tool use") and "project-written" in TASKS["tool_use"].title


# -- prompts ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("slug", ["bfcl_simple_java", "bfcl_simple_javascript", "bfcl_live_multiple"])
def test_prompt_is_bfcls_prompt_based_system_prompt_with_its_language_hints(original, slug):
    prepared = prepare_task(TASKS[slug], limit=20).items
    rows = {row["id"]: row for row in bfcl.read_bfcl(slug.removeprefix("bfcl_")).rows}
    for item in prepared:
        row_id = item.doc.extra["id"]
        functions = original.utils._func_doc_language_specific_pre_processing(
            copy.deepcopy(item.doc.extra["functions"]), item.doc.extra["category"])
        expected = original.handler_utils.system_prompt_pre_processing_chat_model(
            copy.deepcopy(rows[row_id]["question"][0]), functions, row_id)
        assert item.doc.extra["messages"] == expected
        assert item.doc.extra["reference_solution"] == bfcl.reference_answer(rows[row_id], item.doc.extra["category"])
        assert expected[0]["role"] == "system" and expected[0]["content"].startswith(
            "You are an expert in composing functions.")


def test_engine_sends_the_conversation_through_the_chat_template_or_a_plain_transcript():
    seen = []
    task = prepare_task(TASKS["bfcl_simple_python"], limit=1, chat_template=lambda messages: seen.append(messages) or "X")
    assert task.items[0].prompt == "X" and [m["role"] for m in seen[0]] == ["system", "user"]
    assert PLAIN_DIALOGUE_STOP not in task.items[0].generation.stop
    plain = prepare_task(TASKS["bfcl_simple_python"], limit=1).items[0]  # no template (a base model): "System: ...\n\nUser: ...\n\nAssistant:"
    assert plain.prompt.startswith("System: You are an expert") and plain.prompt.endswith("\n\nAssistant:")
    assert PLAIN_DIALOGUE_STOP in plain.generation.stop


# -- the canonical answers ---------------------------------------------------------------------------
def test_every_possible_answer_scores_correct_except_those_bfcl_itself_cannot_accept(items, original):
    failed = {}
    for found in items.values():
        for item in found:
            reference = item.doc.extra["reference_solution"]
            result = SCORERS["bfcl"](item.doc, [reference], ScoreContext())
            assert (result.metrics["accuracy"] == 1.0, result.details["error_type"]) == ours(reference, item.doc)
            assert ours(reference, item.doc) == bfcl_verdict(
                original, reference, item.doc.extra["category"], item.doc.extra["functions"],
                item.doc.extra["ground_truth"]), item.doc.extra["id"]
            if result.metrics["accuracy"] != 1.0:
                failed[item.doc.extra["id"]] = result.details["error_type"]
    assert failed == UNREACHABLE
    assert sum(map(len, items.values())) - len(failed) == 3632


def test_every_acceptable_value_of_every_python_parameter_scores_correct(items):
    """Not only the first: each listed value of each parameter, the others at their first value."""
    checked = 0
    for slug in ("bfcl_simple_python", "bfcl_multiple", "bfcl_parallel", "bfcl_parallel_multiple",
                 "bfcl_live_simple", "bfcl_live_parallel"):
        for item in items[slug]:
            if item.doc.extra["id"] in UNREACHABLE:
                continue
            calls = ast.parse(item.doc.extra["reference_solution"], mode="eval").body.elts
            for index, answer in enumerate(item.doc.extra["ground_truth"]):
                (name, parameters), = answer.items()
                docs = {f["name"]: f for f in item.doc.extra["functions"]}[name]["parameters"]
                for parameter, options in parameters.items():
                    for option in options[1:]:
                        if option == "" or parameter not in docs["properties"] or (
                                docs["properties"][parameter]["type"] in ("dict", "array")):
                            continue
                        variant = copy.deepcopy(calls)
                        keywords = {k.arg: k for k in variant[index].keywords}
                        if parameter not in keywords:
                            continue
                        keywords[parameter].value = ast.parse(repr(option), mode="eval").body
                        output = "[" + ", ".join(ast.unparse(call) for call in variant) + "]"
                        assert ours(output, item.doc) == (True, ""), (item.doc.extra["id"], output)
                        checked += 1
    assert checked > 500


# -- wrong answers, each for BFCL's reason -------------------------------------------------------------
def _item(items, slug: str, doc_id: int | None):
    if doc_id is not None:
        return items[slug][doc_id]
    return next(item for item in items[slug] if item.doc.extra["id"] not in UNREACHABLE and any(
        p["type"] == "boolean" for p in item.doc.extra["functions"][0]["parameters"]["properties"].values()))


WRONG = [
    # (benchmark, item, answer, BFCL's error type)
    ("bfcl_simple_python", 0, "[calculate_triangle_area(base='10', height=5)]", "type_error:simple"),
    ("bfcl_simple_python", 0, "[calculate_triangle_area(base=10)]", "simple_function_checker:missing_required"),
    ("bfcl_simple_python", 0, "[calculate_triangle_area(base=10, height=5), calculate_triangle_area(base=10, height=5)]",
     "simple_function_checker:wrong_count"),
    ("bfcl_simple_python", 0, "[calculate_circle_area(base=10, height=5)]", "simple_function_checker:wrong_func_name"),
    ("bfcl_simple_python", 0, "[calculate_triangle_area(base=10, height=5, colour='red')]",
     "simple_function_checker:unexpected_param"),
    ("bfcl_simple_python", 0, "[calculate_triangle_area(base=11, height=5)]", "value_error:others"),
    ("bfcl_simple_python", 0, "The area is 25.", "ast_decoder:decoder_failed"),
    ("bfcl_parallel", 0, None, "parallel_function_checker_no_order:wrong_count"),  # one call of the two
    ("bfcl_multiple", 0, None, "simple_function_checker:wrong_func_name"),  # a listed function, not the right one
    ("bfcl_simple_java", None, None, "type_error:simple"),  # "maybe" for a Java boolean
    ("bfcl_irrelevance", 0, None, "irrelevance_error:decoder_success"),  # any call
    ("bfcl_live_relevance", 0, "I cannot do that.", "relevance_error:decoder_failed"),
]


@pytest.mark.parametrize(("slug", "doc_id", "answer", "reason"), WRONG)
def test_wrong_calls_score_wrong_for_bfcls_reason(items, original, slug, doc_id, answer, reason):
    item = _item(items, slug, doc_id)
    extra = item.doc.extra
    if answer is None:
        reference = None if slug in ("bfcl_irrelevance", "bfcl_simple_java") else ast.parse(
            extra["reference_solution"], mode="eval").body
        if slug == "bfcl_parallel":
            answer = "[" + ast.unparse(reference.elts[0]) + "]"
        elif slug == "bfcl_multiple":
            wanted = next(iter(extra["ground_truth"][0]))
            other = next(f["name"] for f in extra["functions"] if f["name"] != wanted)
            answer = extra["reference_solution"].replace(wanted + "(", other + "(", 1)
        elif slug == "bfcl_simple_java":
            properties = extra["functions"][0]["parameters"]["properties"]
            flag = next(name for name, p in properties.items() if p["type"] == "boolean")
            answer = re.sub(rf"\b{flag}=(true|false)", f"{flag}=maybe", extra["reference_solution"])
            assert "maybe" in answer
        else:
            answer = f"[{extra['functions'][0]['name']}()]"
    result = SCORERS["bfcl"](item.doc, [answer], ScoreContext())
    assert result.metrics == {"accuracy": 0.0}
    assert result.details["error_type"] == reason, result.details
    assert bfcl_verdict(original, answer, extra["category"], extra["functions"], extra["ground_truth"]) == (
        False, reason)


def test_port_agrees_with_bfcl_on_mutated_answers(items, original):
    """Every item's reference answer with one parameter dropped, one value changed, or one call duplicated."""
    compared = 0
    for slug in ("bfcl_simple_python", "bfcl_simple_javascript", "bfcl_simple_java", "bfcl_parallel_multiple",
                 "bfcl_live_multiple", "bfcl_live_parallel"):
        for item in items[slug][::3]:
            text = item.doc.extra["reference_solution"]
            try:
                calls = ast.parse(text, mode="eval").body.elts
            except SyntaxError:  # Java or JavaScript source
                calls = []
            variants = [text[:-1] + ", " + text[1:], text.replace("=", "= 1 + ", 1), text[:-2] + "]",
                        text.replace("'", '"'), text.lower(), text.replace(", ", ",", 3), text.strip("[]")]
            for call in calls[:1]:
                if call.keywords:
                    dropped = copy.deepcopy(call)
                    dropped.keywords = dropped.keywords[1:]
                    variants.append("[" + ast.unparse(dropped) + "]")
            for output in variants:
                assert ours(output, item.doc) == bfcl_verdict(
                    original, output, item.doc.extra["category"], item.doc.extra["functions"],
                    item.doc.extra["ground_truth"]), (item.doc.extra["id"], output)
                compared += 1
    assert compared > 2000


def test_decoder_evaluates_arithmetic_on_literals_but_never_runs_model_code(tmp_path):
    assert bfcl_checker.default_decode_ast_prompting("f(x=2*3, y=-1, z='a' + 'b', w=[0] * 2)") == [
        {"f": {"x": 6, "y": -1, "z": "ab", "w": [0, 0]}}]
    marker = tmp_path / "ran"
    with pytest.raises(ValueError):
        bfcl_checker.default_decode_ast_prompting(f"f(x=open({str(marker)!r}, 'w').write('x') + 1)")
    with pytest.raises(ValueError):
        bfcl_checker.default_decode_ast_prompting("f(x=9**9**9)")
    assert not marker.exists()


# -- BFCL's aggregation --------------------------------------------------------------------------------
def test_bfcl_group_aggregates_as_bfcls_leaderboard():
    def part(value: float, n: int) -> dict:
        return {"accuracy": Aggregate(value, 0.01, n)}

    per_task = {
        "bfcl_simple_python": part(0.9, 400), "bfcl_simple_java": part(0.6, 100), "bfcl_simple_javascript": part(0.3, 50),
        "bfcl_multiple": part(0.8, 200), "bfcl_parallel": part(0.7, 200), "bfcl_parallel_multiple": part(0.5, 200),
        "bfcl_irrelevance": part(0.4, 240), "bfcl_live_simple": part(0.6, 258), "bfcl_live_multiple": part(0.5, 1053),
        "bfcl_live_parallel": part(0.25, 16), "bfcl_live_parallel_multiple": part(0.125, 24),
        "bfcl_live_irrelevance": part(0.8, 884), "bfcl_live_relevance": part(0.75, 16),
    }
    combined = AGGREGATIONS[GROUPS["bfcl"].aggregation](per_task)
    simple = (0.9 + 0.6 + 0.3) / 3
    non_live = (simple + 0.8 + 0.7 + 0.5) / 4  # calculate_unweighted_accuracy
    live = (0.6 * 258 + 0.5 * 1053 + 0.25 * 16 + 0.125 * 24) / (258 + 1053 + 16 + 24)  # calculate_weighted_accuracy
    irrelevance = (0.4 + 0.8) / 2
    assert combined["simple_ast"].value == pytest.approx(simple)
    assert combined["non_live_ast"].value == pytest.approx(non_live)
    assert combined["live_ast"].value == pytest.approx(live)
    assert combined["irrelevance"].value == pytest.approx(irrelevance)
    assert combined["relevance"].value == pytest.approx(0.75)
    # calculate_percentage_weighted_accuracy with BFCL's weights 10/10/10 (its multi-turn 30 and agentic 40 absent)
    assert combined["overall"].value == pytest.approx((non_live + live + irrelevance) / 3)
    assert combined["overall"].n == sum(a["accuracy"].n for slug, a in per_task.items() if slug != "bfcl_live_relevance")
    assert not math.isnan(combined["overall"].stderr)
    assert GROUPS["bfcl"].primary_metric == "overall"
