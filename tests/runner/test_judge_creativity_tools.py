"""The LLM judge (MT-Bench prompts, rating parsing), MT-Bench's two-turn flow, the creativity checks and
diversity metrics, the tool-use AST matcher, and one real `evaluate` run of the three tasks on SmolLM2."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

import pytest
from django.core.management import call_command

from runner.backends.base import Generation, GenerationRequest, ModelInfo, as_messages
from tests.fake_backend import DeterministicFakeBackend
from runner.benchmarks import creativity, tool_use
from runner.benchmarks.mt_bench import mt_bench_prompt
from runner.datasets import load_split
from runner.engine import evaluate_items, prepare_task
from runner.errors import BenchsiteError
from runner.judge import (
    JudgeRequired,
    JudgeSpec,
    judge_identity,
    judge_prompts,
    parse_rating,
    render_single,
    single_prompt_name,
)
from runner.registry import SCORERS, ScoreContext
from runner.catalog import TASKS

REPO_DATA = Path(creativity.__file__).resolve().parent / "data"


class ScriptedJudge:
    """A judge that answers with the given texts in turn and keeps the conversations it was sent."""

    name = "scripted"

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.conversations: list[list[dict]] = []

    def apply_chat_template(self, messages) -> str:
        self.conversations.append(as_messages(messages))
        return json.dumps(as_messages(messages))

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        assert all(request.temperature == 0.0 for request in requests)
        return [Generation(self.replies.pop(0), 0, 0) for _ in requests]

    def info(self) -> ModelInfo:
        return ModelInfo(backend="scripted", name="scripted-judge", path="/nonexistent", format="", dtype="",
                         device="cpu")


# -- judge prompts and ratings -------------------------------------------------------------------------
@pytest.mark.parametrize("text, rating", [
    ("The answer is helpful. [[7]]", 7.0),
    ("Rating: [[8.5]]", 8.5),
    ("Good overall. Rating: [[10]]", 10.0),
    ("Only single brackets here: [6]", 6.0),  # FastChat's fallback pattern
    ("Rating: [[7]] ... on reflection [[3]]", 7.0),  # the first match counts
    ("I would rate this response highly, maybe an eight.", None),
    ("Rating: [[N/A]]", None),
    ("", None),
    ("Rating: [[0]]", None),  # off the 1-10 scale
    ("Rating: [[42]]", None),
])
def test_parse_rating_follows_fastchat_and_the_scale(text, rating):
    assert parse_rating(text) == rating


def test_the_published_judge_prompts_are_loaded_by_name():
    prompts = judge_prompts()
    assert {"single-v1", "single-math-v1", "single-v1-multi-turn", "single-math-v1-multi-turn"} <= set(prompts)
    assert all(prompts[name].output_format == "[[rating]]" for name in prompts if name.startswith("single"))


@pytest.mark.parametrize("category, turn, with_reference, name", [
    ("writing", 1, False, "single-v1"),
    ("writing", 2, False, "single-v1-multi-turn"),
    ("math", 1, True, "single-math-v1"),
    ("coding", 2, True, "single-math-v1-multi-turn"),
    ("reasoning", 1, False, "single-v1"),  # no reference answer: graded without one
    ("roleplay", 1, True, "single-v1"),  # references only guide math, reasoning and coding
])
def test_prompt_choice_by_category_and_turn(category, turn, with_reference, name):
    assert single_prompt_name(category, turn=turn, with_reference=with_reference) == name


def test_single_prompt_renders_question_and_answer_as_fastchat():
    messages = render_single(judge_prompts()["single-v1"], questions=["Q1?", "Q2?"], answers=["A1.", "A2."])
    assert messages[0] == {"role": "system", "content": "You are a helpful assistant."}
    user = messages[1]["content"]
    assert user.startswith("[Instruction]\nPlease act as an impartial judge")
    assert user.endswith("[Question]\nQ1?\n\n[The Start of Assistant's Answer]\nA1.\n[The End of Assistant's Answer]")
    assert "Q2?" not in user and "A2." not in user


def test_math_prompt_carries_the_reference_and_turn_two_the_whole_conversation():
    prompts = judge_prompts()
    first = render_single(prompts["single-math-v1"], questions=["Q1?", "Q2?"], answers=["A1.", "A2."],
                          references=["R1.", "R2."])[1]["content"]
    assert "[The Start of Reference Answer]\nR1.\n[The End of Reference Answer]" in first and "R2." not in first
    second = render_single(prompts["single-math-v1-multi-turn"], questions=["Q1?", "Q2?"], answers=["A1.", "A2."],
                           references=["R1.", "R2."], turn=2)
    assert second[0]["content"].startswith("Please act as an impartial judge")
    assert second[1]["content"] == (
        "<|The Start of Reference Answer|>\n\n### User:\nQ1?\n\n### Reference answer:\nR1.\n\n### User:\nQ2?\n\n"
        "### Reference answer:\nR2.\n\n<|The End of Reference Answer|>\n\n\n"
        "<|The Start of Assistant A's Conversation with User|>\n\n### User:\nQ1?\n\n### Assistant A:\nA1.\n\n"
        "### User:\nQ2?\n\n### Assistant A:\nA2.\n\n<|The End of Assistant A's Conversation with User|>"
    )


def test_judge_spec_parses_models_and_endpoints():
    assert JudgeSpec.parse("SmolLM2-135M-Instruct") == JudgeSpec(model="SmolLM2-135M-Instruct")
    endpoint = JudgeSpec.parse("openai:http://127.0.0.1:8000/v1#qwen2.5-7b-instruct")
    assert endpoint.is_endpoint and endpoint.endpoint == "http://127.0.0.1:8000/v1"
    assert endpoint.model == "qwen2.5-7b-instruct"
    for bad in ("", "openai:http://127.0.0.1:8000/v1", "openai:#model"):
        with pytest.raises(BenchsiteError):
            JudgeSpec.parse(bad)


def test_judge_identity_names_endpoint_and_model_without_asking_the_server():
    class Unreachable(ScriptedJudge):
        def info(self):
            raise AssertionError("an endpoint judge is identified by its spec")

    spec = "openai:http://judge.example:8000/v1#big-judge"
    assert judge_identity(Unreachable(), spec) == {
        "name": spec, "backend": "openai", "endpoint": "http://judge.example:8000/v1", "model": "big-judge",
    }


def test_judge_identity_of_a_model_file_includes_its_sha256(tmp_path):
    weights = tmp_path / "judge.gguf"
    weights.write_bytes(b"GGUF weights")
    judge = DeterministicFakeBackend(str(weights))
    assert judge_identity(judge, "my-judge") == {
        "name": "my-judge", "backend": "fake", "sha256": hashlib.sha256(b"GGUF weights").hexdigest(),
    }


# -- MT-Bench ---------------------------------------------------------------------------------------------
def mt_bench_items(limit: int, backend):
    return prepare_task(TASKS["mt_bench"], limit=limit, chat_template=backend.apply_chat_template)


def test_mt_bench_spec():
    spec = TASKS["mt_bench"]
    assert (spec.category, spec.primary_metric, spec.max_new_tokens, spec.chat) == (
        "instruction_following", "score", 1024, True)
    assert len(load_split(spec.test).rows) == 80


def test_mt_bench_two_turn_flow_with_the_fake_backend_as_model_and_judge():
    """Orchestration only: the DeterministicFakeBackend is a stand-in, so it never writes a rating."""
    model, judge = DeterministicFakeBackend(), DeterministicFakeBackend()
    task = mt_bench_items(2, model)
    results = list(evaluate_items(task, model, context=ScoreContext(judge=judge, judge_name="fake-judge")))
    assert [r.doc_id for r in results] == [0, 1]
    for result, item in zip(results, task.items):
        first_reply = model.generate([GenerationRequest(model.apply_chat_template(item.doc.extra["turns"][0]))])[0]
        assert result.output.startswith(first_reply.text) and result.output.count("The answer is") == 2
        assert result.details["judge"] == {"name": "fake-judge", "backend": "fake"}
        judgments = result.details["judgments"]
        assert [j["prompt_name"] for j in judgments] == ["single-v1", "single-v1-multi-turn"]
        assert all(j["rating"] is None and j["error"] and "The answer is" in j["output"] for j in judgments)
        assert result.metrics == {}  # unrated, not 0


def test_mt_bench_scores_are_the_judge_ratings_and_their_mean():
    model = DeterministicFakeBackend()
    task = mt_bench_items(1, model)
    judge = ScriptedJudge("Helpful and accurate. [[7]]", "The rewrite starts every sentence with A. Rating: [[8.5]]")
    result = next(evaluate_items(task, model, context=ScoreContext(judge=judge, judge_name="scripted")))
    assert result.metrics == {"turn1_score": 7.0, "turn2_score": 8.5, "score": 7.75}
    turn_one, turn_two = (conversation[1]["content"] for conversation in judge.conversations)
    question_one, question_two = task.items[0].doc.extra["turns"]
    reply_one = model.generate([GenerationRequest(model.apply_chat_template(question_one))])[0].text
    assert f"[Question]\n{question_one}\n\n" in turn_one and "Compose an engaging travel blog post" in turn_one
    assert f"[The Start of Assistant's Answer]\n{reply_one}\n" in turn_one
    assert f"### User:\n{question_two}" in turn_two and f"### Assistant A:\n{reply_one}\n" in turn_two


def test_mt_bench_keeps_the_rated_turn_when_the_other_is_unparseable():
    model = DeterministicFakeBackend()
    task = mt_bench_items(1, model)
    judge = ScriptedJudge("[[6]]", "I cannot decide.")
    result = next(evaluate_items(task, model, context=ScoreContext(judge=judge, judge_name="scripted")))
    assert result.metrics == {"turn1_score": 6.0, "score": 6.0}
    assert result.details["judgments"][1]["rating"] is None


def test_mt_bench_math_questions_are_graded_against_gpt4_references():
    questions = load_split(TASKS["mt_bench"].test).rows
    row = next(row for row in questions if row["category"] == "math")
    doc = mt_bench_prompt(row)
    assert len(doc.extra["references"]) == 2
    judge = ScriptedJudge("[[3]]", "[[4]]")
    scored = SCORERS["mt_bench"](doc, ["first answer", "second answer"], ScoreContext(judge=judge))
    assert scored.metrics["score"] == 3.5
    assert [j["prompt_name"] for j in scored.details["judgments"]] == ["single-math-v1", "single-math-v1-multi-turn"]
    assert doc.extra["references"][0] in judge.conversations[0][1]["content"]
    assert doc.extra["references"][1] in judge.conversations[1][1]["content"]


def test_mt_bench_without_a_judge_fails_with_a_clear_message():
    doc = mt_bench_prompt(load_split(TASKS["mt_bench"].test).rows[0])
    with pytest.raises(JudgeRequired, match="--judge"):
        SCORERS["mt_bench"](doc, ["a", "b"], ScoreContext())


@pytest.mark.django_db
def test_run_plan_refuses_judged_tasks_without_a_judge():
    from evaluations.services import model_entries, plans, runs

    model = model_entries.model_resolve(reference="SmolLM2-135M-Instruct")
    with pytest.raises(BenchsiteError, match="mt_bench.*--judge"):
        plans.run_plan(model=model, backend="fake", benchmarks=["mt_bench"], limit=1)


@pytest.mark.django_db
def test_run_plan_records_the_judge_in_the_config():
    from evaluations.services import model_entries, plans, runs

    model = model_entries.model_resolve(reference="SmolLM2-135M-Instruct")
    endpoint = "openai:http://127.0.0.1:9/v1#judge-model"
    plan = plans.run_plan(model=model, backend="fake", benchmarks=["mt_bench"], limit=1, judge=endpoint)
    assert plan.config["judge"] == {"name": endpoint, "backend": "openai", "endpoint": "http://127.0.0.1:9/v1",
                                    "model": "judge-model"}
    by_model = plans.run_plan(model=model, backend="fake", benchmarks=["mt_bench"], limit=1,
                                 judge="SmolLM2-135M-Instruct")
    assert by_model.config["judge"] == {"name": "SmolLM2-135M-Instruct", "backend": "llama_cpp",
                                        "sha256": model.file_sha256}
    assert by_model.config_hash != plan.config_hash
    run = runs.run_create(plan=by_model)
    assert run.config["tasks"]["mt_bench"]["config_key"] != plan.config["tasks"]["mt_bench"]["config_key"]


@pytest.mark.django_db
def test_run_plan_refuses_a_model_without_a_chat_template_as_judge_or_with_chat_template():
    """Refused before any item runs: the bundled Gemma 3 270M is a base model, its GGUF carries no template."""
    from evaluations.services import model_entries, plans, runs

    gemma = model_entries.model_resolve(reference="gemma-3-270m")
    with pytest.raises(BenchsiteError, match="judge gemma-3-270m has no chat template"):
        plans.run_plan(model=gemma, backend="fake", benchmarks=["mt_bench"], limit=1, judge="gemma-3-270m")
    with pytest.raises(BenchsiteError, match="gemma-3-270m has no chat template, and --chat-template"):
        plans.run_plan(model=gemma, backend="llama_cpp", benchmarks=["arc_easy"], limit=1, chat_template=True)
    smollm2 = model_entries.model_resolve(reference="SmolLM2-135M-Instruct")
    plan = plans.run_plan(model=smollm2, backend="llama_cpp", benchmarks=["arc_easy"], limit=1, chat_template=True)
    assert plan.chat_template


def test_chat_templates_are_found_in_gguf_metadata_and_hugging_face_folders(tiny_llama_dir, smollm2_path, tmp_path):
    from runner.modelfiles import bundled_model_path, has_chat_template

    assert has_chat_template(smollm2_path)
    assert not has_chat_template(bundled_model_path("gemma-3-270m"))
    assert not has_chat_template(tiny_llama_dir)
    with_template = tmp_path / "chat-llama"
    with_template.mkdir()
    (with_template / "chat_template.jinja").write_text("{% for m in messages %}{{ m.content }}{% endfor %}")
    assert has_chat_template(with_template)


# -- creativity: constraints one by one -----------------------------------------------------------------
@pytest.mark.parametrize("kind, parameters, text, kept", [
    ("word_count", {"min": 3, "max": 5}, "One two three four.", True),
    ("word_count", {"min": 3, "max": 5}, "One two.", False),
    ("word_count", {"min": 3, "max": 5}, "One two three four five six", False),
    ("word_count", {"min": 2, "max": 2}, "don't stop", True),  # contractions are one word
    ("line_count", {"min": 2, "max": 2}, "first line\n\n  second line  \n", True),
    ("line_count", {"min": 3}, "first line\nsecond line", False),
    ("paragraph_count", {"min": 2, "max": 2}, "One.\nStill one.\n\nTwo.", True),
    ("paragraph_count", {"min": 3, "max": 3}, "One.\n\nTwo.", False),
    ("required_words", {"words": ["lantern", "envelope"]}, "The Lantern lit the envelope.", True),
    ("required_words", {"words": ["lantern", "envelope"]}, "The lanterns lit the envelope.", False),
    ("forbidden_words", {"words": ["said"]}, "She whispered.", True),
    ("forbidden_words", {"words": ["said"]}, "\"No,\" she Said.", False),
    ("forbidden_words", {"words": ["time machine"]}, "the time  machine", True),  # phrase as written
    ("forbidden_words", {"words": ["time machine"]}, "a Time Machine hums", False),
    ("acrostic", {"word": "SEA"}, "Salt on the wind\nEvery wave returns\nAlways", True),
    ("acrostic", {"word": "SEA"}, "**Salt** on the wind\n- every wave returns\n\"Always\"", True),
    ("acrostic", {"word": "SEA"}, "Salt on the wind\nAlways\nEvery wave returns", False),
    ("acrostic", {"word": "SEA"}, "Sea poem\nSalt on the wind\nEvery wave returns\nAlways", False),  # a title
    ("lipogram", {"letter": "e"}, "A cat sat on a warm mat.", True),
    ("lipogram", {"letter": "e"}, "A cat sat on a warm mat. THE END", False),
    ("lipogram", {"letter": "e"}, "", False),
    ("starts_with", {"text": "Dear Human,"}, "  dear human, I want fish.", True),
    ("starts_with", {"text": "Dear Human,"}, "Hello. Dear Human,", False),
    ("ends_with", {"text": "The first red one was the sweetest."},
     "It grew.\nThe first red one was the sweetest.**", True),
    ("ends_with", {"text": "The first red one was the sweetest."}, "The first red one was the sweetest. The end.", False),
    ("max_words_per_line", {"max": 3}, "grey wings\nfold on stone", True),
    ("max_words_per_line", {"max": 3}, "grey wings fold on stone", False),
    ("forbidden_characters", {"characters": ["?", "!"]}, "Apply within.", True),
    ("forbidden_characters", {"characters": ["?", "!"]}, "Apply within!", False),
])
def test_constraint_checkers(kind, parameters, text, kept):
    assert creativity.CHECKS[kind](text, {"type": kind, **parameters}) is kept


def test_distinct_n_known_values():
    texts = ["the cat sat", "the cat ran"]
    assert creativity.distinct_n(texts, 1) == pytest.approx(4 / 6)  # the, cat, sat, ran
    assert creativity.distinct_n(texts, 2) == pytest.approx(3 / 4)  # the cat twice, cat sat, cat ran
    assert creativity.distinct_n(["A a A"], 1) == pytest.approx(1 / 3)  # lower-cased
    assert creativity.distinct_n(["one", "two"], 2) == 0.0  # no bigram at all


def test_self_bleu_known_values():
    identical = ["the quick brown fox jumps"] * 3
    assert creativity.self_bleu(identical) == pytest.approx(100.0)
    # One differing last word: precisions 4/5, 3/4, 2/3, 1/2, no brevity penalty.
    expected = 100 * (4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25
    assert creativity.self_bleu(["a b c d e", "a b c d f"]) == pytest.approx(expected)
    assert creativity.self_bleu(["a b c d e", "v w x y z", "a b c d f"]) < expected


CREATIVE_DOC_ROW = {
    "id": "test-acrostic", "kind": "poem", "prompt": "Write an acrostic on SEA.",
    "constraints": [{"type": "acrostic", "word": "SEA"}, {"type": "line_count", "min": 3, "max": 3}],
}
POEMS = ["Salt on the wind\nEvery wave returns\nAlways", "Sand\nEbb\nAir", "Storm over the harbour tonight"]


def test_creativity_scorer_without_a_judge_has_no_judge_score():
    doc = creativity.creativity_prompt(CREATIVE_DOC_ROW)
    scored = SCORERS["creativity"](doc, POEMS, ScoreContext())
    assert scored.metrics["constraint_pass_rate"] == pytest.approx(4 / 6)
    assert set(scored.metrics) == {"constraint_pass_rate", "distinct_1", "distinct_2", "self_bleu"}
    assert scored.details["constraints"][0]["kept"] == [True, True, False]


def test_creativity_judge_score_is_the_mean_of_parsed_ratings():
    doc = creativity.creativity_prompt(CREATIVE_DOC_ROW)
    judge = ScriptedJudge("Vivid. [[8]]", "Thin. Rating: [[4]]", "no verdict")
    scored = SCORERS["creativity"](doc, POEMS, ScoreContext(judge=judge, judge_name="scripted"))
    assert scored.metrics["judge_score"] == pytest.approx(6.0)
    assert scored.details["judge"]["name"] == "scripted"
    assert [j["rating"] for j in scored.details["judgments"]] == [8.0, 4.0, None]
    assert POEMS[1] in judge.conversations[1][1]["content"] and doc.text in judge.conversations[1][1]["content"]
    unrated = SCORERS["creativity"](doc, POEMS, ScoreContext(judge=ScriptedJudge("?", "?", "?")))
    assert "judge_score" not in unrated.metrics and len(unrated.details["judgments"]) == 3


def test_creativity_set_is_well_formed():
    items = [json.loads(line) for line in (REPO_DATA / "creativity.jsonl").read_text().splitlines()]
    assert 28 <= len(items) <= 40 and len({item["id"] for item in items}) == len(items)
    assert {item["kind"] for item in items} == {"story", "poem", "constrained"}
    for item in items:
        assert item["constraints"]
        for constraint in item["constraints"]:
            assert constraint["type"] in creativity.CHECKS
            creativity.CHECKS[constraint["type"]]("some text", constraint)  # parameters are complete
    spec = TASKS["creativity"]
    assert (spec.num_samples, spec.temperature, spec.primary_metric, spec.category) == (
        3, 0.8, "constraint_pass_rate", "creativity")


# -- tool use: the AST matcher ------------------------------------------------------------------------------
WEATHER = {
    "name": "get_weather",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string"}, "days": {"type": "integer"},
                       "lat": {"type": "number"}, "alerts": {"type": "boolean"},
                       "tags": {"type": "array", "items": {"type": "string"}}},
        "required": ["city"],
    },
}
TIME = {"name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"type": "string"}},
                                           "required": ["zone"]}}
EXPECTED = [{"get_weather": {"city": ["New York", "NYC"], "unit": ["celsius", ""], "days": [3, ""], "lat": [40.5, ""],
                             "alerts": [True, ""], "tags": [["rain", "wind"], ""]}}]


def verdict(answer: str, expected=EXPECTED, tools=(WEATHER, TIME)) -> str:
    calls = tool_use.parse_calls(answer)
    return tool_use.match_calls(calls, expected, list(tools)) if calls else "no call"


@pytest.mark.parametrize("answer", [
    '{"name": "get_weather", "arguments": {"city": "New York"}}',
    '{"name": "get_weather", "arguments": {"city": "new-york", "unit": "Celsius", "days": 3}}',
    'Sure!\n```json\n{"name": "get_weather", "parameters": {"city": "NYC", "lat": 40.5}}\n```',
    '{"name": "get_weather", "arguments": "{\\"city\\": \\"New York\\", \\"tags\\": [\\"Rain\\", \\"wind\\"]}"}',
    '[{"get_weather": {"city": "New York", "alerts": true}}]',
    'get_weather(city="New York", days=3)',
    '[get_weather(city="NYC", unit="celsius")]',
])
def test_matching_calls_are_accepted(answer):
    assert verdict(answer) == ""


@pytest.mark.parametrize("answer, reason", [
    ('{"name": "get_time", "arguments": {"zone": "America/New_York"}}', "wrong function"),
    ('{"name": "get_weather", "arguments": {"unit": "celsius"}}', "missing required parameter 'city'"),
    ('{"name": "get_weather", "arguments": {"city": "New York", "days": "3"}}', "'days' should be integer"),
    ('{"name": "get_weather", "arguments": {"city": "New York", "days": 3.0}}', "'days' should be integer"),
    ('{"name": "get_weather", "arguments": {"city": "New York", "alerts": 1}}', "'alerts' should be boolean"),
    ('{"name": "get_weather", "arguments": {"city": "New York", "country": "US"}}', "unexpected parameter 'country'"),
    ('{"name": "get_weather", "arguments": {"city": "Boston"}}', "value 'Boston' of 'city'"),
    ('{"name": "get_weather", "arguments": {"city": "New York", "tags": ["wind", "rain"]}}', "of 'tags'"),
    ('get_weather("New York")', "positional"),
    ('[{"name": "get_weather", "arguments": {"city": "NYC"}}, {"name": "get_time", "arguments": {"zone": "EST"}}]',
     "2 call(s) made, 1 expected"),
    ("I don't have access to live weather data.", "no call"),
])
def test_mismatching_calls_are_rejected_with_the_reason(answer, reason):
    assert reason in verdict(answer)


def test_an_integer_stands_for_a_number_but_not_for_a_boolean():
    assert verdict('{"name": "get_weather", "arguments": {"city": "NYC", "lat": 40.5}}') == ""
    expected = [{"get_weather": {"city": ["NYC"], "lat": [40]}}]
    assert verdict('{"name": "get_weather", "arguments": {"city": "NYC", "lat": 40}}', expected) == ""


def test_parallel_calls_match_in_any_order():
    expected = [{"get_weather": {"city": ["Oslo"]}}, {"get_weather": {"city": ["Madrid"]}}]
    assert verdict('[get_weather(city="Madrid"), get_weather(city="Oslo")]', expected) == ""
    assert verdict('[get_weather(city="Oslo"), get_weather(city="Oslo")]', expected) != ""


def test_parse_calls_reads_json_and_python_syntax_and_nothing_else():
    assert tool_use.parse_calls('math.hypot(x=3, y=4)') == [tool_use.Call("math.hypot", {"x": 3, "y": 4})]
    assert tool_use.parse_calls('get_weather(city=some_variable)') == []
    assert tool_use.parse_calls("The capital of Australia is Canberra.") == []
    assert tool_use.parse_calls('{"city": "Paris"}') == []


def tool_doc(expected: list) -> dict:
    return tool_use.tool_use_prompt({"id": "t", "kind": "simple", "tools": [WEATHER, TIME],
                                     "request": "Weather in New York?", "expected": expected})


def test_tool_use_scorer_metrics():
    score = SCORERS["tool_use"]
    right = score(tool_doc(EXPECTED), ['{"name": "get_weather", "arguments": {"city": "NYC"}}'], ScoreContext())
    assert right.metrics == {"ast_accuracy": 1.0, "valid_call_rate": 1.0}
    wrong_value = score(tool_doc(EXPECTED), ['get_weather(city="Paris")'], ScoreContext())
    assert wrong_value.metrics == {"ast_accuracy": 0.0, "valid_call_rate": 1.0}
    unknown = score(tool_doc(EXPECTED), ['{"name": "get_forecast", "arguments": {"city": "NYC"}}'], ScoreContext())
    assert unknown.metrics == {"ast_accuracy": 0.0, "valid_call_rate": 0.0}
    prose = score(tool_doc(EXPECTED), ["It is sunny."], ScoreContext())
    assert prose.metrics == {"ast_accuracy": 0.0, "valid_call_rate": 0.0} and prose.details["error"] == "no function call"
    abstained = score(tool_doc([]), ["I can only look up weather and time."], ScoreContext())
    assert abstained.metrics == {"ast_accuracy": 1.0}
    called = score(tool_doc([]), ['get_time(zone="UTC")'], ScoreContext())
    assert called.metrics == {"ast_accuracy": 0.0} and "get_time" in called.details["error"]


def test_tool_use_set_accepts_its_own_reference_answers():
    """Every item's first allowed values, written as a call, pass the matcher (so each item is answerable)."""
    items = [json.loads(line) for line in (REPO_DATA / "tool_use.jsonl").read_text().splitlines()]
    assert 38 <= len(items) <= 50 and len({item["id"] for item in items}) == len(items)
    assert {item["kind"] for item in items} == {"simple", "multiple", "parallel", "relevance"}
    assert sum(not item["expected"] for item in items) >= 5
    for item in items:
        calls = []
        for answer in item["expected"]:
            (name, allowed), = answer.items()
            arguments = {p: next(v for v in options if v != "") for p, options in allowed.items()
                         if any(v != "" for v in options)}
            calls.append(tool_use.Call(name, arguments))
        if calls:
            assert tool_use.match_calls(list(reversed(calls)), item["expected"], item["tools"]) == "", item["id"]
        names = [tool["name"] for tool in item["tools"]]
        assert all(list(answer)[0] in names for answer in item["expected"]), item["id"]
    spec = TASKS["tool_use"]
    assert (spec.temperature, spec.chat, spec.primary_metric, spec.category) == (0.0, True, "ast_accuracy", "tool_use")


