"""IFEval: every verifier on hand-made responses, strict vs loose, pooled metrics, the reference, a real run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.benchmarks.ifeval import ifeval_prompt, score_ifeval
from runner.engine import aggregate, prepare_task
from runner.ifeval_checks import VERIFIERS, check_instructions, follows, loose_variants
from runner.ifeval_checks.text import (
    count_sentences,
    count_words,
    detect_language,
    english_punkt_parameters,
    word_tokenize,
)
from runner.registry import ScoreContext
from runner.catalog import TASKS

GERMAN = "Das Wetter ist heute sehr schön, und wir gehen am Nachmittag mit den Kindern in den Park."
ENGLISH = "The weather is very nice today, and we are going to the park with the children this afternoon."

# (instruction id, kwargs, a response that follows it, a response that does not)
CASES = [
    ("keywords:existence", {"keywords": ["banana", "split"]}, "A BANANA split is sweet.", "Just a banana."),
    ("keywords:frequency", {"keyword": "fish", "frequency": 3, "relation": "at least"},
     "Fish, fish and more fish.", "One fish, two fish."),
    ("keywords:frequency", {"keyword": "the", "frequency": 2, "relation": "less than"},
     "The end.", "The cat and the dog."),
    ("keywords:forbidden_words", {"forbidden_words": ["cat", "dog"]},
     "Catalogs and hotdogs are fine.", "My Dog sleeps."),
    ("keywords:letter_frequency", {"letter": "z", "let_frequency": 3, "let_relation": "at least"},
     "Zebras zigzag.", "A zebra."),
    ("keywords:letter_frequency", {"letter": "#", "let_frequency": 2, "let_relation": "at least"},
     "#summer #sun", "#summer sun"),
    ("language:response_language", {"language": "de"}, GERMAN, ENGLISH),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "less than"},
     "Dr. Smith went home. He was tired.", "One. Two. Three."),
    ("length_constraints:number_sentences", {"num_sentences": 2, "relation": "at least"},
     "It rained. We stayed in.", "It rained all day in St. Louis."),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2},
     "***\nFirst part.\n***\nSecond part.\n***", "First.\n***\n***\nSecond."),
    ("length_constraints:number_words", {"num_words": 5, "relation": "less than"},
     "Four words right here.", "This has exactly five words."),
    ("length_constraints:number_words", {"num_words": 5, "relation": "at least"},
     "Don't stop me now.", "Stop me now."),
    ("length_constraints:nth_paragraph_first_word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "elm"},
     "Trees are nice.\n\n\"Elm, trees grow tall.\"", "Trees are nice.\n\nOak trees grow tall."),
    ("detectable_content:number_placeholders", {"num_placeholders": 2},
     "Dear [name], I live at [address].", "Dear [name], I live nearby."),
    ("detectable_content:postscript", {"postscript_marker": "P.S."},
     "Hello there.\n\np. s. See you soon.", "Hello there.\n\nPS See you soon."),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"},
     "Hello.\nP.S. one\nP.P.S. two", "Hello.\nP.S. one"),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2},
     "**Shopping**\n* eggs\n- milk", "* eggs\n* milk\n* bread"),
    ("detectable_format:constrained_response", {}, "My answer is maybe.", "Maybe."),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2},
     "*first* and **second**", "*first* and ** ** and * "),
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 2},
     "Section 1\nIntro.\nSection 2\nBody.", "Section 1\nOnly one section."),
    ("detectable_format:json_format", {}, "```json\n{\"a\": [1, 2]}\n```", "{a: 1}"),
    ("detectable_format:title", {}, "<<Poem of Joy>>\nLa la la.", "<< >>\nLa la la."),
    ("combination:two_responses", {}, "Answer A.\n******\nAnswer B.", "Same.\n******\nSame."),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Write a haiku about rain."},
     "write a haiku about rain. Drops fall on the roof.", "Here is a haiku about rain."),
    ("startend:end_checker", {"end_phrase": "Any other questions?"},
     "That is all. Any other questions?\"", "Any other questions? Thanks."),
    ("startend:quotation", {}, "\"Wrapped in quotes.\"", "\"Half wrapped."),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "at least"},
     "The NASA and FBI agents met.", "The NASA agent met a Friend."),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "less than"},
     "Only NASA here.", "NASA, FBI and CIA."),
    ("change_case:english_capital", {}, ENGLISH.upper(), ENGLISH),
    ("change_case:english_lowercase", {}, ENGLISH.lower(), GERMAN.lower()),
    ("punctuation:no_comma", {}, "No commas here.", "Yes, one."),
]


def test_every_ifeval_instruction_has_a_verifier_and_a_case():
    assert len(VERIFIERS) == 25
    assert {case[0] for case in CASES} == set(VERIFIERS)


@pytest.mark.parametrize(("instruction_id", "kwargs", "passing", "failing"), CASES,
                         ids=[f"{case[0]}-{index}" for index, case in enumerate(CASES)])
def test_verifier_accepts_the_following_response_and_rejects_the_other(instruction_id, kwargs, passing, failing):
    assert follows(instruction_id, passing, kwargs) is True
    assert follows(instruction_id, failing, kwargs) is False


def test_verifier_edge_cases_follow_the_reference():
    # A paragraph count of three fails "two paragraphs" even when the second starts right.
    assert not follows("length_constraints:nth_paragraph_first_word", "A.\n\nElm b.\n\nC.",
                       {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "elm"})
    # Three answers are not two, and empty answers between separators are refused.
    assert not follows("combination:two_responses", "A\n******\nB\n******\nC", {})
    assert not follows("combination:two_responses", "A\n******\n******\nB", {})
    # Mixed case is neither all capitals nor all lowercase, whatever the language.
    assert not follows("change_case:english_capital", "THIS IS Mostly CAPITALS AND ENGLISH.", {})
    # Text with no letters gives langdetect nothing to go on; the reference counts that as followed.
    assert follows("language:response_language", "12345 !!!", {"language": "ru"})
    # Keywords are literal text, not regular expressions.
    assert not follows("keywords:existence", "abc", {"keywords": ["a.c+"]})
    assert follows("keywords:existence", "x a.c+ y", {"keywords": ["a.c+"]})


def test_text_measurements():
    assert count_words("Don't stop—me now!") == 5  # \w+ splits "Don't" into two words
    assert count_sentences("Dr. Smith went home. He was tired.") == 2  # "Dr." is a known abbreviation
    assert count_sentences("It costs $3.50 today. Buy it!") == 2
    assert word_tokenize("The FBI's agents didn't go.") == ["The", "FBI", "'s", "agents", "did", "n't", "go", "."]
    assert detect_language(GERMAN) == "de"
    assert detect_language(ENGLISH) == "en"
    assert detect_language("") is None


def test_sentence_and_word_splitting_read_no_nltk_data(monkeypatch):
    import nltk

    monkeypatch.setattr(nltk.data, "path", [])
    with pytest.raises(LookupError):
        nltk.word_tokenize("Nothing to load from.")  # nltk's own entry point wants downloaded punkt_tab
    assert word_tokenize("Mr. Lee left. FBI agents stayed.") == ["Mr.", "Lee", "left", ".", "FBI", "agents",
                                                                  "stayed", "."]


def test_empty_response_follows_nothing_strict_or_loose():
    for instruction_id in ("punctuation:no_comma", "keywords:forbidden_words"):
        kwargs = {"forbidden_words": ["cat"]} if instruction_id == "keywords:forbidden_words" else {}
        [verdict] = check_instructions([instruction_id], [kwargs], "  \n ")
        assert (verdict.strict, verdict.loose) == (False, False)


def test_loose_variants_drop_first_and_last_lines_and_asterisks():
    assert loose_variants("Sure:\n**Body** text\nBye") == [
        "Sure:\n**Body** text\nBye",
        "Sure:\nBody text\nBye",
        "**Body** text\nBye",
        "Sure:\n**Body** text",
        "**Body** text",
        "Body text\nBye",
        "Sure:\nBody text",
        "Body text",
    ]


@pytest.mark.parametrize(("instruction_id", "kwargs", "response"), [
    ("startend:quotation", {}, "Sure! Here you go:\n\"Wrapped text.\""),
    ("detectable_format:json_format", {}, "Here is the JSON:\n{\"a\": 1}"),
    ("startend:end_checker", {"end_phrase": "Any other questions?"}, "Done. Any other questions?\n(generated)"),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Write a haiku."}, "**Write a haiku.** Rain falls."),
])
def test_loose_accepts_what_strict_refuses(instruction_id, kwargs, response):
    [verdict] = check_instructions([instruction_id], [kwargs], response)
    assert (verdict.strict, verdict.loose) == (False, True)


def test_loose_does_not_rescue_a_violation_on_every_line():
    [verdict] = check_instructions(["punctuation:no_comma"], [{}], "Hi, there.\nA, b.\nC, d.")
    assert (verdict.strict, verdict.loose) == (False, False)


def test_null_kwargs_of_the_hub_copy_are_ignored():
    hub_kwargs = {"num_highlights": None, "relation": None, "num_words": None, "keywords": ["apple"]}
    [verdict] = check_instructions(["keywords:existence"], [hub_kwargs], "An apple a day.")
    assert verdict.kwargs == {"keywords": ["apple"]} and verdict.strict


def _row(key: int, instructions: list[tuple[str, dict]]) -> dict:
    return {"key": key, "prompt": f"prompt {key}", "instruction_id_list": [i for i, _ in instructions],
            "kwargs": [kwargs for _, kwargs in instructions]}


def test_scorer_reports_prompt_and_instruction_level_metrics_with_details():
    doc = ifeval_prompt(_row(1, [("punctuation:no_comma", {}), ("keywords:existence", {"keywords": ["apple"]}),
                                 ("startend:quotation", {})]))
    result = score_ifeval(doc, ["Sure.\n\"I like apples\""], ScoreContext())
    assert result.metrics == {
        "prompt_level_strict_acc": 0.0, "inst_level_strict_acc": pytest.approx(2 / 3),
        "prompt_level_loose_acc": 1.0, "inst_level_loose_acc": 1.0, "num_instructions": 3.0,
    }
    assert [(v["instruction_id"], v["strict"], v["loose"]) for v in result.details["instructions"]] == [
        ("punctuation:no_comma", True, True), ("keywords:existence", True, True), ("startend:quotation", False, True),
    ]


def test_instruction_level_accuracy_pools_instructions_across_prompts():
    spec = TASKS["ifeval"]
    three = ifeval_prompt(_row(1, [("punctuation:no_comma", {}), ("keywords:existence", {"keywords": ["apple"]}),
                                   ("startend:quotation", {})]))
    one = ifeval_prompt(_row(2, [("punctuation:no_comma", {})]))
    samples = [score_ifeval(three, ["I like apples"], ScoreContext()).metrics,
               score_ifeval(one, ["Fine"], ScoreContext()).metrics]
    scores = aggregate(samples, spec.weighted_metrics)
    assert scores["prompt_level_strict_acc"].value == 0.5
    assert scores["inst_level_strict_acc"].value == pytest.approx(3 / 4)  # not the mean of 2/3 and 1
    assert scores["inst_level_loose_acc"].value == pytest.approx(3 / 4)
    assert scores["inst_level_strict_acc"].n == 2
    assert "num_instructions" not in scores
    assert set(scores) == set(spec.metrics)


def test_task_prompts_through_the_chat_template_with_the_harness_generation_settings(shared_data_dir):
    spec = TASKS["ifeval"]
    assert (spec.chat, spec.temperature, spec.max_new_tokens, spec.until) == (True, 0.0, 1280, ())
    assert spec.primary_metric == "prompt_level_strict_acc"
    task = prepare_task(spec, limit=2, chat_template=lambda message: f"<user>{message}</user>")
    first = json.loads((shared_data_dir / "ifeval" / "input_data.jsonl").open().readline())
    item = task.items[0]
    assert item.prompt == f"<user>{first['prompt']}</user>"
    assert item.generation.max_new_tokens == 1280 and item.generation.stop == ()
    assert item.doc.extra["instruction_id_list"] == first["instruction_id_list"]


# -- the reference implementation, on every published prompt's instructions ----------------------------
def _write_punkt_tab(folder: Path) -> None:
    """Our English Punkt parameters in NLTK's punkt_tab layout, so the reference loads the same model."""
    from nltk.tokenize.punkt import save_punkt_params

    folder.mkdir(parents=True)
    save_punkt_params(english_punkt_parameters(), dir=str(folder))


