"""llama.cpp backend (llama-cpp-python) for GGUF files.

Log-likelihoods are computed from a hand-built batch that asks llama.cpp for logits only at the
continuation positions, and the KV cache is reused across requests that share a prefix (the choices
of one item, the few-shot block of a subject), so multiple choice costs little more than one pass.

llama.cpp's kernels round differently for different batch shapes, so tokens are always decoded in
fixed blocks at fixed positions and the cache is reused only up to a block boundary: a request gives
bit-identical scores whatever was scored before it (a resumed run equals an uninterrupted one).
"""
from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from runner.backends.base import (
    as_messages,
    Generation,
    GenerationRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    ModelInfo,
    encode_pair,
)
from runner.errors import ModelLoadError
from runner.modelfiles import gguf_summary


class LlamaCppBackend:
    name = "llama_cpp"

    def __init__(
        self,
        location: str,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        n_batch: int = 512,
        score_block: int = 64,
        n_gpu_layers: int = 0,
        seed: int = 1234,
        type_k: str = "f16",
        type_v: str = "f16",
        flash_attn: bool = False,
        adapter: str | None = None,
        **_ignored,
    ) -> None:
        import llama_cpp

        path = Path(location)
        if not path.is_file():
            raise ModelLoadError(f"GGUF file not found: {location}")
        if adapter and not Path(adapter).is_file():
            raise ModelLoadError(f"llama.cpp loads LoRA adapters as GGUF files; {adapter} is not one (convert a PEFT "
                                 "folder with llama.cpp's convert_lora_to_gguf.py, or use the hf backend)")
        self.adapter = adapter
        self._llama_cpp = llama_cpp
        self.location = location
        self.summary = gguf_summary(path)
        threads = n_threads or os.cpu_count() or 1
        try:
            self.llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_batch=n_batch,
                n_threads=threads,
                n_threads_batch=threads,
                n_gpu_layers=n_gpu_layers,
                seed=seed,
                type_k=_ggml_type(llama_cpp, type_k),
                type_v=_ggml_type(llama_cpp, type_v),
                flash_attn=flash_attn,
                lora_path=adapter,
                logits_all=False,
                verbose=False,
            )
        except Exception as exc:
            raise ModelLoadError(f"llama.cpp cannot load {location}: {exc}") from exc
        # Free the model while the interpreter is intact; llama_cpp's __del__ fails at shutdown.
        weakref.finalize(self, self.llm.close)
        self.n_ctx = n_ctx
        self.score_block = min(score_block, n_batch)
        self.n_vocab = self.llm.n_vocab()
        self.add_bos = self.summary.architecture.startswith("gemma")
        self._cached_tokens: list[int] = []

    def tokenize(self, text: str) -> list[int]:
        ids = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        return [self.llm.token_bos()] + ids if self.add_bos else ids

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        return encode_pair(context, continuation, tokenize=self.tokenize, prefix_token=self.llm.token_bos,
                           tokenize_bare=lambda text: self.llm.tokenize(text.encode(), add_bos=False, special=True))

    def apply_chat_template(self, messages: str | Sequence[dict]) -> str:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelLoadError(f"{self.location} has no chat template")
        formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=self.llm.detokenize([self.llm.token_eos()]).decode(errors="ignore"),
            bos_token=self.llm.detokenize([self.llm.token_bos()]).decode(errors="ignore"),
        )
        prompt = formatter(messages=as_messages(messages)).prompt
        bos = self.llm.detokenize([self.llm.token_bos()]).decode(errors="ignore")
        # tokenize() adds BOS itself where the model wants it; don't send it twice.
        return prompt[len(bos):] if bos and self.add_bos and prompt.startswith(bos) else prompt

    # -- scoring ------------------------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        results = []
        for request in requests:
            context, continuation = self.encode_pair(request.context, request.continuation)
            tokens = (context + continuation)[-(self.n_ctx + 1):]
            inputs = tokens[:-1]
            first = len(inputs) - len(continuation)
            logits = self._decode(inputs, first)
            log_probs = logits - _logsumexp(logits)
            target = np.asarray(continuation)
            picked = log_probs[np.arange(len(continuation)), target]
            greedy = bool((log_probs.argmax(axis=1) == target).all())
            results.append(LoglikelihoodResult(float(picked.sum()), greedy, len(continuation)))
        return results

    def _decode(self, tokens: list[int], first_logit_position: int) -> np.ndarray:
        """Run `tokens` through the model reusing the cached prefix; return logits from a position on."""
        llama_cpp = self._llama_cpp
        reuse = 0
        limit = min(len(self._cached_tokens), first_logit_position)
        while reuse < limit and self._cached_tokens[reuse] == tokens[reuse]:
            reuse += 1
        reuse -= reuse % self.score_block
        ctx = self.llm._ctx
        ctx.kv_cache_seq_rm(-1, reuse, -1)
        batch = self.llm._batch.batch
        rows: list[np.ndarray] = []
        for start in range(reuse, len(tokens), self.score_block):
            chunk = tokens[start:start + self.score_block]
            batch.n_tokens = len(chunk)
            wanted = []
            for i, token in enumerate(chunk):
                position = start + i
                batch.token[i] = token
                batch.pos[i] = position
                batch.seq_id[i][0] = 0
                batch.n_seq_id[i] = 1
                batch.logits[i] = position >= first_logit_position
                if position >= first_logit_position:
                    wanted.append(i)
            ctx.decode(self.llm._batch)
            for i in wanted:
                pointer = llama_cpp.llama_get_logits_ith(ctx.ctx, i)
                rows.append(np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).astype(np.float64))
        self._cached_tokens = list(tokens)
        return np.stack(rows)

    # -- generation ---------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        return [self._generate_one(request) for request in requests]

    def _generate_one(self, request: GenerationRequest) -> Generation:
        completion = self._completion(request, stream=False)
        self.llm.reset()
        usage = completion["usage"]
        return Generation(completion["choices"][0]["text"], usage["prompt_tokens"], usage["completion_tokens"])

    def _completion(self, request: GenerationRequest, *, stream: bool):
        """create_completion for a request: plain temperature sampling, greedy at temperature 0."""
        prompt = self.tokenize(request.prompt)[-(self.n_ctx - request.max_new_tokens):]
        # create_completion keeps its own view of the KV cache; start it clean.
        self.llm.reset()
        self.llm._ctx.kv_cache_seq_rm(-1, 0, -1)
        self._cached_tokens = []
        return self.llm.create_completion(
            prompt,
            stream=stream,
            max_tokens=request.max_new_tokens,
            temperature=request.temperature,
            top_k=0 if request.temperature > 0 else 1,
            top_p=1.0,
            min_p=0.0,
            repeat_penalty=1.0,
            stop=list(request.stop) or None,
            seed=request.seed,
        )

    def info(self) -> ModelInfo:
        return ModelInfo(
            backend=self.name,
            name=self.summary.name or Path(self.location).stem,
            path=self.location,
            format="gguf",
            dtype=self.summary.quantization,
            device="cpu",
            quantization=self.summary.quantization,
            parameter_count=int(self._llama_cpp.llama_model_n_params(self.llm.model)),
            context_length=self.n_ctx,
            chat_template=bool(self.llm.metadata.get("tokenizer.chat_template")),
            extra={"architecture": self.summary.architecture, **({"adapter": self.adapter} if self.adapter else {})},
        )

    # -- streaming ----------------------------------------------------------------------------
    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """The text `generate` returns, one piece per token (a token ending inside a UTF-8 character
        comes out with the next one)."""
        chunks = self._completion(request, stream=True)
        try:
            for chunk in chunks:
                text = chunk["choices"][0]["text"]
                if text:
                    yield text
        finally:
            self.llm.reset()


def _ggml_type(llama_cpp, name: str) -> int:
    """A KV cache type by name (f16, q8_0, q4_0, ...) as llama.cpp's GGML type number."""
    number = getattr(llama_cpp, f"GGML_TYPE_{name.upper()}", None)
    if number is None:
        raise ModelLoadError(f"unknown KV cache type {name!r}; try f16 or q8_0")
    return int(number)


def _logsumexp(logits: np.ndarray) -> np.ndarray:
    peak = logits.max(axis=1, keepdims=True)
    return peak + np.log(np.exp(logits - peak).sum(axis=1, keepdims=True))
