"""Turn a task spec and a backend into per-sample results.

`prepare_task` loads rows and builds every prompt up front (few-shot draws depend on row order, as in
the harness), `evaluate_items` scores them in batches and yields one `SampleResult` per item, so the
caller can store each as it is produced and skip the ones already stored when it resumes.
"""
from __future__ import annotations

import dataclasses
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

from runner.backends.base import (
    PLAIN_DIALOGUE_STOP,
    Backend,
    Generation,
    GenerationRequest,
    LoglikelihoodRequest,
    plain_dialogue,
)
from runner.datasets import load_split
from runner.metrics import (
    Aggregate,
    exact_match,
    mean_with_stderr,
    multiple_choice_metrics,
    regex_extract,
    weighted_mean,
)
from runner.registry import SCORERS, ScoreContext
from runner.spec import GENERATE_UNTIL, TaskSpec
from runner.templates import TEMPLATES, Doc

ChatTemplate = Callable[[str | Sequence[dict]], str]

FEWSHOT_SEED = 1234
MULTIPLE_CHOICE_BATCH_ITEMS = 64


@dataclass
class PreparedItem:
    doc_id: int
    doc: Doc
    prompt: str  # for multiple-input tasks, the prompt of the gold option
    requests: list[LoglikelihoodRequest] = field(default_factory=list)
    generation: GenerationRequest | None = None

    @property
    def target(self) -> str:
        if self.doc.choices:
            return self.doc.choices[int(self.doc.gold)]
        return self.doc.target_text or str(self.doc.gold)


@dataclass
class PreparedTask:
    spec: TaskSpec
    items: list[PreparedItem]
    dataset_hash: str
    dataset_origin: str
    num_fewshot: int
    chat_template: ChatTemplate | None = None  # later turns of multi-turn items are templated as they come


@dataclass
class SampleResult:
    doc_id: int
    prompt: str
    target: str
    prediction: str
    metrics: dict[str, float]
    loglikelihoods: list[float] | None = None
    is_greedy: list[bool] | None = None
    output: str | None = None
    latency_ms: float = 0.0
    prompt_tokens: int = 0
    output_tokens: int = 0
    details: dict = field(default_factory=dict)


def prepare_task(
    spec: TaskSpec,
    *,
    limit: int | None = None,
    num_fewshot: int | None = None,
    chat_template: ChatTemplate | None = None,
) -> PreparedTask:
    shots = spec.default_num_fewshot if num_fewshot is None else num_fewshot
    split = load_split(spec.test)
    rows = split.rows[:limit] if limit else split.rows
    template = TEMPLATES[spec.template]
    dataset_hash = split.content_hash
    fewshot_docs: list[Doc] = []
    same_split = spec.fewshot is not None and spec.fewshot.data_path == spec.test.data_path
    if shots > 0:
        if spec.fewshot is None:
            raise ValueError(f"{spec.slug} has no few-shot split")
        fewshot_split = load_split(spec.fewshot)
        fewshot_docs = [template(row) for row in fewshot_split.rows]
        if not same_split:
            dataset_hash = _combine(dataset_hash, fewshot_split.content_hash)
    rnd = random.Random(FEWSHOT_SEED)
    items = []
    for doc_id, row in enumerate(rows):
        doc = template(row)
        examples = _select_fewshot(spec, fewshot_docs, shots, rnd, doc if same_split else None)
        prefix = spec.description + "".join(
            example.fewshot_text(spec.target_delimiter) + spec.fewshot_delimiter for example in examples
        )
        items.append(_build_item(spec, doc_id, doc, prefix, chat_template))
    return PreparedTask(spec, items, dataset_hash, split.origin, shots, chat_template)


def _select_fewshot(spec: TaskSpec, pool: list[Doc], n: int, rnd: random.Random, exclude: Doc | None) -> list[Doc]:
    if n == 0:
        return []
    if spec.fewshot_sampler == "first_n":
        return [d for d in pool if d != exclude][:n]
    if exclude is None:
        return rnd.sample(pool, n)
    return [d for d in rnd.sample(pool, n + 1) if d != exclude][:n]


