"""The 25 IFEval verifiers, one function per instruction id, registered in `VERIFIERS`.

Each takes the response and the instruction's kwargs from the dataset and says whether the response
follows it, with the semantics of the reference checkers (google-research `instruction_following_eval`,
lm-evaluation-harness `tasks/ifeval/instructions.py`). Deliberate differences, none of which changes a
verdict on the 541 published prompts except the last:
- keywords, section splitters and postscript markers are matched literally (`re.escape`), where the
  reference pastes them into regular expressions unescaped;
- a missing or invalid kwarg is an error here, where the reference draws a random value for it;
- `keywords:letter_frequency` counts the character it is given. The reference replaces anything that is
  not an ASCII letter by a random letter, which turns the two published prompts asking for '#' and '!'
  into a coin toss; counting the asked-for character is what those prompts mean.
"""
from __future__ import annotations

import collections
import json
import re
from typing import Callable, Sequence

from runner.ifeval_checks.text import count_sentences, count_words, detect_language, word_tokenize
from runner.registry import registrar

Verifier = Callable[..., bool]
VERIFIERS: dict[str, Verifier] = {}

LESS_THAN, AT_LEAST = "less than", "at least"
CONSTRAINED_RESPONSE_OPTIONS = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


verifier = registrar(VERIFIERS, "verifier")


def _compare(count: int, relation: str, threshold: int) -> bool:
    if relation == LESS_THAN:
        return count < threshold
    if relation == AT_LEAST:
        return count >= threshold
    raise ValueError(f"relation must be {LESS_THAN!r} or {AT_LEAST!r}, not {relation!r}")


# -- keywords -----------------------------------------------------------------------------------
@verifier("keywords:existence")
def keywords_existence(response: str, *, keywords: Sequence[str]) -> bool:
    return all(re.search(re.escape(keyword), response, flags=re.IGNORECASE) for keyword in keywords)


@verifier("keywords:frequency")
def keywords_frequency(response: str, *, keyword: str, frequency: int, relation: str) -> bool:
    occurrences = len(re.findall(re.escape(keyword.strip()), response, flags=re.IGNORECASE))
    return _compare(occurrences, relation, frequency)


@verifier("keywords:forbidden_words")
def keywords_forbidden_words(response: str, *, forbidden_words: Sequence[str]) -> bool:
    return not any(
        re.search(r"\b" + re.escape(word) + r"\b", response, flags=re.IGNORECASE) for word in forbidden_words
    )


@verifier("keywords:letter_frequency")
def keywords_letter_frequency(response: str, *, letter: str, let_frequency: int, let_relation: str) -> bool:
    letter = letter.strip().lower()
    if len(letter) != 1:
        raise ValueError(f"letter must be one character, not {letter!r}")
    return _compare(collections.Counter(response.lower())[letter], let_relation, let_frequency)


# -- language and case --------------------------------------------------------------------------
@verifier("language:response_language")
def language_response_language(response: str, *, language: str) -> bool:
    detected = detect_language(response)
    return detected is None or detected == language  # undetectable text counts as followed, as in the reference


@verifier("change_case:english_capital")
def change_case_english_capital(response: str) -> bool:
    return response.isupper() and detect_language(response) in (None, "en")


@verifier("change_case:english_lowercase")
def change_case_english_lowercase(response: str) -> bool:
    return response.islower() and detect_language(response) in (None, "en")


@verifier("change_case:capital_word_frequency")
def change_case_capital_word_frequency(response: str, *, capital_frequency: int, capital_relation: str) -> bool:
    capital_words = sum(1 for word in word_tokenize(response) if word.isupper())
    return _compare(capital_words, capital_relation, capital_frequency)


# -- length -------------------------------------------------------------------------------------
@verifier("length_constraints:number_sentences")
def length_number_sentences(response: str, *, num_sentences: int, relation: str) -> bool:
    return _compare(count_sentences(response), relation, num_sentences)


@verifier("length_constraints:number_words")
def length_number_words(response: str, *, num_words: int, relation: str) -> bool:
    return _compare(count_words(response), relation, num_words)


@verifier("length_constraints:number_paragraphs")
def length_number_paragraphs(response: str, *, num_paragraphs: int) -> bool:
    paragraphs = re.split(r"\s?\*\*\*\s?", response)
    count = len(paragraphs)
    for index, paragraph in enumerate(paragraphs):
        if not paragraph.strip():
            if index not in (0, len(paragraphs) - 1):
                return False  # an empty paragraph between two dividers
            count -= 1
    return count == num_paragraphs