@pytest.fixture(scope="module")
def reference_utils(tmp_path_factory):
    pytest.importorskip("lm_eval", reason="lm-evaluation-harness (dev dependency) is not installed")
    import langdetect
    import nltk

    data = tmp_path_factory.mktemp("nltk_data")
    nltk.data.path.insert(0, str(data))  # nltk only writes and reads data under its search path
    _write_punkt_tab(data / "tokenizers" / "punkt_tab" / "english")
    seed = langdetect.DetectorFactory.seed
    langdetect.DetectorFactory.seed = 0  # the reference leaves langdetect unseeded
    try:
        from lm_eval.tasks.ifeval import utils
    except Exception as exc:  # anything that stops the reference from loading offline
        pytest.skip(f"the reference IFEval checkers cannot load offline: {type(exc).__name__}: {exc}")
    yield utils
    langdetect.DetectorFactory.seed = seed
    nltk.data.path.remove(str(data))


POOL = [
    "",
    ENGLISH,
    ENGLISH.upper(),
    ENGLISH.lower(),
    GERMAN,
    "Привет! Сегодня хорошая погода, и мы идём гулять в парк вместе с детьми.",
    "```json\n{\"title\": \"Trip\", \"days\": [1, 2, 3]}\n```",
    "<<A Title>>\nSection 1\n* first point\n* second point\n- third point\nSECTION 2\n*highlighted part* and "
    "**bold part**\n\nP.S. Remember [name] and [date].",
    "First answer here.\n******\nSecond answer, different.",
    "\"My answer is yes. Quoted from start to end.\"",
    "Paragraph one is here.\n***\nParagraph two follows. It has two sentences.\n***\nParagraph three ends it.",
    "Intro line\n\nSecond paragraph starts here.\n\nThird one.\nP.P.S. Bye. Is there anything else I can help with?",
]


