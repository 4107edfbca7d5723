"""BFCL's AST decoding and checking, as bfcl-eval 2026.3.23 does it, without its model clients.

A port, because the originals do not import on their own: `bfcl_eval/eval_checker/ast_eval/ast_checker.py`
imports `constants/model_config.py`, which imports every API client BFCL supports (anthropic, openai,
mistralai, cohere, ...), for one lookup (`convert_func_name`, a no-op for prompt-based models);
`bfcl_eval/model_handler/utils.py` (the decoder) imports tenacity and retry helpers, and
`bfcl_eval/utils.py` creates folders inside site-packages when imported. What does import cleanly is used
as it is: the Java/JavaScript value converters (`eval_checker/ast_eval/type_convertor/`), the type tables
(`constants/type_mappings.py`) and the tree-sitter Java/JavaScript call parsers (`model_handler/parser/`).

Functions below keep the originals' names, order and messages so they can be read side by side. One
deliberate difference: BFCL's `resolve_ast_by_type` runs `eval()` on any binary operation in a model's
answer (`f(x=__import__("os").getcwd() + "")` runs code); here only arithmetic on literals is evaluated,
and anything else fails to decode, which is what BFCL's eval does for the undefined names model answers
use in practice. tests/runner/test_bfcl.py checks this port against the original functions (loaded with
the client imports stubbed) on every possible answer and on wrong calls; bench/compare_bfcl.py against an
unmodified bfcl-eval in its own environment.
"""
from __future__ import annotations

import ast
import operator
import re
from typing import Any

PYTHON = "python"
JAVA = "java"
JAVASCRIPT = "javascript"

#### Constants (ast_checker.py) ####
PYTHON_TYPE_MAPPING = {
    "string": str,
    "integer": int,
    "float": float,
    "boolean": bool,
    "array": list,
    "tuple": list,
    "dict": dict,
    "any": str,
}
PYTHON_NESTED_TYPE_CHECK_LIST = ["array", "tuple"]
NESTED_CONVERSION_TYPE_LIST = ["Array", "ArrayList", "array"]


def _type_tables() -> tuple[dict, dict]:
    from bfcl_eval.constants.type_mappings import JAVA_TYPE_CONVERSION, JS_TYPE_CONVERSION

    return JAVA_TYPE_CONVERSION, JS_TYPE_CONVERSION


def _java_type_converter(value, expected_type, nested_type=None):
    from bfcl_eval.eval_checker.ast_eval.type_convertor.java_type_converter import java_type_converter

    return java_type_converter(value, expected_type, nested_type)


def _js_type_converter(value, expected_type, nested_type=None):
    from bfcl_eval.eval_checker.ast_eval.type_convertor.js_type_converter import js_type_converter

    return js_type_converter(value, expected_type, nested_type)


# -- decoding a model's answer (model_handler/utils.py) --------------------------------------------
def default_decode_ast_prompting(result: str, language: str = PYTHON) -> list[dict]:
    result = result.strip("`\n ")
    if not result.startswith("["):
        result = "[" + result
    if not result.endswith("]"):
        result = result + "]"
    return ast_parse(result, language)


def ast_parse(input_str: str, language: str = PYTHON) -> list[dict]:
    if language == PYTHON:
        # We only want to remove wrapping quotes that could have been added by the model.
        cleaned_input = input_str.strip().strip("'")
        parsed = ast.parse(cleaned_input, mode="eval")
        extracted = []
        if isinstance(parsed.body, ast.Call):
            extracted.append(resolve_ast_call(parsed.body))
        else:
            for elem in parsed.body.elts:  # AttributeError when the body is no list: a decode failure
                if not isinstance(elem, ast.Call):
                    raise AssertionError
                extracted.append(resolve_ast_call(elem))
        return extracted
    if language == JAVA:
        from bfcl_eval.model_handler.parser.java_parser import parse_java_function_call

        # BFCL strips the brackets the prompting decoder added ("due to legacy reasons").
        return parse_java_function_call(input_str[1:-1])
    if language == JAVASCRIPT:
        from bfcl_eval.model_handler.parser.js_parser import parse_javascript_function_call

        return parse_javascript_function_call(input_str[1:-1])
    raise NotImplementedError(f"Unsupported language: {language}")


