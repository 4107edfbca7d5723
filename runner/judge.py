"""LLM-as-a-judge: grade one answer with MT-Bench's published single-answer prompts, parse "[[rating]]".

The judge is any Backend: a registered model or an OpenAI-compatible endpoint (spec
`openai:<base_url>#<model>`). Prompts, reference answers and rating parsing follow FastChat's
`llm_judge` (the published MT-Bench code); a rating that cannot be parsed is missing, never 0.
"""
from __future__ import annotations

import ast
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from runner.backends import load_backend
from runner.backends.base import Backend, GenerationRequest
from runner.datasets import DataSource, load_split
from runner.errors import BenchsiteError, DataUnavailable
from runner.modelfiles import sha256_path
from runner.registry import JUDGE_MAX_NEW_TOKENS, ScoreContext
from runner.spec import TaskSpec

JUDGE_PROMPTS = DataSource("mt_bench/judge_prompts.jsonl")
JUDGE_PROMPTS_SHA256 = "fd283293406d024f44c174b094ef48031d0687a4682fd3a56b29b138f80281b6"
# Categories FastChat judges against GPT-4's reference answers (its NEED_REF_CATS, minus arena-hard).
NEED_REFERENCE_CATEGORIES = ("math", "reasoning", "coding")
OPENAI_PREFIX = "openai:"
# A local judge reads two questions, two answers of up to 1024 tokens and two reference answers, then
# writes up to 2048 tokens; the llama.cpp default of 2048 context tokens would cut the conversation.
LOCAL_JUDGE_OPTIONS = {"llama_cpp": {"n_ctx": 8192}}
RATING_RANGE = (1.0, 10.0)
# Scorers that cannot grade at all without a judge: evaluations refuses to plan their tasks without one.
JUDGED_SCORERS: set[str] = set()

# FastChat's one_score_pattern and its fallback, tried in that order.
_RATING = re.compile(r"\[\[(\d+\.?\d*)\]\]")
_RATING_FALLBACK = re.compile(r"\[(\d+\.?\d*)\]")


class JudgeRequired(BenchsiteError):
    pass


@dataclass(frozen=True)
class JudgePrompt:
    name: str
    system_prompt: str
    prompt_template: str
    output_format: str


