"""WebSockets that stream run progress as HTML fragments for htmx's ws extension (workers publish, see progress.py)."""
from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header

from evaluations.progress import LIVE_RUNS_GROUP, RunProgress, progress_snapshot, run_group
from leaderboard import selectors

RUN_PROGRESS_TEMPLATE = "leaderboard/_run_progress.html"
LIVE_RUNS_TEMPLATE = "leaderboard/_live_runs.html"


def scope_language(scope: dict) -> str:
    """The language LocaleMiddleware gives the page that opened this socket: the switcher's cookie, else the
    browser's Accept-Language, else the default (no middleware runs for websockets)."""
    candidates = [scope.get("cookies", {}).get(settings.LANGUAGE_COOKIE_NAME) or ""]
    accept = dict(scope.get("headers", [])).get(b"accept-language", b"").decode("latin-1")
    candidates += [code for code, _quality in parse_accept_lang_header(accept)]
    for code in candidates:
        if code and code != "*":
            try:
                return translation.get_supported_language_variant(code)
            except LookupError:
                continue
    return settings.LANGUAGE_CODE


def render_for(scope: dict, template: str, context: dict) -> str:
    with translation.override(scope_language(scope)):
        return render_to_string(template, context)


class RunProgressConsumer(AsyncWebsocketConsumer):
    """ws/runs/<run_id>/: the run's progress panel, swapped whole, and its log, appended to."""

    group: str | None = None

    async def connect(self) -> None:
        run_id = self.scope["url_route"]["kwargs"]["run_id"]
        run = await database_sync_to_async(selectors.visible_run)(run_id, self.scope.get("user"))
        if run is None:
            await self.close()  # before accept: the handshake is refused (HTTP 403)
            return
        # Join before taking the snapshot, so no update falls between the two.
        self.group = run_group(run_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        # Also what a reconnecting page needs: it may have missed updates while away.
        snapshot = await database_sync_to_async(progress_snapshot)(run_id=run_id)
        await self.send_progress(snapshot.as_dict(), line="")

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def run_progress(self, event: dict) -> None:
        await self.send_progress(event["snapshot"], line=event.get("line", ""))

    async def send_progress(self, snapshot: dict, *, line: str) -> None:
        progress = RunProgress.from_dict(snapshot)
        context = {"progress": progress, "line": line, "oob": True}
        await self.send(text_data=render_for(self.scope, RUN_PROGRESS_TEMPLATE, context))


class LiveRunsConsumer(AsyncWebsocketConsumer):
    """ws/runs/live/: rows of the public queued and running runs; private runs are never sent."""

    groups = [LIVE_RUNS_GROUP]

    async def connect(self) -> None:
        await self.accept()
        rows = await database_sync_to_async(selectors.live_run_rows)()
        # The rows this page shows now, by run id; a run not among them gets a new row on its first update.
        self.shown = {run.pk: run for run, _ in rows}
        self.hidden: set[int] = set()  # private or deleted runs: asked about once per connection
        await self.send_rows(rows, body_swap="true")

    async def run_progress(self, event: dict) -> None:
        progress = RunProgress.from_dict(event["snapshot"])
        run_id = progress.run_id
        if progress.is_private:
            return  # never sent to the public list, whoever is watching
        if run_id in self.shown:
            await self.send_rows([(self.shown[run_id], progress)], row_swap=True)
            return
        if run_id in self.hidden:
            return
        run = await database_sync_to_async(selectors.live_run)(run_id)
        if run is None:
            self.hidden.add(run_id)
            return
        was_empty = not self.shown
        self.shown[run_id] = run
        await self.send_rows([(run, progress)], body_swap="beforeend", drop_empty=was_empty)

    async def send_rows(self, rows: list[tuple], **swap) -> None:
        await self.send(text_data=render_for(self.scope, LIVE_RUNS_TEMPLATE, {"rows": rows, **swap}))
