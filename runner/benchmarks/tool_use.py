"""Function calling: pick the right tool and fill its arguments, or call nothing when no tool fits.

A set the project writes (runner/benchmarks/data/tool_use.jsonl) in the style of the Berkeley Function
Calling Leaderboard: tool JSON schemas in the prompt, one request, the accepted call(s) as BFCL "possible
answers" ({function: {parameter: [allowed values]}}, "" marking an optional parameter). The model's answer
(a JSON object or list, or Python call syntax) is parsed and matched by abstract syntax as BFCL's AST
checker does: function name, required parameters present, no unknown ones, types, values among the allowed
(strings compared without case, spaces and ",./-_*^"), calls of a parallel answer in any order.
"""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any

from runner.datasets import DataSource
from runner.registry import ScoreContext, ScoreResult, scorer, template
from runner.spec import GENERATE_UNTIL, TaskSpec
from runner.templates import Doc

DATA_FILE = "bundled:tool_use.jsonl"  # runner/benchmarks/data
INSTRUCTIONS = (
    "You can call the following functions. Their parameters are described in JSON Schema:\n{tools}\n\n"
    "To call a function, reply with only a JSON object of the form "
    '{{"name": "<function name>", "arguments": {{"<parameter>": <value>}}}}, '
    "or a JSON list of such objects to make several calls, and nothing else. "
    "If none of the functions can fulfil the request, reply in plain text without calling any function.\n\n"
    "Request: {request}"
)
# JSON Schema types and the Python types a parsed argument must have (BFCL lets an int stand for a float).
PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (float, int),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}
_FENCE = re.compile(r"```(?:json|python|tool_code)?\s*(.*?)```", re.DOTALL)
_PUNCTUATION = re.compile(r"[ ,./\-_*^]")


@dataclass(frozen=True)
class Call:
    name: str
    arguments: dict
    positional: int = 0  # positional arguments cannot be matched to parameter names


# -- parsing ---------------------------------------------------------------------------------------
def parse_calls(text: str) -> list[Call]:
    """The function calls in a model's answer, as JSON or Python call syntax; [] when it makes none."""
    for candidate in _candidates(text):
        calls = _json_calls(candidate) or _python_calls(candidate)
        if calls:
            return calls
    return []


def _candidates(text: str) -> list[str]:
    fenced = [block.strip() for block in _FENCE.findall(text)]
    return [*fenced, text.strip(), *(line.strip() for line in text.splitlines() if line.strip())]


def _json_calls(text: str) -> list[Call]:
    decoder = json.JSONDecoder()
    for start in (index for index, character in enumerate(text) if character in "{["):
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            continue
        calls = _calls_from_json(value)
        if calls:
            return calls
    return []


def _calls_from_json(value: Any) -> list[Call]:
    items = value if isinstance(value, list) else [value]
    calls = [_call_from_json(item) for item in items]
    return calls if calls and all(call is not None for call in calls) else []  # type: ignore[return-value]


def _call_from_json(item: Any) -> Call | None:
    if not isinstance(item, dict):
        return None
    if isinstance(item.get("function"), dict):  # OpenAI's tool_calls entry
        item = item["function"]
    if isinstance(item.get("name"), str):
        arguments = item.get("arguments", item.get("parameters", {}))
        if isinstance(arguments, str):  # OpenAI sends the arguments as a JSON string
            try:
                arguments = json.loads(arguments)
            except ValueError:
                return None
        return Call(item["name"], arguments) if isinstance(arguments, dict) else None
    if len(item) == 1:  # BFCL's own {"function": {arguments}}
        name, arguments = next(iter(item.items()))
        return Call(name, arguments) if isinstance(arguments, dict) else None
    return None


def _python_calls(text: str) -> list[Call]:
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        return []
    nodes = tree.elts if isinstance(tree, (ast.List, ast.Tuple)) else [tree]
    if not nodes or not all(isinstance(node, ast.Call) for node in nodes):
        return []
    calls = []
    for node in nodes:
        name = _dotted_name(node.func)
        if name is None or any(keyword.arg is None for keyword in node.keywords):
            return []
        try:
            arguments = {keyword.arg: ast.literal_eval(keyword.value) for keyword in node.keywords}
        except (ValueError, TypeError, SyntaxError, RecursionError):  # not a literal, e.g. a variable
            return []
        calls.append(Call(name, arguments, positional=len(node.args)))
    return calls


def _dotted_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        owner = _dotted_name(node.value)
        return f"{owner}.{node.attr}" if owner else None
    return None


