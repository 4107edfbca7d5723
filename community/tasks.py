"""Celery entry points of the community app: take ids, call services."""
from __future__ import annotations

from celery import shared_task

from community import services


@shared_task(acks_late=True)
def submission_queue(submission_id: int) -> None:
    services.submission_queue(submission_id=submission_id)


@shared_task
def submissions_sweep() -> int:
    return services.submissions_sweep()