def _tailored_response(row: dict) -> str:
    """A response that tries to follow every instruction of the row (and often gets some wrong)."""
    parts: list[str] = []
    endings: list[str] = []
    for kwargs in row["kwargs"]:
        if "prompt_to_repeat" in kwargs:
            parts.insert(0, kwargs["prompt_to_repeat"])
        parts += kwargs.get("keywords", [])
        if "keyword" in kwargs:
            parts.append(" ".join([kwargs["keyword"]] * kwargs["frequency"]))
        if "letter" in kwargs:
            parts.append(kwargs["letter"] * kwargs["let_frequency"])
        if "num_placeholders" in kwargs:
            parts.append(" ".join(f"[slot {n}]" for n in range(kwargs["num_placeholders"])))
        if "num_bullets" in kwargs:
            parts.append("\n".join(f"* point {n}" for n in range(kwargs["num_bullets"])))
        if "num_highlights" in kwargs:
            parts.append(" ".join(f"*part {n}*" for n in range(kwargs["num_highlights"])))
        if "section_spliter" in kwargs:
            parts.append("\n".join(f"{kwargs['section_spliter']} {n + 1}\ntext" for n in range(kwargs["num_sections"])))
        if "num_sentences" in kwargs:  # just passing for Punkt, which knows "Dr." ends no sentence
            count = kwargs["num_sentences"] - (kwargs["relation"] == "less than")
            parts.append(" ".join(f"Dr. Lee wrote note {n}." for n in range(count)))
        if "num_words" in kwargs:  # exactly at the threshold: \w+ counts "don't" as two words
            half, odd = divmod(kwargs["num_words"], 2)
            parts.append(" ".join(["don't"] * half + ["word"] * odd))
        if "capital_frequency" in kwargs:
            parts.append(" ".join(["NASA"] * kwargs["capital_frequency"]))
        if "first_word" in kwargs:
            paragraphs = ["Opening words."] * kwargs["num_paragraphs"]
            paragraphs[kwargs["nth_paragraph"] - 1] = f"{kwargs['first_word'].title()} starts this one."
            parts.append("\n\n".join(paragraphs))
        if "postscript_marker" in kwargs:
            endings.append(f"{kwargs['postscript_marker']} a note")
        if "end_phrase" in kwargs:
            endings.append(kwargs["end_phrase"])
    return "\n".join(parts + endings)