@verifier("length_constraints:nth_paragraph_first_word")
def length_nth_paragraph_first_word(
    response: str, *, num_paragraphs: int, nth_paragraph: int, first_word: str
) -> bool:
    if not 0 < nth_paragraph <= num_paragraphs:
        raise ValueError(f"nth_paragraph {nth_paragraph} is outside 1..{num_paragraphs}")
    paragraphs = re.split(r"\n\n", response)
    count = sum(1 for paragraph in paragraphs if paragraph.strip())
    # The reference indexes the raw split (empty chunks included) but counts only non-empty paragraphs.
    if nth_paragraph > count:
        return False
    paragraph = paragraphs[nth_paragraph - 1].strip()
    if not paragraph:
        return False
    word = paragraph.split()[0].strip().lstrip("'").lstrip('"')
    found = ""
    for character in word:
        if character in {".", ",", "?", "!", "'", '"'}:
            break
        found += character.lower()
    return count == num_paragraphs and found == first_word.lower()


# -- content ------------------------------------------------------------------------------------
@verifier("detectable_content:number_placeholders")
def content_number_placeholders(response: str, *, num_placeholders: int) -> bool:
    return len(re.findall(r"\[.*?\]", response)) >= num_placeholders


@verifier("detectable_content:postscript")
def content_postscript(response: str, *, postscript_marker: str) -> bool:
    marker = postscript_marker.strip()
    if marker == "P.P.S":
        pattern = r"\s*p\.\s?p\.\s?s.*$"
    elif marker == "P.S.":
        pattern = r"\s*p\.\s?s\..*$"
    else:
        pattern = r"\s*" + re.escape(marker.lower()) + r".*$"
    return bool(re.findall(pattern, response.lower(), flags=re.MULTILINE))


# -- format -------------------------------------------------------------------------------------
@verifier("detectable_format:number_bullet_lists")
def format_number_bullet_lists(response: str, *, num_bullets: int) -> bool:
    star_bullets = re.findall(r"^\s*\*[^\*].*$", response, flags=re.MULTILINE)
    dash_bullets = re.findall(r"^\s*-.*$", response, flags=re.MULTILINE)
    return len(star_bullets) + len(dash_bullets) == num_bullets


@verifier("detectable_format:constrained_response")
def format_constrained_response(response: str) -> bool:
    return any(option in response.strip() for option in CONSTRAINED_RESPONSE_OPTIONS)


@verifier("detectable_format:number_highlighted_sections")
def format_number_highlighted_sections(response: str, *, num_highlights: int) -> bool:
    # *italic* and **bold** spans both count; the single-star pattern sees "**bold**" only as empty "**".
    single = [span for span in re.findall(r"\*[^\n\*]*\*", response) if span.strip("*").strip()]
    double = [
        span for span in re.findall(r"\*\*[^\n\*]*\*\*", response)
        if span.removeprefix("**").removesuffix("**").strip()
    ]
    return len(single) + len(double) >= num_highlights


@verifier("detectable_format:multiple_sections")
def format_multiple_sections(response: str, *, section_spliter: str, num_sections: int) -> bool:
    pattern = r"\s?" + re.escape(section_spliter.strip()) + r"\s?\d+\s?"
    return len(re.split(pattern, response)) - 1 >= num_sections


@verifier("detectable_format:json_format")
def format_json(response: str) -> bool:
    text = (
        response.strip()
        .removeprefix("```json")
        .removeprefix("```Json")
        .removeprefix("```JSON")
        .removeprefix("```")
        .removesuffix("```")
        .strip()
    )
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


@verifier("detectable_format:title")
def format_title(response: str) -> bool:
    return any(title.lstrip("<").rstrip(">").strip() for title in re.findall(r"<<[^\n]+>>", response))


# -- combinations, start and end, punctuation ---------------------------------------------------
@verifier("combination:two_responses")
def combination_two_responses(response: str) -> bool:
    parts = response.split("******")
    answers = []
    for index, part in enumerate(parts):
        if part.strip():
            answers.append(part.strip())
        elif index not in (0, len(parts) - 1):
            return False
    return len(answers) == 2 and answers[0] != answers[1]


@verifier("combination:repeat_prompt")
def combination_repeat_prompt(response: str, *, prompt_to_repeat: str) -> bool:
    return response.strip().lower().startswith(prompt_to_repeat.strip().lower())


@verifier("startend:end_checker")
def startend_end_checker(response: str, *, end_phrase: str) -> bool:
    return response.strip().strip('"').lower().endswith(end_phrase.strip().lower())


@verifier("startend:quotation")
def startend_quotation(response: str) -> bool:
    text = response.strip()
    return len(text) > 1 and text[0] == '"' and text[-1] == '"'


@verifier("punctuation:no_comma")
def punctuation_no_comma(response: str) -> bool:
    return "," not in response
