"""Celery app. With REDIS_URL unset, tasks run eagerly in-process (see settings).

Workers register themselves (hostname, queues, device, memory, library versions) when ready and send a
heartbeat every BENCHSITE_HEARTBEAT_SECONDS, so the site can show which workers are up. Every
BENCHSITE_SWEEP_SECONDS one of them also re-enqueues stale shards, as beat does, so runs resume without beat.
"""
import os

from celery import Celery, bootsteps
from celery.signals import worker_ready, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")

app = Celery("benchsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class Heartbeat(bootsteps.StartStopStep):
    requires = {"celery.worker.components:Timer"}

    def start(self, worker) -> None:
        from django.conf import settings

        self.timers = [
            worker.timer.call_repeatedly(settings.BENCHSITE_HEARTBEAT_SECONDS, _heartbeat, (worker.hostname,)),
            worker.timer.call_repeatedly(settings.BENCHSITE_SWEEP_SECONDS, _sweep, (settings.BENCHSITE_SWEEP_SECONDS,)),
        ]

    def stop(self, worker) -> None:
        for timer in getattr(self, "timers", ()):
            timer.cancel()


app.steps["worker"].add(Heartbeat)


def _heartbeat(hostname: str) -> None:
    from evaluations.services.workers import worker_heartbeat

    try:
        worker_heartbeat(hostname=hostname)
    except Exception:  # the database may be briefly away; the next beat tries again
        pass


def _sweep(every_seconds: int) -> None:
    from evaluations.services.workers import shards_sweep_if_due

    try:
        shards_sweep_if_due(every_seconds=every_seconds)
    except Exception:  # the database or Redis may be briefly away; the next period tries again
        pass


@worker_ready.connect
def _register(sender, **_kwargs) -> None:
    from evaluations.services.workers import shards_requeue_orphaned, worker_register

    queues = [queue.name for queue in sender.app.amqp.queues.consume_from.values()]
    worker_register(hostname=sender.hostname, queues=queues)
    # A worker starting alone after a crash resumes the dead one's shards; it need not wait for beat.
    shards_requeue_orphaned(hostname=sender.hostname)


@worker_shutdown.connect
def _unregister(sender, **_kwargs) -> None:
    from evaluations.services.workers import worker_stopped

    worker_stopped(hostname=sender.hostname)