@dataclass(frozen=True)
class Judgment:
    prompt_name: str
    rating: float | None
    output: str  # the judge's full text
    error: str = ""  # why the rating is missing

    def as_details(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class JudgeSpec:
    """What `--judge` names: a model (registered name, path or hub id) or an OpenAI-compatible endpoint."""

    model: str
    endpoint: str = ""

    @classmethod
    def parse(cls, spec: str) -> JudgeSpec:
        spec = spec.strip()
        if not spec.startswith(OPENAI_PREFIX):
            if not spec:
                raise BenchsiteError("--judge needs a model name or openai:<base_url>#<model>")
            return cls(model=spec)
        endpoint, _, model = spec.removeprefix(OPENAI_PREFIX).rpartition("#")
        if not endpoint or not model:
            raise BenchsiteError(f"judge {spec!r}: write an endpoint judge as openai:<base_url>#<model>")
        return cls(model=model, endpoint=endpoint)

    @property
    def is_endpoint(self) -> bool:
        return bool(self.endpoint)


def load_judge(backend: str, location: str, *, model: str = "") -> Backend:
    """Load a judge: `location` is a model file/folder, or the base URL when `backend` is "openai"."""
    if backend == "openai":
        return load_backend("openai", location, model=model)
    return load_backend(backend, location, **LOCAL_JUDGE_OPTIONS.get(backend, {}))


def judge_identity(judge: Backend, name: str) -> dict:
    """Who graded: stored with every judged score. Same keys as the judge entry of a run's config."""
    spec = JudgeSpec.parse(name) if name else None
    if spec is not None and spec.is_endpoint:
        return {"name": name, "backend": "openai", "endpoint": spec.endpoint, "model": spec.model}
    info = judge.info()
    identity = {"name": name or info.name, "backend": info.backend}
    location = Path(info.path)
    if location.exists():
        identity["sha256"] = sha256_path(location)
    return identity


def needs_judge(spec: TaskSpec) -> bool:
    return spec.scorer in JUDGED_SCORERS


def require_judge(context: ScoreContext, task: str) -> Backend:
    if context.judge is None:
        raise JudgeRequired(
            f"{task} is graded by an LLM judge: pass --judge MODEL or --judge openai:<base_url>#<model>"
        )
    return context.judge


# -- prompts ---------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def judge_prompts() -> dict[str, JudgePrompt]:
    split = load_split(JUDGE_PROMPTS)
    if split.content_hash != JUDGE_PROMPTS_SHA256:
        raise DataUnavailable(f"{split.origin} is not FastChat's published judge_prompts.jsonl (sha256 differs)")
    fields = ("name", "system_prompt", "prompt_template", "output_format")
    return {row["name"]: JudgePrompt(*(row[field] for field in fields)) for row in split.rows}


def single_prompt_name(category: str, *, turn: int, with_reference: bool) -> str:
    """single-v1 or single-math-v1 (reference-guided), and their multi-turn variants for turn 2."""
    base = "single-math-v1" if with_reference and category in NEED_REFERENCE_CATEGORIES else "single-v1"
    return base + ("-multi-turn" if turn == 2 else "")


def render_single(
    prompt: JudgePrompt,
    *,
    questions: Sequence[str],
    answers: Sequence[str],
    references: Sequence[str] | None = None,
    turn: int = 1,
) -> list[dict]:
    """The judge conversation (system + user message) exactly as FastChat's run_judge_single fills it."""
    fields: dict[str, str] = {}
    if references is not None:
        fields["ref_answer_1"] = references[0]
        if turn == 2:
            fields["ref_answer_2"] = references[1]
    if turn == 2:
        user = prompt.prompt_template.format(
            question_1=questions[0], question_2=questions[1], answer_1=answers[0], answer_2=answers[1], **fields
        )
    else:
        user = prompt.prompt_template.format(question=questions[0], answer=answers[0], **fields)
    return [{"role": "system", "content": prompt.system_prompt}, {"role": "user", "content": user}]


# -- rating ----------------------------------------------------------------------------------------
def parse_rating(text: str) -> float | None:
    """FastChat's parsing ("[[x]]", else "[x]"), then the 1-10 scale; None when there is no rating."""
    match = _RATING.search(text) or _RATING_FALLBACK.search(text)
    if not match:
        return None
    rating = float(ast.literal_eval(match.group(1)))
    # FastChat keeps any number; a "[[0]]" or "[[42]]" is off the scale the prompt asks for, so not a grade.
    low, high = RATING_RANGE
    return rating if low <= rating <= high else None


def rate(judge: Backend, messages: list[dict], *, prompt_name: str,
         max_new_tokens: int = JUDGE_MAX_NEW_TOKENS) -> Judgment:
    """Ask the judge once, greedily, and parse its rating."""
    request = GenerationRequest(judge.apply_chat_template(messages), max_new_tokens=max_new_tokens, temperature=0.0)
    output = judge.generate([request])[0].text
    rating = parse_rating(output)
    error = "" if rating is not None else "no [[rating]] between 1 and 10 in the judge's output"
    return Judgment(prompt_name, rating, output, error)


def judge_turn(
    judge: Backend,
    *,
    category: str,
    questions: Sequence[str],
    answers: Sequence[str],
    references: Sequence[str] | None = None,
    turn: int = 1,
    max_new_tokens: int = JUDGE_MAX_NEW_TOKENS,
) -> Judgment:
    """Grade the answer to turn 1, or (turn 2) the second answer in the light of the whole conversation."""
    name = single_prompt_name(category, turn=turn, with_reference=references is not None)
    messages = render_single(judge_prompts()[name], questions=questions, answers=answers,
                             references=references, turn=turn)
    return rate(judge, messages, prompt_name=name, max_new_tokens=max_new_tokens)


def mean_rating(judgments: Sequence[Judgment]) -> float | None:
    """Mean of the ratings the judge gave; unrated answers are left out, as FastChat drops its -1s."""
    ratings = [j.rating for j in judgments if j.rating is not None]
    return sum(ratings) / len(ratings) if ratings else None