def _build_item(
    spec: TaskSpec, doc_id: int, doc: Doc, prefix: str, chat_template: ChatTemplate | None
) -> PreparedItem:
    wrap = chat_template or (lambda text: text)
    if spec.output_type == GENERATE_UNTIL:
        stop = spec.until
        if doc.extra.get("messages"):  # a conversation with its own system prompt (BFCL)
            format_chat = chat_template or plain_dialogue
            prompt = format_chat(doc.extra["messages"])
            if format_chat is plain_dialogue:  # a base model would go on to write the user's next turn
                stop = (*stop, PLAIN_DIALOGUE_STOP)
        else:
            prompt = wrap(prefix + doc.text)
        request = GenerationRequest(
            prompt, stop=stop, max_new_tokens=spec.max_new_tokens, temperature=spec.temperature
        )
        return PreparedItem(doc_id, doc, prompt, generation=request)
    if doc.multiple_input:
        contexts = [wrap(prefix + context) for context in doc.contexts]
        continuation = spec.target_delimiter + doc.target_text
        requests = [LoglikelihoodRequest(context, continuation) for context in contexts]
        return PreparedItem(doc_id, doc, contexts[int(doc.gold)], requests)
    prompt = wrap(prefix + doc.text)
    requests = [LoglikelihoodRequest(prompt, spec.target_delimiter + choice) for choice in doc.choices]
    return PreparedItem(doc_id, doc, prompt, requests)


def evaluate_items(
    task: PreparedTask,
    backend: Backend,
    *,
    skip: Iterable[int] = (),
    batch_items: int | None = None,
    context: ScoreContext | None = None,
) -> Iterator[SampleResult]:
    """Yield results for every item not in `skip`, in doc order, one batch at a time.

    Multiple-choice batches are large so the backend can sort and share prefixes across many requests;
    generation items are yielded one by one so progress shows as it happens.
    """
    skipped = set(skip)
    pending = [item for item in task.items if item.doc_id not in skipped]
    context = context or ScoreContext()
    batch_items = batch_items or (1 if task.spec.output_type == GENERATE_UNTIL else MULTIPLE_CHOICE_BATCH_ITEMS)
    for start in range(0, len(pending), batch_items):
        batch = pending[start:start + batch_items]
        if task.spec.output_type == GENERATE_UNTIL:
            yield from (_generate_one(task, backend, item, context) for item in batch)
        else:
            yield from _score_batch(task.spec, backend, batch)


def _score_batch(spec: TaskSpec, backend: Backend, batch: Sequence[PreparedItem]) -> list[SampleResult]:
    requests = [request for item in batch for request in item.requests]
    started = time.perf_counter()
    scored = backend.loglikelihood(requests)
    computed_requests = sum(not result.cached for result in scored)  # the time was spent on these only
    per_request_ms = (time.perf_counter() - started) * 1000 / max(computed_requests, 1)
    results, offset = [], 0
    for item in batch:
        chunk = scored[offset: offset + len(item.requests)]
        offset += len(item.requests)
        logprobs = [result.logprob for result in chunk]
        choices = [] if item.doc.multiple_input else list(item.doc.choices)
        prediction, metrics = multiple_choice_metrics(logprobs, choices, int(item.doc.gold))
        metrics = {name: value for name, value in metrics.items() if name in spec.metrics}
        labels = item.doc.choices or item.doc.contexts
        cached = all(result.cached for result in chunk)
        results.append(
            SampleResult(
                doc_id=item.doc_id,
                prompt=item.prompt,
                target=item.target,
                prediction=str(prediction),
                metrics=metrics,
                loglikelihoods=logprobs,
                is_greedy=[result.is_greedy for result in chunk],
                latency_ms=sum(result.compute_ms if result.cached else per_request_ms for result in chunk),
                output_tokens=sum(result.continuation_tokens for result in chunk),
                output=labels[prediction] if labels else None,
                details={"cached": True} if cached else {},
            )
        )
    return results


