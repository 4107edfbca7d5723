"""`manage.py demo` (what `make demo` runs): migrate, serve the site at once, evaluate in the background.

The embedded default keeps run progress in an in-memory channel layer, which reaches only websocket
consumers of the same process, so the evaluations run here, in a thread of the serving process, and
publish through the server's own event loop (the thread is started with asgiref's SyncToAsync, whose
AsyncToSync calls — progress.publish — are then executed on that loop). Ctrl-C (or SIGTERM) cancels the
run in progress, waits for the thread to let go and stops the server; a second Ctrl-C exits at once.
"""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import Executor, Future

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from evaluations.management.commands.seed_demo import add_work_arguments, work_from_options
from evaluations.services import shards

# How long Ctrl-C waits for the evaluation thread to reach its next checkpoint (a stored batch, a run's end).
STOP_GRACE_SECONDS = 10.0


class _DaemonThreadExecutor(Executor):
    """One daemon thread per call: a forced exit never waits for a model that is still computing."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()

        def target() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed to whoever awaits the future
                future.set_exception(exc)

        threading.Thread(target=target, name="demo-evaluations", daemon=True).start()
        return future


class Command(BaseCommand):
    help = "Serve the site and evaluate the bundled models on the demo suite in the background (make demo)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000, help="0: any free port (the URL is printed)")
        add_work_arguments(parser)
        parser.add_argument("--no-evaluate", action="store_true", help="only serve (after migrating)")

    def handle(self, *args, **options) -> None:
        self._lock = threading.Lock()
        self._started_at = time.monotonic()
        self.work = work_from_options(options, self._log)
        self._migrate()

        from channels.routing import get_default_application
        from daphne.server import Server  # imported by the daphne app already: the asyncio reactor is installed
        from twisted.internet import reactor

        application = get_default_application()
        if settings.DEBUG and "django.contrib.staticfiles" in settings.INSTALLED_APPS:
            from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

            application = ASGIStaticFilesHandler(application)
        host, port = options["host"], options["port"]
        interface = host.replace(":", r"\:")  # an IPv6 address in a Twisted endpoint string
        self.server = Server(application, endpoints=[f"tcp:port={port}:interface={interface}"],
                             signal_handlers=False, verbosity=0)
        self.evaluate = not options["no_evaluate"]
        self.work_future: asyncio.Future | None = None
        self.stopping = False
        self.forced = False
        reactor.callWhenRunning(self._serving, host)
        self.server.run()  # returns when the reactor stops, or at once if the port could not be bound
        if not self.server.listening_addresses:
            raise CommandError(f"could not listen on {host}:{port} (in use? try PORT=8001 make demo)", returncode=2)
        if self.forced or (self.work_future is not None and not self.work_future.done()):
            self._log("exiting while the evaluation thread is still busy")
            sys.stdout.flush()
            os._exit(130)
        self._log("stopped")

    def _migrate(self) -> None:
        started = time.monotonic()
        database = settings.DATABASES["default"]
        name = database["NAME"] if "sqlite" in database["ENGINE"] else database.get("HOST", "") + "/" + database["NAME"]
        call_command("migrate", interactive=False, verbosity=0)
        self._log(f"database {name}: migrated in {time.monotonic() - started:.1f} s")
        orphaned = shards.local_runs_fail_orphaned()
        if orphaned:
            self._log(f"{orphaned} run shard(s) left running by an earlier demo that was killed: marked failed")

    def _serving(self, host: str) -> None:
        """In the reactor's event loop, once listening: print the URL first, then start the evaluations."""
        loop = asyncio.get_event_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._on_signal)
        bound_port = self.server.listening_addresses[0][1]
        shown_host = f"[{host}]" if ":" in host else host
        self._log(f"serving http://{shown_host}:{bound_port}/ (started in {time.monotonic() - self._started_at:.1f} s;"
                  f" Ctrl-C stops)")
        if not self.evaluate:
            return
        self._log("evaluating in the background: the leaderboard fills in as runs finish, "
                  f"/runs/live/ and each run's page show progress live")
        runner = _sync_to_async_in_daemon_thread(self._work)
        self.work_future = asyncio.ensure_future(runner())

    def _work(self) -> None:
        try:
            self.work.run()
        except Exception:  # the site keeps serving what is there; the reason goes to the log
            self._log("the demo evaluations stopped on an error:\n" + traceback.format_exc().rstrip())

    def _on_signal(self) -> None:
        if self.stopping:
            self._log("second interrupt: exiting now")
            sys.stdout.flush()
            os._exit(130)
        self.stopping = True
        asyncio.ensure_future(self._shutdown())

    async def _shutdown(self) -> None:
        from asgiref.sync import sync_to_async
        from twisted.internet import reactor

        if self.work_future is not None and not self.work_future.done():
            self._log("stopping: cancelling the run in progress (Ctrl-C again to exit at once)")
            try:
                await sync_to_async(self.work.cancel_current, thread_sensitive=False)()
                await asyncio.wait_for(asyncio.shield(self.work_future), STOP_GRACE_SECONDS)
            except asyncio.TimeoutError:
                self._log(f"the evaluation did not reach a checkpoint within {STOP_GRACE_SECONDS:.0f} s")
                self.forced = True
            except Exception as exc:  # the worker's own error was logged by it
                self._log(f"while stopping: {type(exc).__name__}: {exc}")
        reactor.stop()

    def _log(self, line: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        with self._lock:
            for part in line.splitlines() or [""]:
                self.stdout.write(f"[demo {stamp}] {part}")
            self.stdout.flush()


def _sync_to_async_in_daemon_thread(function):
    from asgiref.sync import SyncToAsync

    return SyncToAsync(function, thread_sensitive=False, executor=_DaemonThreadExecutor())
