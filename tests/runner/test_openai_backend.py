"""The OpenAI-compatible backend against llama-cpp-python's own server, compared with the local llama_cpp backend."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import numpy as np
import pytest

from runner.backends import GenerationRequest, LoglikelihoodRequest, load_backend
from runner.backends.base import Backend
from runner.backends.openai import decode_chat, split_location
from runner.engine import evaluate_items, prepare_task
from runner.errors import BenchsiteError, ModelLoadError
from runner.catalog import TASKS

pytestmark = pytest.mark.slow
SERVER_START_TIMEOUT_S = 180


@dataclass
class Server:
    url: str  # the OpenAI base URL, ending in /v1
    alias: str
    process: subprocess.Popen


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def llama_server(model: Path, alias: str, *extra: str) -> Iterator[Server]:
    """llama-cpp-python's OpenAI-compatible server on a free port, up until the block ends."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
         "--n_ctx", "2048", "--model_alias", alias, *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    server = Server(f"http://127.0.0.1:{port}/v1", alias, process)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {process.returncode}")
            try:
                if httpx.get(f"{server.url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server did not come up")
            time.sleep(0.5)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def smollm2_server(smollm2_path):
    with llama_server(smollm2_path, "smollm2") as server:
        yield server


@pytest.fixture(scope="module")
def remote(smollm2_server):
    return load_backend("openai", smollm2_server.url, model="smollm2")


@pytest.fixture(scope="module")
def local(smollm2_path):
    return load_backend("llama_cpp", str(smollm2_path))


ARITHMETIC = GenerationRequest("Question: What is 2 + 3?\nAnswer:", stop=("\n", "Question:"), max_new_tokens=24)
STORY = GenerationRequest("Once upon a time, in a small village,", max_new_tokens=32)
# llama-cpp-python's server (0.3.36) keeps the tokens of its last request in the KV cache and decodes only
# what follows the prefix the next prompt shares with them; of a prompt it holds whole it decodes the last
# token again, alone. llama.cpp rounds differently per batch shape, so a greedy output depends on what the
# server ran before: SmolLM2 answers "Say hello." with "...to help you with whatever" decoded whole and
# "...to help with any kind" after the same prompt was streamed. The server has no switch to turn this off
# (it ignores llama.cpp's `cache_prompt`), so comparisons first send this prompt, whose first token no
# compared prompt starts with: nothing is left to share and the next prompt is decoded whole in one batch,
# as the local backend decodes it.
CACHE_EVICTION = GenerationRequest("0", max_new_tokens=1)


def uncached(backend: Backend) -> Backend:
    """The backend after a request that leaves the server nothing to reuse for the next one."""
    backend.generate([CACHE_EVICTION])
    return backend


def test_locations_name_the_server_root_and_optionally_the_model():
    assert split_location("http://127.0.0.1:8000/v1") == ("http://127.0.0.1:8000", None)
    assert split_location("http://host:8000/v1/#smollm2") == ("http://host:8000", "smollm2")
    assert split_location("https://host/") == ("https://host", None)
    with pytest.raises(ModelLoadError, match="not an http"):
        split_location("127.0.0.1:8000")


def test_greedy_completion_equals_the_local_backend(remote, local):
    for request in (ARITHMETIC, STORY):
        served, direct = uncached(remote).generate([request])[0], local.generate([request])[0]
        assert served.text == direct.text and served.text.strip()
        assert (served.prompt_tokens, served.output_tokens) == (direct.prompt_tokens, direct.output_tokens)
    assert "\n" not in remote.generate([ARITHMETIC])[0].text


def test_chat_prompts_go_to_chat_completions_and_the_server_applies_the_models_template(remote, local):
    messages = [{"role": "user", "content": "Name three colours."}]
    prompt = remote.apply_chat_template(messages)
    assert decode_chat(prompt) == messages and decode_chat(ARITHMETIC.prompt) is None
    served = uncached(remote).generate([GenerationRequest(prompt, max_new_tokens=40)])[0]
    # The server renders the GGUF's own chat template, as the local backend does client-side.
    direct = local.generate([GenerationRequest(local.apply_chat_template(messages), max_new_tokens=40)])[0]
    assert served.text == direct.text and served.text.strip()


def test_chat_tasks_run_through_the_engine_like_the_local_chat_template(remote, local, shared_data_dir):
    served = prepare_task(TASKS["triviaqa"], limit=1, num_fewshot=0, chat_template=remote.apply_chat_template)
    direct = prepare_task(TASKS["triviaqa"], limit=1, num_fewshot=0, chat_template=local.apply_chat_template)
    assert all(decode_chat(item.prompt) for item in served.items)
    assert len(served.items) == 1  # one request: nothing before it within the task to share a prefix with
    served_outputs = [r.output for r in evaluate_items(served, uncached(remote))]
    assert served_outputs == [r.output for r in evaluate_items(direct, local)]


def test_streamed_pieces_join_to_the_non_streamed_output(remote):
    for request in (STORY, ARITHMETIC, GenerationRequest(remote.apply_chat_template("Say hello."), max_new_tokens=16)):
        pieces = list(uncached(remote).stream(request))
        assert len(pieces) > 1 and all(pieces)
        assert "".join(pieces) == uncached(remote).generate([request])[0].text


def test_the_cache_eviction_shares_no_first_token_with_the_compared_prompts(local):
    first = local.tokenize(CACHE_EVICTION.prompt)[0]
    chat = local.apply_chat_template("Say hello.")
    assert all(local.tokenize(prompt)[0] != first for prompt in (STORY.prompt, ARITHMETIC.prompt, chat))