def _generate_one(task: PreparedTask, backend: Backend, item: PreparedItem, context: ScoreContext) -> SampleResult:
    spec = task.spec
    started = time.perf_counter()
    generations = _generations(task, backend, item)
    cached = all(generation.cached for generation in generations)
    latency_ms = (sum(g.compute_ms for g in generations) if cached
                  else (time.perf_counter() - started) * 1000) / len(generations)
    texts = [generation.text for generation in generations]
    details: dict = {}
    if spec.scorer:
        scored = SCORERS[spec.scorer](item.doc, texts, context)
        metrics, prediction, details = scored.metrics, scored.prediction or texts[0], scored.details
    else:
        metrics, prediction = _filter_and_match(spec, item.doc, texts[0])
    if len(texts) > 1:
        details = {**details, "outputs": texts}
    if cached:
        details = {**details, "cached": True}
    return SampleResult(
        doc_id=item.doc_id,
        prompt=item.prompt,
        target=item.target,
        prediction=prediction,
        metrics=metrics,
        output=texts[0] if len(texts) == 1 or not item.doc.extra.get("turns") else "\n\n".join(texts),
        latency_ms=latency_ms,
        prompt_tokens=sum(g.prompt_tokens for g in generations),
        output_tokens=sum(g.output_tokens for g in generations),
        details=details,
    )


def _generations(task: PreparedTask, backend: Backend, item: PreparedItem) -> list[Generation]:
    """One greedy output, `num_samples` seeded samples, or one reply per turn of a multi-turn item."""
    request = item.generation
    assert request is not None
    turns = item.doc.extra.get("turns")
    if not turns:
        seeds = [request.seed + offset for offset in range(task.spec.num_samples)]
        return backend.generate([dataclasses.replace(request, seed=seed) for seed in seeds])
    if task.chat_template is None:
        raise ValueError(f"{task.spec.slug} is multi-turn and needs the model's chat template")
    if task.chat_template is plain_dialogue:  # a base model would go on to write the user's next turn
        request = dataclasses.replace(request, stop=(*request.stop, PLAIN_DIALOGUE_STOP))
    messages: list[dict] = []
    replies = []
    for turn in turns:
        messages.append({"role": "user", "content": turn})
        reply = backend.generate([dataclasses.replace(request, prompt=task.chat_template(messages))])[0]
        messages.append({"role": "assistant", "content": reply.text})
        replies.append(reply)
    return replies


def _filter_and_match(spec: TaskSpec, doc: Doc, text: str) -> tuple[dict[str, float], str]:
    metrics, answers = {}, {}
    for answer_filter in spec.filters:
        answer = regex_extract(text, answer_filter.pattern, answer_filter.group_select)
        answers[answer_filter.name] = answer
        metrics[f"exact_match,{answer_filter.name}"] = exact_match(answer, str(doc.gold), **spec.exact_match_options)
    prediction = answers.get("flexible-extract") or next(iter(answers.values()), text)
    return metrics, prediction


def aggregate(results: Iterable[SampleResult | dict], weighted: dict[str, str] | None = None) -> dict[str, Aggregate]:
    """Mean and standard error of every metric over the given samples.

    `weighted` maps a metric to the metric holding its per-sample weight (e.g. IFEval's instruction-level
    accuracy is pooled over instructions, not averaged over prompts); weight metrics are not reported.
    """
    weighted = weighted or {}
    by_metric: dict[str, list[float]] = {}
    for result in results:
        metrics = result.metrics if isinstance(result, SampleResult) else result
        for name, value in metrics.items():
            by_metric.setdefault(name, []).append(value)
    weight_names = set(weighted.values())
    aggregates = {}
    for name, values in sorted(by_metric.items()):
        if name in weight_names:
            continue
        if name in weighted:
            aggregates[name] = weighted_mean(values, by_metric[weighted[name]])
        else:
            aggregates[name] = mean_with_stderr(values)
    return aggregates


def _combine(*hashes: str) -> str:
    import hashlib

    return hashlib.sha256("\n".join(hashes).encode()).hexdigest()