def resolve_ast_call(elem: ast.Call) -> dict:
    # Handle nested attributes for deeply nested module paths
    func_parts = []
    func_part = elem.func
    while isinstance(func_part, ast.Attribute):
        func_parts.append(func_part.attr)
        func_part = func_part.value
    if isinstance(func_part, ast.Name):
        func_parts.append(func_part.id)
    func_name = ".".join(reversed(func_parts))
    args_dict = {}
    for arg in elem.keywords:
        args_dict[arg.arg] = resolve_ast_by_type(arg.value)
    return {func_name: args_dict}


def resolve_ast_by_type(value: ast.AST) -> Any:
    if isinstance(value, ast.Constant):
        return "..." if value.value is Ellipsis else value.value
    if isinstance(value, ast.UnaryOp):
        return -value.operand.value  # as BFCL: "-x", "+1" and "not b" all negate the operand's constant
    if isinstance(value, ast.List):
        return [resolve_ast_by_type(v) for v in value.elts]
    if isinstance(value, ast.Dict):
        return {resolve_ast_by_type(k): resolve_ast_by_type(v) for k, v in zip(value.keys, value.values)}
    if isinstance(value, ast.BinOp):
        return _literal_arithmetic(value)  # BFCL: eval(ast.unparse(value))
    if isinstance(value, ast.Name):
        return value.id
    if isinstance(value, ast.Call):
        return ast.unparse(value) if len(value.keywords) == 0 else resolve_ast_call(value)
    if isinstance(value, ast.Tuple):
        return tuple(resolve_ast_by_type(v) for v in value.elts)
    if isinstance(value, ast.Lambda):
        # BFCL's branch indexes the lambda's body expression, which always raises.
        raise TypeError(f"'{type(value.body).__name__}' object is not subscriptable")
    if isinstance(value, ast.Subscript):
        return ast.unparse(value.value) + "[" + ast.unparse(value.slice) + "]"
    raise Exception(f"Unsupported AST type: {type(value)}")


_ARITHMETIC = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_MAX_RESULT_BITS = 100_000  # refuse 9**9**9 and "x" * 10**9 rather than hang


def _literal_arithmetic(node: ast.AST) -> Any:
    """What eval gives for an arithmetic expression over literals (1 + 2, "a" * 3, [0] * 4); else ValueError."""
    if not isinstance(node, ast.BinOp):
        return ast.literal_eval(node)  # ValueError for names, calls and anything else that is not a literal
    if type(node.op) not in _ARITHMETIC:
        raise ValueError(f"not evaluated (only arithmetic on literals is): {ast.unparse(node)}")
    left, right = _literal_arithmetic(node.left), _literal_arithmetic(node.right)
    if isinstance(node.op, ast.Pow) and isinstance(left, int) and isinstance(right, int) and (
            abs(right) * max(abs(left).bit_length(), 1) > _MAX_RESULT_BITS):
        raise ValueError("power too large to evaluate")
    if isinstance(node.op, ast.Mult) and any(isinstance(side, int) and side * 8 > _MAX_RESULT_BITS
                                             for side in (left, right)) and any(
            isinstance(side, (str, bytes, list, tuple)) for side in (left, right)):
        raise ValueError("repetition too large to evaluate")
    return _ARITHMETIC[type(node.op)](left, right)


# -- what counts as a call (bfcl_eval/utils.py) ----------------------------------------------------
def is_function_calling_format_output(decoded_output) -> bool:
    if type(decoded_output) != list:
        return False
    for item in decoded_output:
        if type(item) != dict:
            return False
        if len(item) != 1:
            return False
        if type(list(item.values())[0]) != dict:
            return False
    return True


def is_empty_output(decoded_output) -> bool:
    if not is_function_calling_format_output(decoded_output):
        return True
    if len(decoded_output) == 0:
        return True
    if len(decoded_output) == 1 and len(decoded_output[0]) == 0:
        return True
    return False