def test_repo_suites_load_through_runner_datasets():
    assert len(load_split(TASKS["creativity"].test).rows) == 30
    assert len(load_split(TASKS["tool_use"].test).rows) == 42


# -- end to end on the real SmolLM2 -----------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.django_db
def test_evaluate_with_a_model_judge_stores_primary_metrics_and_the_judge(tmp_path):
    from evaluations.models import ModelEntry, Run, RunStatus, Sample

    output = tmp_path / "result.json"
    call_command("evaluate", "--model", "SmolLM2-135M-Instruct", "--backend", "llama_cpp",
                 "--benchmarks", "mt_bench,creativity,tool_use", "--limit", "2", "--max-new-tokens", "48",
                 "--judge", "SmolLM2-135M-Instruct", "--output", str(output), "--no-progress")
    result = json.loads(output.read_text())
    run = Run.objects.get(pk=result["run_id"])
    assert run.status == RunStatus.FINISHED and run.done == run.total == 6
    judge = {"name": "SmolLM2-135M-Instruct", "backend": "llama_cpp",
             "sha256": ModelEntry.objects.get(name="SmolLM2-135M-Instruct").file_sha256}
    assert run.config["judge"] == judge and len(judge["sha256"]) == 64
    assert result["scores"]["creativity"]["constraint_pass_rate"]["n"] == 2
    assert result["scores"]["tool_use"]["ast_accuracy"]["n"] == 2
    for sample in Sample.objects.filter(run=run, benchmark__slug__in=["mt_bench", "creativity"]):
        assert sample.details["judge"] == judge
        assert all(j["rating"] is not None or j["error"] for j in sample.details["judgments"])
    mt_bench = Sample.objects.filter(run=run, benchmark__slug="mt_bench")
    assert all(len(sample.details["judgments"]) == 2 for sample in mt_bench)
    rated = [j["rating"] for sample in mt_bench for j in sample.details["judgments"] if j["rating"] is not None]
    if rated:
        assert result["scores"]["mt_bench"]["score"]["value"] == pytest.approx(
            sum(s.metrics["score"] for s in mt_bench if "score" in s.metrics)
            / sum("score" in s.metrics for s in mt_bench))
    else:
        assert "mt_bench" not in result["scores"]
