"""Domain events of the evaluation domain for the apps built on it, which evaluations never imports."""
from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

# A run's status changed (it started, or reached a final status). Keyword arguments: run_id, status.
# Sent once the change is committed, so receivers read what every other process reads.
run_status_changed = Signal()


def run_status_announce(*, run_id: int, status: str) -> None:
    """Tell the receivers after the commit; a receiver's failure is logged, never raised into the run's lifecycle."""

    def send() -> None:
        for receiver, result in run_status_changed.send_robust(sender=None, run_id=run_id, status=status):
            if isinstance(result, Exception):
                logger.error("run %s %s: receiver %r failed: %r", run_id, status, receiver, result)

    transaction.on_commit(send)