# -- the AST checker (eval_checker/ast_eval/ast_checker.py) ----------------------------------------
def ast_checker(func_description, model_output, possible_answer, language: str, test_category: str) -> dict:
    if "parallel" in test_category:
        return parallel_function_checker_no_order(func_description, model_output, possible_answer, language)
    elif "multiple" in test_category:
        return multiple_function_checker(func_description, model_output, possible_answer, language)
    else:
        if len(model_output) != 1:
            return {
                "valid": False,
                "error": ["Wrong number of functions."],
                "error_type": "simple_function_checker:wrong_count",
            }
        return simple_function_checker(func_description[0], model_output[0], possible_answer[0], language)


def find_description(func_descriptions, name):
    if type(func_descriptions) == list:
        for func_description in func_descriptions:
            if func_description["name"] == name:
                return func_description
        return None
    else:
        # it is a dict, there is only one function
        return func_descriptions


def get_possible_answer_type(possible_answer: list):
    for answer in possible_answer:
        if answer != "":  # Optional parameter
            return type(answer)
    return None


def type_checker(param: str, value, possible_answer: list, expected_type_description: str,
                 expected_type_converted, nested_type_converted):
    # Nested types are checked one level deep only, as in BFCL.
    result = {"valid": True, "error": [], "is_variable": False, "error_type": "type_error:simple"}

    is_variable = False
    # A variable instead of an actual value: the possible answer's type (a string) stands for it.
    possible_answer_type = get_possible_answer_type(possible_answer)
    if possible_answer_type != None:  # noqa: E711 - as BFCL compares
        if possible_answer_type != expected_type_converted:
            is_variable = True

    if type(value) == expected_type_converted:
        if nested_type_converted == None:  # noqa: E711
            result["is_variable"] = is_variable
            return result
        else:
            for possible_answer_item in possible_answer:
                flag = True  # Each parameter should match to at least one possible answer type.
                if type(possible_answer_item) == list:
                    for value_item in value:
                        checker_result = type_checker(param, value_item, possible_answer_item,
                                                      str(nested_type_converted), nested_type_converted, None)
                        if not checker_result["valid"]:
                            flag = False
                            break

                if flag:
                    return {"valid": True, "error": [], "is_variable": is_variable}

            result["valid"] = False
            result["error"] = [
                f"Nested type checking failed for parameter {repr(param)}. Expected outer type {expected_type_description} with inner type {str(nested_type_converted)}. Parameter value: {repr(value)}."
            ]
            result["error_type"] = "type_error:nested"

    possible_answer_type = get_possible_answer_type(possible_answer)
    if possible_answer_type != None:  # noqa: E711
        if type(value) == possible_answer_type:
            result["is_variable"] = True
            return result

    result["valid"] = False
    result["error"].append(
        f"Incorrect type for parameter {repr(param)}. Expected type {expected_type_description}, got {type(value).__name__}. Parameter value: {repr(value)}."
    )
    result["error_type"] = "type_error:simple"
    return result


def standardize_string(input_string: str):
    """Drop spaces and ",./-_*^", lowercase, single quotes to double: "April 1, 2024" == "april 1 2024"."""
    regex_string = r"[ \,\.\/\-\_\*\^]"
    return re.sub(regex_string, "", input_string).lower().replace("'", '"')


def string_checker(param: str, model_output: str, possible_answer: list):
    standardize_possible_answer = []
    standardize_model_output = standardize_string(model_output)
    for i in range(len(possible_answer)):
        if type(possible_answer[i]) == str:
            standardize_possible_answer.append(standardize_string(possible_answer[i]))

    if standardize_model_output not in standardize_possible_answer:
        return {
            "valid": False,
            "error": [
                f"Invalid value for parameter {repr(param)}: {repr(model_output)}. Expected one of {possible_answer}. Case insensitive."
            ],
            "error_type": "value_error:string",
        }
    return {"valid": True, "error": []}