# -- matching --------------------------------------------------------------------------------------
def standardize(value: Any) -> Any:
    """BFCL's standardize_string, applied to strings inside lists and dicts too."""
    if isinstance(value, str):
        return _PUNCTUATION.sub("", value).lower().replace("'", '"')
    if isinstance(value, list):
        return [standardize(item) for item in value]
    if isinstance(value, dict):
        return {key: standardize(item) for key, item in value.items()}
    return value


def _same_type(value: Any, schema_type: str) -> bool:
    # bool is an int in Python; BFCL compares exact types, so True is no integer.
    return type(value) in PYTHON_TYPES.get(schema_type, (object,))


def check_call(call: Call, tool: dict, allowed: dict[str, list]) -> str:
    """Why the call does not match the accepted answer for `tool` (BFCL's simple checker); "" if it does."""
    if call.name != tool["name"]:
        return f"wrong function: {call.name!r} instead of {tool['name']!r}"
    if call.positional:
        return "positional arguments cannot be matched to parameters"
    properties = tool["parameters"].get("properties", {})
    for parameter in tool["parameters"].get("required", []):
        if parameter not in call.arguments:
            return f"missing required parameter {parameter!r}"
    for parameter, value in call.arguments.items():
        if parameter not in properties or parameter not in allowed:
            return f"unexpected parameter {parameter!r}"
        schema_type = properties[parameter].get("type", "")
        if not _same_type(value, schema_type):
            return f"parameter {parameter!r} should be {schema_type}, got {type(value).__name__}"
        if schema_type == "array" and "items" in properties[parameter]:
            item_type = properties[parameter]["items"].get("type", "")
            if not all(_same_type(item, item_type) for item in value):
                return f"items of {parameter!r} should be {item_type}"
        accepted = [standardize(option) for option in allowed[parameter] if option != ""]
        if standardize(value) not in accepted:
            return f"value {value!r} of {parameter!r} is not one of {allowed[parameter]!r}"
    for parameter, options in allowed.items():
        if parameter not in call.arguments and "" not in options:
            return f"parameter {parameter!r} is needed for this request"
    return ""


def match_calls(calls: list[Call], expected: list[dict], tools: list[dict]) -> str:
    """Match every expected call to a distinct emitted one, in any order; "" when all match."""
    if len(calls) != len(expected):
        return f"{len(calls)} call(s) made, {len(expected)} expected"
    by_name = {tool["name"]: tool for tool in tools}
    unmatched = list(calls)
    for answer in expected:
        (name, allowed), = answer.items()
        errors = [check_call(call, by_name[name], allowed) for call in unmatched]
        if "" not in errors:
            return errors[0] if len(errors) == 1 else f"no call matches the expected {name!r} call"
        unmatched.pop(errors.index(""))
    return ""


# -- task ------------------------------------------------------------------------------------------
@template("tool_use")
def tool_use_prompt(row: dict) -> Doc:
    tools = json.dumps(row["tools"], indent=2)
    return Doc(
        text=INSTRUCTIONS.format(tools=tools, request=row["request"]),
        gold="",
        target_text=json.dumps(row["expected"]) if row["expected"] else "(no call)",
        extra={"id": row["id"], "kind": row["kind"], "tools": row["tools"], "expected": row["expected"]},
    )


@scorer("tool_use")
def score_tool_use(doc: Doc, outputs: list[str], context: ScoreContext) -> ScoreResult:
    calls = parse_calls(outputs[0])
    expected, tools = doc.extra["expected"], doc.extra["tools"]
    if expected:
        error = match_calls(calls, expected, tools) if calls else "no function call"
        known = {tool["name"] for tool in tools}
        metrics = {"ast_accuracy": float(not error), "valid_call_rate": float(bool(calls) and all(
            call.name in known and not call.positional for call in calls))}
    else:
        error = f"called {', '.join(call.name for call in calls)} though no function fits" if calls else ""
        metrics = {"ast_accuracy": float(not error)}
    emitted = [{"name": call.name, "arguments": call.arguments} for call in calls]
    prediction = json.dumps(emitted, default=str) if calls else "(no call)"
    return ScoreResult(metrics=metrics, prediction=prediction, details={"error": error})


TASKS = [
    TaskSpec(
        slug="tool_use",
        title="Tool use (project-written function calling)",
        category="tool_use",
        version="1.0",
        output_type=GENERATE_UNTIL,
        template="tool_use",
        test=DataSource(DATA_FILE),
        max_new_tokens=256,
        metrics=("ast_accuracy", "valid_call_rate"),
        primary_metric="ast_accuracy",
        scorer="tool_use",
        chat=True,
    ),
]
