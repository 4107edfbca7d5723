"""Prompts for models without a chat template (base models such as the bundled Gemma 3 270M)."""
from __future__ import annotations

import pytest

from runner.backends.base import PLAIN_DIALOGUE_STOP, chat_formatter, plain_dialogue
from tests.fake_backend import DeterministicFakeBackend
from runner.engine import evaluate_items, prepare_task
from runner.errors import ModelLoadError
from runner.registry import ScoreContext
from runner.catalog import TASKS


class BaseModel(DeterministicFakeBackend):
    """The fake backend without a chat template, recording what it is asked to generate."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = []

    def info(self):
        import dataclasses

        return dataclasses.replace(super().info(), chat_template=False)

    def generate(self, requests):
        self.requests.extend(requests)
        return super().generate(requests)


def test_a_single_message_goes_as_it_is_and_a_conversation_as_a_transcript():
    assert plain_dialogue("Write a haiku.") == "Write a haiku."
    conversation = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                    {"role": "user", "content": "Name a colour."}]
    assert plain_dialogue(conversation) == "User: Hi\n\nAssistant: Hello!\n\nUser: Name a colour.\n\nAssistant:"


def test_models_with_a_template_use_it_and_base_models_fall_back_unless_one_was_asked_for():
    chat_model = DeterministicFakeBackend()
    assert chat_formatter(chat_model, required=True) == chat_model.apply_chat_template
    base = BaseModel()
    assert chat_formatter(base, required=False) is plain_dialogue
    with pytest.raises(ModelLoadError, match="has no chat template"):
        chat_formatter(base, required=True)


def test_multi_turn_items_on_a_base_model_carry_the_conversation_and_stop_at_the_next_user_turn():
    base = BaseModel()
    task = prepare_task(TASKS["mt_bench"], limit=1, chat_template=chat_formatter(base, required=False))
    judge = ScoreContext(judge=DeterministicFakeBackend(), judge_name="fake judge")
    [result] = list(evaluate_items(task, base, context=judge))
    first, second = base.requests
    turns = task.items[0].doc.extra["turns"]
    assert first.prompt == turns[0] == result.prompt
    reply = result.output.split("\n\n")[0]
    assert second.prompt.startswith(f"User: {turns[0]}\n\nAssistant: ")
    assert second.prompt.endswith(f"\n\nUser: {turns[1]}\n\nAssistant:")
    assert PLAIN_DIALOGUE_STOP in first.stop and PLAIN_DIALOGUE_STOP in second.stop
    assert reply and reply in second.prompt