def list_checker(param: str, model_output: list, possible_answer: list):
    standardize_model_output = list(model_output)
    for i in range(len(standardize_model_output)):
        if type(standardize_model_output[i]) == str:
            standardize_model_output[i] = standardize_string(model_output[i])

    standardize_possible_answer = []
    for i in range(len(possible_answer)):
        standardize_possible_answer.append([])
        for j in range(len(possible_answer[i])):
            if type(possible_answer[i][j]) == str:
                standardize_possible_answer[i].append(standardize_string(possible_answer[i][j]))
            else:
                standardize_possible_answer[i].append(possible_answer[i][j])

    if standardize_model_output not in standardize_possible_answer:
        return {
            "valid": False,
            "error": [
                f"Invalid value for parameter {repr(param)}: {repr(model_output)}. Expected one of {possible_answer}."
            ],
            "error_type": "value_error:list/tuple",
        }
    return {"valid": True, "error": []}


def dict_checker(param: str, model_output: dict, possible_answers: list):
    # Flat dictionaries only, as in BFCL (the dataset has no nested ones).
    result = {"valid": False, "error": [], "error_type": "dict_checker:unclear"}
    for i in range(len(possible_answers)):
        if possible_answers[i] == "":
            continue

        result = {"valid": False, "error": [], "error_type": "dict_checker:unclear"}
        flag = True
        possible_answer = possible_answers[i]

        for key, value in model_output.items():
            if key not in possible_answer:
                result["valid"] = False
                result["error"].append(f"Unexpected dict key parameter: '{key}'.")
                result["error_type"] = "value_error:dict_key"
                flag = False
                break

            standardize_value = value
            if type(value) == str:
                standardize_value = standardize_string(value)

            standardize_possible_answer = []
            for i in range(len(possible_answer[key])):  # noqa: B020 - BFCL reuses the loop variable
                if type(possible_answer[key][i]) == str:
                    standardize_possible_answer.append(standardize_string(possible_answer[key][i]))
                else:
                    standardize_possible_answer.append(possible_answer[key][i])

            if standardize_value not in standardize_possible_answer:
                result["valid"] = False
                result["error"].append(
                    f"Invalid value for parameter {repr(key)}: {repr(value)}. Expected one of {standardize_possible_answer}."
                )
                result["error_type"] = "value_error:dict_value"
                flag = False
                break

        for key, value in possible_answer.items():
            if key not in model_output and "" not in value:
                result["valid"] = False
                result["error"].append(f"Missing dict key parameter: '{key}'.")
                result["error_type"] = "value_error:dict_key"
                flag = False
                break

        if flag:
            return {"valid": True, "error": []}

    return result


def list_dict_checker(param: str, model_output: list, possible_answers: list):
    # The dictionaries must come in the order of the possible answer's.
    result = {"valid": False, "error": [], "error_type": "list_dict_checker:unclear"}

    for answer_index in range(len(possible_answers)):
        flag = True
        if len(model_output) != len(possible_answers[answer_index]):
            result["valid"] = False
            result["error"] = ["Wrong number of dictionaries in the list."]
            result["error_type"] = "value_error:list_dict_count"
            flag = False
            continue

        for dict_index in range(len(model_output)):
            result = dict_checker(param, model_output[dict_index], [possible_answers[answer_index][dict_index]])
            if not result["valid"]:
                flag = False
                break
        if flag:
            return {"valid": True, "error": []}

    return result