def test_tokenize_and_info_come_from_the_server(remote, local):
    text = "Question: Which gas do plants absorb?\nAnswer: carbon dioxide"
    assert remote.tokenize(text) == local.tokenize(text)
    info = remote.info()
    assert (info.backend, info.name, info.format, info.device) == ("openai", "smollm2", "endpoint", "remote")
    assert info.path == remote.location == f"{remote.root}/v1#smollm2"


def test_the_only_served_model_is_chosen_when_none_is_named(smollm2_server):
    assert load_backend("openai", smollm2_server.url).model == "smollm2"
    assert load_backend("openai", smollm2_server.url + "#smollm2").model == "smollm2"


def test_an_unknown_model_name_lists_what_the_server_serves(smollm2_server):
    with pytest.raises(ModelLoadError, match=r"does not serve 'gpt-4'; it serves: smollm2"):
        load_backend("openai", smollm2_server.url, model="gpt-4")


def test_a_dead_server_is_named_in_the_error():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ModelLoadError, match=r"cannot reach the OpenAI-compatible server at http://127\.0\.0\.1:\d+"):
        load_backend("openai", url, model="smollm2", retries=1)


def test_shifted_prompt_logprobs_are_refused_not_scored(remote):
    # llama-cpp-python 0.3.36 echoes each prompt token with the log-prob from the logits after it when
    # the model adds no BOS token, as SmolLM2 does: " Paris" after "The capital of France is" comes back
    # about -8.7 echoed against -0.26 generated. Scoring with that would be silently wrong.
    with pytest.raises(ModelLoadError, match="shifted by one token"):
        remote.loglikelihood([LoglikelihoodRequest("The capital of France is", " Paris")])


def test_chat_wrapped_contexts_cannot_be_scored_by_loglikelihood(remote):
    request = LoglikelihoodRequest(remote.apply_chat_template("Is the sky blue?"), " yes")
    with pytest.raises(BenchsiteError, match="without --chat-template"):
        remote.loglikelihood([request])


def test_a_server_without_logits_for_the_prompt_is_refused_clearly(smollm2_path):
    with llama_server(smollm2_path, "no-logits", "--logits_all", "False") as server:
        backend = load_backend("openai", server.url)
        with pytest.raises(ModelLoadError, match=r"does not return prompt log-probs.*logits_all"):
            backend.loglikelihood([LoglikelihoodRequest("The capital of France is", " Paris")])
        assert backend.generate([ARITHMETIC])[0].text.strip()  # generation needs no logits of the prompt


def test_loglikelihood_agrees_with_the_local_backend_where_the_server_aligns_logprobs(shared_data_dir):
    # Gemma adds a BOS token, the case llama-cpp-python's server echoes correctly.
    from runner.modelfiles import bundled_model_path

    gemma = bundled_model_path("gemma-3-270m")
    task = prepare_task(TASKS["arc_easy"], limit=30, num_fewshot=0)
    # The server sorts the whole 262k vocabulary in Python for every echoed token: keep prompts short.
    items = [item for item in task.items if item.doc_id == 29]
    requests = [request for item in items for request in item.requests]
    direct = load_backend("llama_cpp", str(gemma)).loglikelihood(requests)
    with llama_server(gemma, "gemma") as server:
        served = load_backend("openai", server.url, concurrency=2).loglikelihood(requests)
    assert [r.continuation_tokens for r in served] == [r.continuation_tokens for r in direct]
    assert [r.is_greedy for r in served] == [r.is_greedy for r in direct]
    # The server reuses the KV cache of the previous request, so tokens are decoded in other batch shapes
    # than locally, and llama.cpp rounds differently per shape: up to 0.12 nats seen on ARC-Easy.
    np.testing.assert_allclose([r.logprob for r in served], [r.logprob for r in direct], atol=0.25)
    start = 0
    for item in items:
        end = start + len(item.requests)
        assert np.argmax([r.logprob for r in served[start:end]]) == np.argmax([r.logprob for r in direct[start:end]])
        start = end


@pytest.mark.django_db
def test_evaluate_command_runs_an_endpoint_and_reproduces_the_local_outputs(smollm2_server, tmp_path):
    import json

    from django.core.management import call_command
    from django.core.management.base import CommandError

    from evaluations.models import ModelEntry, Run, RunStatus

    def evaluate(*args: str) -> dict:
        output = tmp_path / f"result-{len(list(tmp_path.iterdir()))}.json"
        call_command("evaluate", *args, "--benchmark", "triviaqa", "--limit", "2", "--num-fewshot", "0",
                     "--output", str(output), "--no-progress")
        return json.loads(output.read_text())

    uncached(load_backend("openai", smollm2_server.url)).close()
    served = evaluate("--model", smollm2_server.url, "--backend", "openai")
    direct = evaluate("--model", "SmolLM2-135M-Instruct", "--backend", "llama_cpp")
    assert served["samples"] == direct["samples"] and len(served["samples"]["triviaqa"]) == 2
    run = Run.objects.get(pk=served["run_id"])
    assert run.status == RunStatus.FINISHED and run.backend == "openai"
    entry = ModelEntry.objects.get(name=smollm2_server.url)
    assert (entry.format, entry.location) == ("endpoint", smollm2_server.url + "#smollm2")

    with pytest.raises(CommandError, match="shifted by one token"):
        call_command("evaluate", "--model", smollm2_server.url, "--backend", "openai", "--benchmark", "arc_easy",
                     "--limit", "1", "--no-progress")
    with pytest.raises(CommandError, match="openai backend is for server URLs"):
        call_command("evaluate", "--model", "SmolLM2-135M-Instruct", "--backend", "openai", "--benchmark", "triviaqa",
                     "--limit", "1", "--no-progress")
