"""Transformers backend: a Hugging Face folder, a hub id, or a GGUF file loaded through `gguf_file=`,
optionally with a PEFT adapter merged on top (`adapter=`).

A GGUF file is dequantized once and cached as safetensors, keyed by the file's sha256
(`runner.modelfiles.dequantized_checkpoint_dir`); later loads read the cached copy, which holds the same
float weights and tokenizer, in about a second instead of the tens of seconds dequantizing takes.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Iterator, Sequence

from runner.backends.base import (
    as_messages,
    Generation,
    GenerationRequest,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    ModelInfo,
    encode_pair,
    stream_until_stop,
    truncate_at_stop,
)
from runner.backends.hf_prefix import PrefixScorer
from runner.errors import ModelLoadError
from runner.modelfiles import atomic_directory, dequantized_checkpoint_dir, sha256_path

logger = logging.getLogger(__name__)

DTYPES = ("auto", "float32", "float16", "bfloat16")


class TransformersBackend:
    name = "hf"

    def __init__(
        self,
        location: str,
        *,
        dtype: str = "auto",
        device: str = "auto",
        batch_size: int = 16,
        max_length: int | None = None,
        revision: str | None = None,
        share_prefix: bool = True,
        adapter: str | None = None,
    ) -> None:
        _prefer_passive_openmp()
        import torch
        import transformers

        if dtype not in DTYPES:
            raise ModelLoadError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
        self._torch = torch
        self.device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        self.batch_size = batch_size
        self.location = location
        path = Path(location)
        torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
        self.dequantized_cache: Path | None = None
        self.dequantized_cache_hit = False
        started = time.perf_counter()
        try:
            if path.is_file():
                self.format = "gguf"
                self.tokenizer, self.model = self._load_gguf(transformers, path, torch_dtype)
            else:
                self.format = "safetensors" if path.is_dir() else "hub"
                load_kwargs: dict = {"revision": revision} if revision else {}
                self.tokenizer = transformers.AutoTokenizer.from_pretrained(location, **load_kwargs)
                self.model = transformers.AutoModelForCausalLM.from_pretrained(
                    location, dtype=torch_dtype, **load_kwargs
                )
        except ModelLoadError:
            raise
        except Exception as exc:  # transformers raises many types for unreadable files
            raise ModelLoadError(f"cannot load {location!r} with transformers: {_first_line(exc)}") from exc
        self.adapter = adapter
        if adapter:
            self.model = _merge_adapter(self.model, adapter)
        self.load_seconds = time.perf_counter() - started
        logger.info(
            "loaded %s in %.2f s%s", path.name, self.load_seconds,
            f" (dequantized cache {'hit' if self.dequantized_cache_hit else 'written'}: {self.dequantized_cache})"
            if self.dequantized_cache else "",
        )
        self.model.to(self.device).eval()
        config = self.model.config
        self.model_type = getattr(config, "model_type", "") or ""
        # The harness prepends BOS for Gemma, whose outputs degrade badly without it.
        self.add_bos = self.model_type.startswith("gemma")
        self.max_length = max_length or _model_max_length(config, self.tokenizer)
        self.eos_token_id = self.tokenizer.eos_token_id
        self.share_prefix = share_prefix
        pad = self.eos_token_id if self.eos_token_id is not None else 0
        self._prefix_scorer = PrefixScorer(self.model, torch, pad_id=pad, batch_size=batch_size)

    def _load_gguf(self, transformers, path: Path, torch_dtype):
        """Tokenizer and model of a GGUF file: from the dequantized cache, else dequantized and then cached."""
        cached = dequantized_checkpoint_dir(path, converter=f"transformers-{transformers.__version__}")
        if (cached / CACHE_MANIFEST).is_file():
            try:
                tokenizer = transformers.AutoTokenizer.from_pretrained(str(cached))
                model = transformers.AutoModelForCausalLM.from_pretrained(str(cached), dtype=torch_dtype)
            except Exception as exc:  # unreadable cache (disk trouble, edited by hand): rebuild it
                logger.warning("discarding the unreadable dequantized cache %s: %s", cached, _first_line(exc))
                _discard(cached)
            else:
                self.dequantized_cache, self.dequantized_cache_hit = cached, True
                return tokenizer, model
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        # Dequantized in the file's own precision ("auto": float32), so the cache serves every dtype.
        model = transformers.AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype="auto")
        if _write_dequantized_cache(model, tokenizer, cached, gguf=path):
            self.dequantized_cache = cached
        if torch_dtype != "auto":
            model = model.to(torch_dtype)
        return tokenizer, model

    # -- tokenization -------------------------------------------------------------------------
    def tokenize(self, text: str) -> list[int]:
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        if self.add_bos and self.tokenizer.bos_token_id is not None:
            ids = [self.tokenizer.bos_token_id] + ids
        return ids

    def _prefix_token_id(self) -> int:
        bos = self.tokenizer.bos_token_id
        return bos if bos is not None else self.eos_token_id

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        return encode_pair(context, continuation, tokenize=self.tokenize, prefix_token=self._prefix_token_id,
                           tokenize_bare=lambda text: self.tokenizer.encode(text, add_special_tokens=False))

    def apply_chat_template(self, messages: str | Sequence[dict]) -> str:
        if not getattr(self.tokenizer, "chat_template", None):
            raise ModelLoadError(f"{self.location} has no chat template")
        return self.tokenizer.apply_chat_template(as_messages(messages), tokenize=False, add_generation_prompt=True)

    # -- scoring ------------------------------------------------------------------------------
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        encoded = [self.encode_pair(r.context, r.continuation) for r in requests]
        if not encoded:
            return []
        longest = max(len(context) + len(continuation) for context, continuation in encoded)
        if self.share_prefix and longest <= self.max_length and PrefixScorer.supported(self.model, longest):
            self._prefix_scorer.batch_size = self.batch_size
            scored = self._prefix_scorer.score(encoded)
            return [
                LoglikelihoodResult(logprob, greedy, len(continuation))
                for (logprob, greedy), (_, continuation) in zip(scored, encoded)
            ]
        return self._loglikelihood_plain(encoded)

    def _loglikelihood_plain(self, encoded: list[tuple[list[int], list[int]]]) -> list[LoglikelihoodResult]:
        """One padded forward pass per distinct input; used where the shared-prefix path cannot apply."""
        # Requests whose model input is identical (e.g. MMLU's one-token " A".." D") share one forward pass.
        by_input: dict[tuple[int, ...], list[int]] = {}
        for index, (context, continuation) in enumerate(encoded):
            key = tuple((context + continuation)[-(self.max_length + 1):][:-1])
            by_input.setdefault(key, []).append(index)
        # Longest first, as the harness orders them, so padding stays small and OOM shows early.
        inputs = sorted(by_input, key=len, reverse=True)
        results: list[LoglikelihoodResult | None] = [None] * len(encoded)
        for start in range(0, len(inputs), self.batch_size):
            batch = inputs[start:start + self.batch_size]
            keep = max(len(encoded[i][1]) for key in batch for i in by_input[key])
            logits = self._forward_tail(batch, keep)
            for row, key in enumerate(batch):
                for index in by_input[key]:
                    results[index] = self._score(logits[row], encoded[index][1])
        return results  # type: ignore[return-value]

    def _forward_tail(self, inputs: list[tuple[int, ...]], keep: int):
        """Logits of the last `keep` positions of each input.

        Inputs are left-padded with explicit position ids, so every row ends at the same column and the
        output head runs on those columns only instead of on the whole padded batch.
        """
        torch = self._torch
        width = max(len(ids) for ids in inputs)
        pad = self.eos_token_id if self.eos_token_id is not None else 0
        input_ids = torch.full((len(inputs), width), pad, dtype=torch.long)
        attention = torch.zeros((len(inputs), width), dtype=torch.long)
        for row, ids in enumerate(inputs):
            input_ids[row, width - len(ids):] = torch.tensor(ids)
            attention[row, width - len(ids):] = 1
        positions = (attention.cumsum(dim=1) - 1).clamp(min=0)
        with torch.inference_mode():
            return self.model(
                input_ids=input_ids.to(self.device),
                attention_mask=attention.to(self.device),
                position_ids=positions.to(self.device),
                logits_to_keep=keep,
            ).logits.float()

    def _score(self, tail_logits, continuation: list[int]) -> LoglikelihoodResult:
        """Score a continuation from the logits at the end of its input row."""
        torch = self._torch
        log_probs = torch.log_softmax(tail_logits[-len(continuation):], dim=-1)
        target = torch.tensor(continuation, device=log_probs.device)
        picked = log_probs.gather(1, target.unsqueeze(1)).squeeze(1)
        greedy = bool((log_probs.argmax(dim=-1) == target).all())
        return LoglikelihoodResult(float(picked.sum()), greedy, len(continuation))

    # -- generation ---------------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        return [self._generate_one(request) for request in requests]

    def _generate_one(self, request: GenerationRequest, streamer=None) -> Generation:
        torch = self._torch
        prompt_ids = self.tokenize(request.prompt)[-(self.max_length - request.max_new_tokens):]
        sampling = {"do_sample": False}
        if request.temperature > 0:
            torch.manual_seed(request.seed)
            sampling = {"do_sample": True, "temperature": request.temperature}
        with torch.inference_mode():
            output = self.model.generate(
                torch.tensor([prompt_ids], device=self.device),
                attention_mask=torch.ones((1, len(prompt_ids)), dtype=torch.long, device=self.device),
                max_new_tokens=request.max_new_tokens,
                streamer=streamer,
                stop_strings=list(request.stop) or None,
                tokenizer=self.tokenizer,
                pad_token_id=self.eos_token_id,
                top_p=None,
                top_k=None,
                **sampling,
            )
        new_tokens = output[0, len(prompt_ids):].tolist()
        text = self.tokenizer.decode(new_tokens, skip_special_tokens=True)
        return Generation(truncate_at_stop(text, request.stop), len(prompt_ids), len(new_tokens))

    def info(self) -> ModelInfo:
        cache = (
            {"dequantized_cache": str(self.dequantized_cache), "dequantized_cache_hit": self.dequantized_cache_hit}
            if self.dequantized_cache else {}
        )
        return ModelInfo(
            backend=self.name,
            name=Path(self.location).name,
            path=self.location,
            format=self.format,
            dtype=str(next(self.model.parameters()).dtype).removeprefix("torch."),
            device=self.device,
            parameter_count=sum(p.numel() for p in self.model.parameters()),
            context_length=self.max_length,
            chat_template=bool(getattr(self.tokenizer, "chat_template", None)),
            extra={"model_type": self.model_type, "load_seconds": round(self.load_seconds, 3), **cache,
                   **({"adapter": self.adapter} if self.adapter else {})},
        )

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """The text `generate` returns, one piece per new token, while generation runs in a thread."""
        import threading

        streamer = _TokenStreamer(self.tokenizer)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                self._generate_one(request, streamer=streamer)
            except BaseException as exc:  # re-raised in the caller's thread
                failure.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, name="hf-stream", daemon=True)
        worker.start()
        try:
            yield from stream_until_stop(streamer, request.stop)
        finally:
            worker.join()
        if failure:
            raise failure[0]


def _merge_adapter(model, adapter: str):
    """The base model with a PEFT adapter (LoRA, ...) merged into its weights.

    Merged once at load, so scoring runs the plain model at the base's speed and the shared-prefix scorer
    sees the architecture it knows; the logits equal PEFT's unmerged forward up to float rounding.
    """
    folder = Path(adapter)
    if not (folder / "adapter_config.json").is_file():
        raise ModelLoadError(f"{adapter} is not a PEFT adapter folder (no adapter_config.json); a GGUF LoRA "
                             "file loads with the llama_cpp backend")
    try:
        from peft import PeftModel

        return PeftModel.from_pretrained(model, str(folder)).merge_and_unload()
    except Exception as exc:  # peft raises many types for a mismatched or unreadable adapter
        raise ModelLoadError(f"cannot apply the adapter {adapter}: {_first_line(exc)}") from exc


def _prefer_passive_openmp() -> None:
    """Let torch's idle OpenMP threads sleep instead of spin, unless the user chose otherwise.

    By default they spin between parallel regions, waiting for their peers. Where other processes share the
    cores (a web process, a second worker, anything on a small box) a peer is often descheduled, the spinning
    thread burns its time slice waiting for it, and scoring ran 4-5x slower on 2 busy cores (40 ARC items:
    58-72 s, against 13 s passive). libgomp reads the variable once, when torch loads it, so this only
    helps if torch is not imported yet.
    """
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


CACHE_MANIFEST = "benchsite-dequantized.json"  # written last: a cache folder without it is not used


def _write_dequantized_cache(model, tokenizer, target: Path, *, gguf: Path) -> bool:
    """Save a model dequantized from `gguf` as safetensors with its tokenizer; False where it cannot be cached.

    The cache is an optimisation: a full disk or a read-only cache folder costs speed, never the run.
    """
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        if getattr(quantizer, "packed_modules", None):
            return False  # weights kept in GGUF blocks (GPU kernels): nothing was dequantized to cache
        # The weights are plain tensors now; what is left of the quantizer only blocks save_pretrained.
        quantizer.remove_quantization_config(model)
    try:
        with atomic_directory(target) as scratch:
            model.save_pretrained(scratch)
            tokenizer.save_pretrained(scratch)
            manifest = {"gguf": gguf.name, "gguf_sha256": sha256_path(gguf), "created": time.time()}
            (scratch / CACHE_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    except OSError as exc:
        logger.warning("cannot cache the dequantized %s at %s: %s", gguf.name, target, _first_line(exc))
        return False
    return True


def _discard(folder: Path) -> None:
    """Move a cache folder out of the way in one rename, then delete it."""
    doomed = folder.with_name(f".{folder.name}.discarded-{time.time_ns()}")
    try:
        folder.rename(doomed)
    except OSError:
        return
    shutil.rmtree(doomed, ignore_errors=True)


def _model_max_length(config, tokenizer) -> int:
    for attribute in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, attribute, None)
        if value:
            return min(int(value), 8192)
    return 2048


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class _TokenStreamer:
    """A transformers streamer that hands over the text of every new token as soon as it is sampled.

    (transformers' TextIteratorStreamer waits for whole words, which would hide the first token's time.)
    The prompt, which generate() sends first, is skipped; so is a token that ends inside a character,
    whose text comes with the next one.
    """

    def __init__(self, tokenizer) -> None:
        import queue

        self.tokenizer = tokenizer
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.token_ids: list[int] = []
        self.sent = 0
        self.prompt_seen = False

    def put(self, value) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        self.token_ids.extend(value.reshape(-1).tolist())
        text = self.tokenizer.decode(self.token_ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):
            return
        if len(text) > self.sent:
            self.queue.put(text[self.sent:])
            self.sent = len(text)

    def end(self) -> None:
        self.queue.put(None)

    def __iter__(self) -> Iterator[str]:
        while (piece := self.queue.get()) is not None:
            yield piece