def test_verifiers_agree_with_the_reference_on_all_published_instructions(reference_utils, shared_data_dir):
    rows = [json.loads(line) for line in (shared_data_dir / "ifeval" / "input_data.jsonl").read_text().splitlines()]
    assert len(rows) == 541
    seen: dict[str, set[bool]] = {}
    compared = 0
    for row in rows:
        example = reference_utils.InputExample(row["key"], row["instruction_id_list"], row["prompt"], row["kwargs"])
        # The reference swaps a non-letter `letter` ('#', '!') for a random one; we count the asked-for character.
        random_in_reference = [kwargs.get("letter") in ("#", "!") for kwargs in row["kwargs"]]
        for response in [*POOL, _tailored_response(row), f"{row['prompt']}\n{_tailored_response(row)}"]:
            ours = check_instructions(row["instruction_id_list"], row["kwargs"], response)
            strict = reference_utils.test_instruction_following_strict(example, response).follow_instruction_list
            loose = reference_utils.test_instruction_following_loose(example, response).follow_instruction_list
            for verdict, reference_strict, reference_loose, skip in zip(ours, strict, loose, random_in_reference):
                if skip:
                    continue
                assert (verdict.strict, verdict.loose) == (reference_strict, reference_loose), (
                    row["key"], verdict.instruction_id, response)
                seen.setdefault(verdict.instruction_id, set()).update({verdict.strict, verdict.loose})
                compared += 1
    assert set(seen) == set(VERIFIERS)
    assert all(outcomes == {True, False} for outcomes in seen.values()), seen
    assert compared > 541 * len(POOL)


