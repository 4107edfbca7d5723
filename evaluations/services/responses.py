"""The response cache of runs: which runs may use it, under which identity, and its rows in the database."""
from __future__ import annotations

from typing import Sequence

from django.db.models import F

from evaluations.models import CachedResponse, Run

LOOKUP_CHUNK = 500


class DatabaseResponseStore:
    """runner.backends.responses.ResponseStore on the CachedResponse table."""

    def lookup(self, keys: Sequence[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for start in range(0, len(keys), LOOKUP_CHUNK):
            chunk = keys[start:start + LOOKUP_CHUNK]
            rows = dict(CachedResponse.objects.filter(key__in=chunk).values_list("key", "response"))
            if rows:
                CachedResponse.objects.filter(key__in=list(rows)).update(hits=F("hits") + 1)
            found.update(rows)
        return found

    def save(self, entries: dict[str, tuple[str, dict]]) -> None:
        CachedResponse.objects.bulk_create(
            [CachedResponse(key=key, kind=kind, response=response) for key, (kind, response) in entries.items()],
            ignore_conflicts=True,  # two shards of one run computing the same request at once
        )


def response_identity(run: Run) -> dict | None:
    """What a cached response must share with this run to be reused; None where reuse cannot be proven safe.

    A server URL can change the model behind it without notice, and a run without its file's hash has no
    identity, so neither uses the cache. A run created with the cache off stays off on every delivery.
    """
    config = run.config
    sha256 = (config.get("model") or {}).get("sha256") or ""
    if not config.get("response_cache", False) or run.backend == "openai" or not sha256:
        return None
    adapter = {"adapter_sha256": config["model"]["adapter_sha256"]} if config["model"].get("adapter_sha256") else {}
    return {"model_sha256": sha256, "backend": run.backend, "options": config.get("backend_options") or {}, **adapter}