def simple_function_checker(func_description: dict, model_output: dict, possible_answer: dict, language: str):
    possible_answer = list(possible_answer.values())[0]
    func_name = func_description["name"]
    param_details = func_description["parameters"]["properties"]
    required_params = func_description["parameters"]["required"]

    result = {"valid": True, "error": [], "error_type": "simple_function_checker:unclear"}

    if func_name not in model_output:
        result["valid"] = False
        result["error"].append(f"Function name {repr(func_name)} not found in model output.")
        result["error_type"] = "simple_function_checker:wrong_func_name"
        return result

    model_params = model_output[func_name]

    for param in required_params:
        if param not in model_params:
            result["valid"] = False
            result["error"].append(f"Missing required parameter: {repr(param)}.")
            result["error_type"] = "simple_function_checker:missing_required"
            return result

    for param, value in model_params.items():
        if param not in param_details or param not in possible_answer:
            result["valid"] = False
            result["error"].append(f"Unexpected parameter: {repr(param)}.")
            result["error_type"] = "simple_function_checker:unexpected_param"
            return result

        full_param_details = param_details[param]
        expected_type_description = full_param_details["type"]  # This is a string
        is_variable = False
        nested_type_converted = None

        if language == JAVA:
            java_types = _type_tables()[0]
            expected_type_converted = java_types[expected_type_description]

            if expected_type_description in java_types:
                if type(value) != str:
                    result["valid"] = False
                    result["error"].append(
                        f"Incorrect type for parameter {repr(param)}. Expected type String, got {type(value).__name__}. Parameter value: {repr(value)}."
                    )
                    result["error_type"] = "type_error:java"
                    return result

                if expected_type_description in NESTED_CONVERSION_TYPE_LIST:
                    nested_type = param_details[param]["items"]["type"]
                    nested_type_converted = java_types[nested_type]
                    value = _java_type_converter(value, expected_type_description, nested_type)
                else:
                    value = _java_type_converter(value, expected_type_description)

        elif language == JAVASCRIPT:
            js_types = _type_tables()[1]
            expected_type_converted = js_types[expected_type_description]

            if expected_type_description in js_types:
                if type(value) != str:
                    result["valid"] = False
                    result["error"].append(
                        f"Incorrect type for parameter {repr(param)}. Expected type String, got {type(value).__name__}. Parameter value: {repr(value)}."
                    )
                    result["error_type"] = "type_error:js"
                    return result

                if expected_type_description in NESTED_CONVERSION_TYPE_LIST:
                    nested_type = param_details[param]["items"]["type"]
                    nested_type_converted = js_types[nested_type]
                    value = _js_type_converter(value, expected_type_description, nested_type)
                else:
                    value = _js_type_converter(value, expected_type_description)

        elif language == PYTHON:
            expected_type_converted = PYTHON_TYPE_MAPPING[expected_type_description]
            if expected_type_description in PYTHON_NESTED_TYPE_CHECK_LIST:
                nested_type = param_details[param]["items"]["type"]
                nested_type_converted = PYTHON_TYPE_MAPPING[nested_type]

        else:
            raise ValueError(f"Unsupported language: {language}")

        # A tuple in the possible answer became a list through JSON, so tuple values compare as lists.
        if expected_type_description == "tuple" and type(value) == tuple:
            value = list(value)

        # Allow python auto conversion from int to float
        if language == PYTHON and expected_type_description == "float" and type(value) == int:
            value = float(value)

        # Only Python values are type-checked here; the Java/JavaScript converters produce the type.
        type_check_result = type_checker(param, value, possible_answer[param], expected_type_description,
                                         expected_type_converted, nested_type_converted)
        is_variable = type_check_result["is_variable"]
        if not type_check_result["valid"]:
            return type_check_result

        # A variable is compared as a string, whatever the declared type.
        if not is_variable:
            if expected_type_converted == dict:
                result = dict_checker(param, value, possible_answer[param])
                if not result["valid"]:
                    return result
                continue

            elif expected_type_converted == list and nested_type_converted == dict:
                result = list_dict_checker(param, value, possible_answer[param])
                if not result["valid"]:
                    return result
                continue

            elif expected_type_converted == str:
                # Case-insensitive, as long as it's not a variable
                result = string_checker(param, value, possible_answer[param])
                if not result["valid"]:
                    return result
                continue

            elif expected_type_converted == list:
                result = list_checker(param, value, possible_answer[param])
                if not result["valid"]:
                    return result
                continue

        if value not in possible_answer[param]:
            result["valid"] = False
            result["error"].append(
                f"Invalid value for parameter {repr(param)}: {repr(value)}. Expected one of {possible_answer[param]}."
            )
            result["error_type"] = "value_error:others"
            return result

    for param in possible_answer:
        if param not in model_params and "" not in possible_answer[param]:
            result["valid"] = False
            result["error"].append(f"Optional parameter {repr(param)} not provided and not marked as optional.")
            result["error_type"] = "simple_function_checker:missing_optional"
            return result

    return result


