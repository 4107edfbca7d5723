"""Shared-prefix log-likelihood scoring for the transformers backend.

Multiple-choice requests repeat most of their tokens: every choice of an item shares the item's context,
and every item of a few-shot task shares the same examples. Here each distinct token sequence is run
through the model once, in three levels that extend one another's KV cache:

1. the prefix common to every context in the call (the few-shot examples), kept across calls;
2. each distinct context, after that prefix;
3. each continuation, after its context.

Rows are padded with masked positions and carry explicit position ids, so a token sees exactly the
tokens it would see in one unpadded forward pass; log-likelihoods equal plain scoring up to float
rounding (tests compare both paths).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

MIN_SHARED_PREFIX = 16  # tokens; below this a separate prefix pass costs more than it saves
PASS_OVERHEAD_TOKENS = 64  # a forward pass costs about as much as this many extra token slots (weight reads)


@dataclass
class KVState:
    """A batch of cached rows: the cache, which cached columns are real tokens, and each row's length."""

    cache: object  # transformers Cache, batch = rows
    mask: object  # LongTensor [rows, columns]
    lengths: object  # LongTensor [rows]


class PrefixScorer:
    def __init__(self, model, torch_module, *, pad_id: int, batch_size: int) -> None:
        self.model = model
        self.body = model.base_model
        self.head = model.get_output_embeddings()
        self.softcap = getattr(model.config, "final_logit_softcapping", None)
        self.torch = torch_module
        self.pad_id = pad_id
        self.batch_size = batch_size
        self._prefix: tuple[tuple[int, ...], KVState] | None = None

    @staticmethod
    def supported(model, longest: int) -> bool:
        """Models with sliding-window layers keep only a window of the cache; fall back when it could bind."""
        window = getattr(model.config, "sliding_window", None)
        has_head = model.get_output_embeddings() is not None and model.base_model is not model
        return has_head and (window is None or longest < window)

    # -- public -----------------------------------------------------------------------------------
    def score(self, pairs: Sequence[tuple[list[int], list[int]]]) -> list[tuple[float, bool]]:
        """(sum of continuation log-probs, continuation is greedy) for each (context, continuation)."""
        torch = self.torch
        contexts = sorted({tuple(context) for context, _ in pairs}, key=len, reverse=True)
        prefix = self._common_prefix(contexts)
        prefix_state = self._prefix_state(prefix) if prefix else None
        by_context: dict[tuple[int, ...], list[int]] = {}
        for index, (context, _) in enumerate(pairs):
            by_context.setdefault(tuple(context), []).append(index)
        results: list[tuple[float, bool] | None] = [None] * len(pairs)
        with torch.inference_mode():
            for chunk in self._token_batches(contexts, [len(c) - len(prefix) for c in contexts]):
                state, hidden = self._extend(prefix_state, [0] * len(chunk), [c[len(prefix):] for c in chunk],
                                             left_pad=True)
                last_hidden = hidden[:, -1]  # left padding puts every context's last token in the last column
                rows = [(row, index) for row, context in enumerate(chunk) for index in by_context[context]]
                self._score_continuations(state, last_hidden, rows, pairs, results)
        return results  # type: ignore[return-value]

    # -- levels -----------------------------------------------------------------------------------
    @staticmethod
    def _common_prefix(contexts: list[tuple[int, ...]]) -> tuple[int, ...]:
        shortest = min(contexts, key=len)
        length = 0
        for position, token in enumerate(shortest[:-1]):  # every context keeps at least one own token
            if any(context[position] != token for context in contexts):
                break
            length = position + 1
        return shortest[:length] if length >= MIN_SHARED_PREFIX else ()

    def _prefix_state(self, prefix: tuple[int, ...]) -> KVState:
        if self._prefix is None or self._prefix[0] != prefix:
            with self.torch.inference_mode():
                state, _ = self._extend(None, [0], [prefix], left_pad=False)
            self._prefix = (prefix, state)
        return self._prefix[1]

    def _score_continuations(self, state: KVState, last_hidden, rows, pairs, results) -> None:
        torch = self.torch
        continuations = [pairs[index][1] for _, index in rows]
        # Continuation token j is predicted by the context's last position (j = 0) or by continuation
        # position j - 1, so only continuation[:-1] needs another pass, in length-sorted batches.
        predictors = [last_hidden[torch.tensor([parent for parent, _ in rows])]]
        owners = list(range(len(rows)))
        targets = [continuation[0] for continuation in continuations]
        with_tail = sorted((r for r in range(len(rows)) if len(continuations[r]) > 1),
                           key=lambda r: len(continuations[r]), reverse=True)
        for batch in self._token_batches(with_tail, [len(continuations[r]) - 1 for r in with_tail]):
            tails = [continuations[r][:-1] for r in batch]
            _, tail_hidden = self._extend(state, [rows[r][0] for r in batch], tails, left_pad=False)
            batch_rows = [row for row, tail in enumerate(tails) for _ in tail]
            columns = [column for tail in tails for column in range(len(tail))]
            predictors.append(tail_hidden[torch.tensor(batch_rows), torch.tensor(columns)])
            owners += [batch[row] for row in batch_rows]
            targets += [token for r in batch for token in continuations[r][1:]]
        log_probs = torch.log_softmax(self._logits(torch.cat(predictors)).float(), dim=-1)
        target = torch.tensor(targets, device=log_probs.device)
        owner = torch.tensor(owners, device=log_probs.device)
        picked = log_probs.gather(1, target.unsqueeze(1)).squeeze(1)
        misses = (log_probs.argmax(dim=-1) != target).to(torch.long)
        totals = torch.zeros(len(rows), dtype=picked.dtype, device=picked.device).index_add_(0, owner, picked)
        missed = torch.zeros(len(rows), dtype=torch.long, device=picked.device).index_add_(0, owner, misses)
        for (_, index), logprob, miss_count in zip(rows, totals.tolist(), missed.tolist()):
            results[index] = (logprob, miss_count == 0)

    def _token_batches(self, items: list, lengths: list[int]) -> list[list]:
        """Split length-sorted (longest first) items into padded batches of least total cost.

        A batch costs its padded token slots (rows × longest row) plus a fixed per-pass overhead, so the
        split trades padding against the number of forward passes; at most `batch_size` rows per batch.
        """
        count = len(items)
        best = [0.0] + [float("inf")] * count  # best[j]: cheapest split of items[:j]
        cut = [0] * (count + 1)
        for end in range(1, count + 1):
            for start in range(max(0, end - self.batch_size), end):
                cost = best[start] + (end - start) * lengths[start] + PASS_OVERHEAD_TOKENS
                if cost < best[end]:
                    best[end], cut[end] = cost, start
        batches, end = [], count
        while end > 0:
            batches.append(items[cut[end]:end])
            end = cut[end]
        return batches[::-1]

    def _logits(self, hidden):
        logits = self.head(hidden)
        if self.softcap:
            logits = self.torch.tanh(logits / self.softcap) * self.softcap
        return logits

    def _extend(self, parent: KVState | None, parents: list[int], tokens: Sequence[Sequence[int]], *,
                left_pad: bool):
        """Run `tokens[i]` after cached row `parents[i]`; return the new state and the last hidden states."""
        torch = self.torch
        device = self.model.device
        width = max(len(row) for row in tokens)
        input_ids = torch.full((len(tokens), width), self.pad_id, dtype=torch.long)
        new_mask = torch.zeros((len(tokens), width), dtype=torch.long)
        for row, ids in enumerate(tokens):
            if not ids:
                continue
            columns = slice(width - len(ids), width) if left_pad else slice(0, len(ids))
            input_ids[row, columns] = torch.tensor(ids)
            new_mask[row, columns] = 1
        index = torch.tensor(parents, dtype=torch.long)
        if parent is None:
            cache, mask, lengths = None, new_mask, torch.zeros(len(tokens), dtype=torch.long)
        else:
            cache = _select_rows(parent.cache, index.to(device), self.model.config)
            mask = torch.cat([parent.mask[index], new_mask], dim=1)
            lengths = parent.lengths[index]
        positions = lengths.unsqueeze(1) + (new_mask.cumsum(dim=1) - 1).clamp(min=0)
        output = self.body(
            input_ids=input_ids.to(device),
            attention_mask=mask.to(device),
            position_ids=positions.to(device),
            past_key_values=cache if cache is not None else _empty_cache(self.model.config),
            use_cache=True,
        )
        return KVState(output.past_key_values, mask, lengths + new_mask.sum(dim=1)), output.last_hidden_state


def _empty_cache(config):
    from transformers import DynamicCache

    return DynamicCache(config=config)


def _select_rows(cache, index, config):
    """A new cache holding the given rows (repeats allowed) of `cache`; the original stays reusable."""
    selected = _empty_cache(config)
    for layer_index, layer in enumerate(cache.layers):
        selected.update(layer.keys.index_select(0, index), layer.values.index_select(0, index), layer_index)
    return selected
