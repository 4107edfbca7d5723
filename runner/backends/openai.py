"""A model served over an OpenAI-compatible HTTP API (llama-cpp-python, llama.cpp, vLLM, ...).

Chat prompts are not templated here: `apply_chat_template` returns the messages themselves, encoded in
the prompt string, and `generate` sends them to /v1/chat/completions so the server applies the
template it serves the model with. Log-likelihoods come from echoed prompt log-probs of
/v1/completions, which not every server offers and one common server gets wrong: see
`_verify_prompt_logprobs`. docs/openai-backend.md has the details.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence, TypeVar
from urllib.parse import urldefrag

import httpx

from runner.backends.base import (
    as_messages,
    Generation,
    GenerationRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    ModelInfo,
    split_context_continuation,
    truncate_at_stop,
)
from runner.errors import BenchsiteError, ModelLoadError
from runner.pricing import TokenUsage, UsageMeter

CHAT_MESSAGES_PREFIX = "<|benchsite-chat-messages|>"
# Servers of the llama.cpp family default to top-k 40, min-p 0.05 and a 1.1 repetition penalty; a
# benchmark samples from the model's own distribution, so these are switched off unless told otherwise.
NEUTRAL_SAMPLING = {"top_k": 0, "min_p": 0.0, "repeat_penalty": 1.0}
# Two passes of one server over the same tokens differ by batch-shape rounding (about 0.1 nats at most
# on llama.cpp); a shifted log-prob is off by several nats.
ALIGNMENT_TOLERANCE = 0.5
ALIGNMENT_PROBES = ("The capital of France is", "Monday, Tuesday, Wednesday,", "1, 2, 3, 4,")

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class StreamChunk:
    text: str
    output_tokens: int | None = None  # the server's count, on the chunk that carries usage


@dataclass(frozen=True)
class EchoedToken:
    offset: int  # character offset into the prompt
    logprob: float | None  # None for the first prompt token: nothing precedes it
    top: dict[str, float]


def encode_chat(messages: str | Sequence[dict]) -> str:
    return CHAT_MESSAGES_PREFIX + json.dumps(as_messages(messages), ensure_ascii=False)


def decode_chat(prompt: str) -> list[dict] | None:
    """The messages of a prompt made by `encode_chat`, or None for a plain text prompt."""
    if not prompt.startswith(CHAT_MESSAGES_PREFIX):
        return None
    return json.loads(prompt[len(CHAT_MESSAGES_PREFIX):])


def split_location(location: str) -> tuple[str, str | None]:
    """`http://host:port[/v1][#model]` -> (server root, model name or None)."""
    url, fragment = urldefrag(location.strip())
    root = url.rstrip("/").removesuffix("/v1").rstrip("/")
    if not root.startswith(("http://", "https://")):
        raise ModelLoadError(f"not an http(s) URL of an OpenAI-compatible server: {location!r}")
    return root, fragment or None


def resolve_served_model(location: str, *, api_key: str | None = None) -> str:
    """The canonical `root/v1#model` of an endpoint, asking the server which model it serves."""
    backend = OpenAICompatibleBackend(location, api_key=api_key, retries=0)
    try:
        return backend.location
    finally:
        backend.close()


class OpenAICompatibleBackend:
    name = "openai"

    def __init__(
        self,
        location: str,
        *,
        model: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 600.0,
        connect_timeout_s: float = 10.0,
        retries: int = 2,
        concurrency: int = 1,
        sampling: dict | None = None,
        **_ignored,
    ) -> None:
        self.root, location_model = split_location(location)
        api_key = api_key or os.environ.get("OPENAI_API_KEY")
        self.concurrency = max(1, concurrency)
        self.sampling = dict(NEUTRAL_SAMPLING if sampling is None else sampling)
        self._client = httpx.Client(
            headers={"Authorization": f"Bearer {api_key}"} if api_key else {},
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            # Retries only where nothing reached the server (connect errors), so a request never runs twice.
            transport=httpx.HTTPTransport(retries=retries),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )
        self.model = self._served_model(model or location_model)
        self.location = f"{self.root}/v1#{self.model}"
        self._prompt_logprobs_verified = False
        # Every completion this backend was billed for (runner.backends.budget prices them).
        self.usage = UsageMeter()
        self._can_tokenize: bool | None = None

    def close(self) -> None:
        self._client.close()

    # -- HTTP ---------------------------------------------------------------------------------
    def _send(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            response = self._client.request(method, self.root + path, **kwargs)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.is_error:
            raise self._refused(path, response)
        return response

    def _refused(self, path: str, response: httpx.Response) -> BenchsiteError:
        return BenchsiteError(f"{self.root}{path} answered HTTP {response.status_code}: {_error_detail(response)}")

    def _unreachable(self, exc: httpx.TransportError) -> ModelLoadError:
        reason = f"no answer within the timeout ({type(exc).__name__})" if isinstance(
            exc, httpx.TimeoutException) else (str(exc) or type(exc).__name__)
        return ModelLoadError(f"cannot reach the OpenAI-compatible server at {self.root}: {reason}")

    def _post(self, path: str, body: dict) -> dict:
        return self._send("POST", path, json={"model": self.model, **body}).json()

    def _served_model(self, wanted: str | None) -> str:
        served = [entry["id"] for entry in self._models()]
        if wanted is None:
            if len(served) != 1:
                raise ModelLoadError(
                    f"{self.root} serves {len(served)} models ({', '.join(served) or 'none'}); name one"
                )
            return served[0]
        if wanted not in served:
            raise ModelLoadError(f"{self.root} does not serve {wanted!r}; it serves: {', '.join(served) or 'nothing'}")
        return wanted

    def _models(self) -> list[dict]:
        return list(self._send("GET", "/v1/models").json().get("data") or [])

    def _bill(self, data: dict, *, prompt: str, output: str) -> None:
        """Meter one completion: the server's `usage`, else this backend's own count, marked estimated."""
        usage = data.get("usage") or {}
        counted = {}
        for field, text in (("prompt_tokens", prompt), ("completion_tokens", output)):
            reported = usage.get(field)
            counted[field] = (reported, 0) if isinstance(reported, int) else (self._count_tokens(text), 1)
        (input_tokens, input_estimated), (output_tokens, output_estimated) = counted.values()
        self.usage.add(TokenUsage(input_tokens, output_tokens,
                                  input_tokens * input_estimated + output_tokens * output_estimated))

    def _count_tokens(self, text: str) -> int:
        """The server's tokenizer where it has an endpoint for it, else one token per UTF-8 byte (an upper bound)."""
        if not text:
            return 0
        if self._can_tokenize is not False:
            try:
                count = len(self.tokenize(text))
                self._can_tokenize = True
                return count
            except BenchsiteError:
                self._can_tokenize = False
        return len(text.encode())

    def _map(self, function: Callable[[Item], Result], items: Sequence[Item]) -> list[Result]:
        if self.concurrency == 1 or len(items) < 2:
            return [function(item) for item in items]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(function, items))

    # -- protocol -----------------------------------------------------------------------------
    def tokenize(self, text: str) -> list[int]:
        # llama-cpp-python serves /extras/tokenize, vLLM /tokenize; both count the BOS the model adds.
        for path, body in (("/extras/tokenize", {"input": text}), ("/tokenize", {"prompt": text})):
            try:
                return list(self._post(path, body)["tokens"])
            except BenchsiteError as exc:
                if "HTTP 404" not in str(exc):
                    raise
        raise BenchsiteError(f"{self.root} has no tokenize endpoint (tried /extras/tokenize and /tokenize)")

    def apply_chat_template(self, messages: str | Sequence[dict]) -> str:
        return encode_chat(messages)

    def info(self) -> ModelInfo:
        entry = next((m for m in self._models() if m.get("id") == self.model), {})
        context_length = entry.get("max_model_len") or entry.get("context_length")
        return ModelInfo(
            backend=self.name,
            name=self.model,
            path=self.location,
            format="endpoint",
            dtype="",
            device="remote",
            context_length=int(context_length) if context_length else None,
            chat_template=True,
            extra={"base_url": f"{self.root}/v1", "owned_by": entry.get("owned_by", "")},
        )

    # -- generation ---------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        return self._map(self._generate_one, requests)

    def _generate_one(self, request: GenerationRequest) -> Generation:
        path, body = self._generation_body(request)
        data = self._post(path, body)
        choice = data["choices"][0]
        text = choice["text"] if path == "/v1/completions" else choice["message"].get("content") or ""
        self._bill(data, prompt=body.get("prompt") or _message_text(body.get("messages") or []), output=text)
        usage = data.get("usage") or {}
        # Servers stop at `stop` themselves; the cut is for those that cap how many sequences they take.
        return Generation(
            truncate_at_stop(text, request.stop), usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
        )

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """Text pieces as the server produces them (for time to first token); they join to the output."""
        return (chunk.text for chunk in self.stream_chunks(request) if chunk.text)

    def stream_chunks(self, request: GenerationRequest) -> Iterator[StreamChunk]:
        path, body = self._generation_body(request)
        body = {"model": self.model, **body, "stream": True, "stream_options": {"include_usage": True}}
        try:
            with self._client.stream("POST", self.root + path, json=body) as response:
                if response.is_error:
                    response.read()
                    raise self._refused(path, response)
                finished = False
                for event in _server_sent_events(response.iter_lines()):
                    if "error" in event:
                        raise BenchsiteError(f"{self.root}{path} failed mid-stream: {event['error']}")
                    choices = event.get("choices") or [{}]
                    finished = finished or bool(choices[0].get("finish_reason"))
                    piece = choices[0].get("text") if path == "/v1/completions" else (
                        (choices[0].get("delta") or {}).get("content"))
                    usage = event.get("usage") or {}
                    yield StreamChunk(piece or "", usage.get("completion_tokens"))
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if not finished:
            # llama-cpp-python's server ends a stream early, as if done, when another request arrives.
            raise BenchsiteError(
                f"{self.root}{path} ended a stream without a finish reason: the server interrupted it "
                "(llama-cpp-python does when another request waits; start it with --interrupt_requests False)"
            )

    def _generation_body(self, request: GenerationRequest) -> tuple[str, dict]:
        body = {
            **self.sampling,
            "max_tokens": request.max_new_tokens,
            "temperature": request.temperature,
            "top_p": 1.0,
            "seed": request.seed,
            **({"stop": list(request.stop)} if request.stop else {}),
        }
        messages = decode_chat(request.prompt)
        if messages is None:
            return "/v1/completions", {**body, "prompt": request.prompt}
        return "/v1/chat/completions", {**body, "messages": messages}

    # -- scoring ------------------------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        if any(decode_chat(r.context) is not None for r in requests):
            raise BenchsiteError(
                f"{self.root} applies chat templates on the server, so chat-wrapped prompts cannot be scored by "
                "log-likelihood; run multiple-choice tasks without --chat-template"
            )
        self._verify_prompt_logprobs()
        return self._map(self._loglikelihood_one, requests)

    def _loglikelihood_one(self, request: LoglikelihoodRequest) -> LoglikelihoodResult:
        context, continuation = split_context_continuation(request.context, request.continuation)
        tokens = self._echo(context + continuation)
        # The continuation starts with the token that covers its first character (a token may straddle).
        first = max((i for i, token in enumerate(tokens) if token.offset <= len(context)), default=0)
        scored = tokens[first:]
        if not scored or any(token.logprob is None for token in scored):
            raise BenchsiteError(f"{self.root} gave no log-prob for the first token; the context must not be empty")
        logprobs = [float(token.logprob) for token in scored]  # type: ignore[arg-type]
        greedy = all(value >= max(token.top.values(), default=value) - 1e-6 for value, token in zip(logprobs, scored))
        return LoglikelihoodResult(sum(logprobs), greedy, len(scored))

    def _echo(self, text: str) -> list[EchoedToken]:
        """The prompt's own tokens with their log-probs, as /v1/completions echoes them."""
        # max_tokens=1, not 0: llama-cpp-python rejects 0 and reads it as "until the context is full".
        data = self._completion_with_logprobs({"prompt": text, "max_tokens": 1, "temperature": 0.0, "echo": True})
        logprobs = (data.get("choices") or [{}])[0].get("logprobs") or {}
        offsets, values = logprobs.get("text_offset") or [], logprobs.get("token_logprobs") or []
        tops = logprobs.get("top_logprobs") or [None] * len(values)
        tokens = [EchoedToken(int(o), v, t or {}) for o, v, t in zip(offsets, values, tops) if o < len(text)]
        if not any(token.logprob is not None for token in tokens):
            raise self._no_prompt_logprobs("the response holds log-probs for generated tokens only")
        return tokens

    def _completion_with_logprobs(self, body: dict) -> dict:
        try:
            data = self._post("/v1/completions", {**body, "logprobs": 1})
        except ModelLoadError:
            raise
        except BenchsiteError as exc:  # the server refused the request: say what it cannot do
            raise self._no_prompt_logprobs(str(exc)) from exc
        text = (data.get("choices") or [{}])[0].get("text") or ""
        self._bill(data, prompt=body["prompt"], output=text[len(body["prompt"]):] if body.get("echo") else text)
        return data

    def _no_prompt_logprobs(self, reason: str) -> BenchsiteError:
        return ModelLoadError(
            f"{self.root} does not return prompt log-probs (echo=True, logprobs=1), so it cannot score "
            f"multiple-choice tasks: {reason}"
        )

    def _verify_prompt_logprobs(self) -> None:
        """Check once that echoed log-probs score each token given the tokens before it.

        llama-cpp-python's server (0.3.x) reads each echoed token's log-prob from the logits *after* that
        token when the model adds no BOS token (SmolLM2, Qwen, ...), which silently scores the wrong
        tokens. The log-prob the server reports for a token it generates is read correctly, so it is
        compared with the echoed log-prob of the same token at the same place.
        """
        if self._prompt_logprobs_verified:
            return
        for probe in ALIGNMENT_PROBES:
            data = self._completion_with_logprobs({"prompt": probe, "max_tokens": 1, "temperature": 0.0})
            choice = data["choices"][0]
            generated = (choice.get("logprobs") or {}).get("token_logprobs") or [None]
            if not choice.get("text") or generated[0] is None:
                continue  # the model ended or emitted part of a character; try another probe
            echoed = {token.offset: token for token in self._echo(probe + choice["text"])}
            token = echoed.get(len(probe))
            if token is None or token.logprob is None:
                continue
            if abs(token.logprob - generated[0]) > ALIGNMENT_TOLERANCE:
                raise ModelLoadError(
                    f"{self.root} returns prompt log-probs shifted by one token ({choice['text']!r} after {probe!r}: "
                    f"generated {generated[0]:.3f}, echoed {token.logprob:.3f}), as llama-cpp-python's server does for "
                    "models that add no BOS token; scores would be wrong, so score this model with a local backend"
                )
            self._prompt_logprobs_verified = True
            return
        raise ModelLoadError(f"{self.root}: cannot check that its prompt log-probs are aligned (no usable probe)")


def _message_text(messages: Sequence[dict]) -> str:
    return "\n".join(str(message.get("content") or "") for message in messages)


def _server_sent_events(lines: Iterator[str]) -> Iterator[dict]:
    for line in lines:
        if not line.startswith("data:"):
            continue  # comments (pings), event names, blank separators
        payload = line[len("data:"):].strip()
        if payload == "[DONE]":
            return
        if payload:
            yield json.loads(payload)


def _error_detail(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(payload, dict):
        error = payload.get("error") or payload.get("detail") or payload
        if isinstance(error, dict):
            error = error.get("message") or error
        return str(error)[:300]
    return str(payload)[:300]