def parallel_function_checker_no_order(func_descriptions: list, model_output: list, possible_answers: list,
                                       language: str):
    if len(model_output) != len(possible_answers):
        return {
            "valid": False,
            "error": ["Wrong number of functions."],
            "error_type": "parallel_function_checker_no_order:wrong_count",
        }

    matched_indices = []
    # Each possible answer, in order, takes the first unmatched output it fits (its function's description).
    for i in range(len(possible_answers)):
        func_name_expected = list(possible_answers[i].keys())[0]
        func_description = find_description(func_descriptions, func_name_expected)

        all_errors = []
        for index in range(len(model_output)):
            if index in matched_indices:
                continue

            result = simple_function_checker(func_description, model_output[index], possible_answers[i], language)

            if result["valid"]:
                matched_indices.append(index)
                break
            else:
                all_errors.append({
                    f"Model Result Index {index}": {
                        "sub_error": result["error"],
                        "sub_error_type": result["error_type"],
                        "model_output_item": model_output[index],
                        "possible_answer_item": possible_answers[i],
                    }
                })

        if not result["valid"]:
            considered_indices = [i for i in range(len(model_output)) if i not in matched_indices]
            all_errors.insert(
                0,
                f"Could not find a matching function among index {considered_indices} of model output for index {i} of possible answers.",
            )
            return {
                "valid": False,
                "error": all_errors,
                "error_type": "parallel_function_checker_no_order:cannot_find_match",
            }

    return {"valid": True, "error": []}


def multiple_function_checker(func_descriptions: list, model_output: list, possible_answers: list, language: str):
    if len(model_output) != len(possible_answers):
        return {
            "valid": False,
            "error": ["Wrong number of functions."],
            "error_type": "multiple_function_checker:wrong_count",
        }

    func_name_expected = list(possible_answers[0].keys())[0]
    func_description = find_description(func_descriptions, func_name_expected)
    return simple_function_checker(func_description, model_output[0], possible_answers[0], language)


# -- one entry, as eval_runner.py's _evaluate_single_ast_entry / _evaluate_single_relevance_entry ------
def evaluate_entry(output: str, *, category: str, functions: list[dict], ground_truth: list | None) -> dict:
    """BFCL's verdict on one model output: {"valid", "error", "error_type", "decoded"}."""
    if "relevance" in category:  # irrelevance, live_irrelevance, live_relevance: only "is there a call?"
        decoded, contain_func_call = None, False
        try:
            decoded = default_decode_ast_prompting(output, PYTHON)
            contain_func_call = not is_empty_output(decoded)
        except Exception:
            contain_func_call = False
        if "irrelevance" in category:
            if contain_func_call:
                return {"valid": False, "error": ["Valid syntax. Successfully decode AST when it should not."],
                        "error_type": "irrelevance_error:decoder_success", "decoded": decoded}
        elif not contain_func_call:
            return {"valid": False, "error": ["Invalid syntax. Failed to decode AST when it should have."],
                    "error_type": "relevance_error:decoder_failed", "decoded": decoded}
        return {"valid": True, "error": [], "error_type": "", "decoded": decoded}

    language = JAVA if category == "simple_java" else JAVASCRIPT if category == "simple_javascript" else PYTHON
    try:
        decoded = default_decode_ast_prompting(output, language)
    except Exception as exc:
        return {"valid": False, "error": [f"Invalid syntax. Failed to decode AST. {exc}"],
                "error_type": "ast_decoder:decoder_failed", "decoded": None}
    if not is_function_calling_format_output(decoded):
        return {"valid": False, "error": ["Did not output in the specified format."],
                "error_type": "ast_decoder:decoder_wrong_output_format", "decoded": decoded}
    try:
        result = ast_checker(functions, decoded, ground_truth, language, category)
    except Exception as exc:  # e.g. a Java Set parameter: BFCL's own run stops here with this exception
        return {"valid": False, "error": [f"checker error: {type(exc).__name__}: {exc}"],
                "error_type": "checker_error", "decoded": decoded}
    return {"valid": bool(result["valid"]), "error": result["error"],
            "error_type": result.get("error_type", "") if not result["valid"] else "", "decoded": decoded}