# -- a real model, end to end ------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.django_db
def test_evaluate_command_runs_ifeval_on_smollm2(tmp_path):
    from django.core.management import call_command

    from evaluations.models import Sample

    output = tmp_path / "result.json"
    call_command("evaluate", "--model", "SmolLM2-135M-Instruct", "--backend", "llama_cpp", "--benchmark", "ifeval",
                 "--limit", "2", "--max-new-tokens", "48", "--output", str(output), "--no-progress")
    result = json.loads(output.read_text())
    scores = result["scores"]["ifeval"]
    assert set(scores) == {"prompt_level_strict_acc", "inst_level_strict_acc", "prompt_level_loose_acc",
                           "inst_level_loose_acc"}
    assert all(metric["n"] == 2 for metric in scores.values())
    samples = result["samples"]["ifeval"]
    total = sum(sample["num_instructions"] for sample in samples)
    for name in ("inst_level_strict_acc", "inst_level_loose_acc"):
        pooled = sum(sample[name] * sample["num_instructions"] for sample in samples) / total
        assert scores[name]["value"] == pytest.approx(pooled)
    for stored in Sample.objects.filter(run_id=result["run_id"]).order_by("doc_id"):
        assert "<|im_start|>user" in stored.prompt  # SmolLM2's chat template
        doc = ifeval_prompt(_dataset_row(stored.doc_id))
        rescored = score_ifeval(doc, [stored.output], ScoreContext())
        assert stored.metrics == rescored.metrics
        assert stored.details == json.loads(json.dumps(rescored.details))


def _dataset_row(index: int) -> dict:
    from runner.datasets import load_split

    return load_split(TASKS["ifeval"].test).rows[index]
