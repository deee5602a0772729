"""Websocket consumers of the live pages: authenticate, join a group, replay, forward.

Wire format (JSON text frames)::

    client → server
        {"type": "resync", "after": 41}        events with seq > 41, from the database

    server → client (/ws/runs/<id>/)
        {"type": "status", "run": {...summary...}}
        {"type": "events", "events": [...], "replay": true|false}
        {"type": "synced", "through": 97}        a replay ended; the client has ≤ 97
        {"type": "error", "message": "..."}

    server → client (/ws/runs/)
        {"type": "runs", "runs": [{...summary...}, ...]}

Delivery through the channel layer is at most once. On connect the consumer joins the
group *before* it reads the backlog, so nothing committed in between is missed; the
consumer handles one message at a time, so frames that arrive while it sends the backlog
wait in its channel and are forwarded afterwards, minus what the backlog already carried.
A frame that does not follow what was sent (a lost frame, or a late one from another
process) makes the consumer answer from the database instead. Clients dedupe by seq and
ask for a resync themselves after a reconnect or when they see a gap.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from activity.access import CLOSE_NOT_FOUND, websocket_refusal
from activity.payloads import RUNS_GROUP, run_group
from activity.selectors import (
    RESYNC_CHUNK,
    RUN_LIST_LIMIT,
    run_events_after,
    run_list_get,
    run_summary_get,
)

logger = logging.getLogger(__name__)


def _non_negative_int(value) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


class _JsonConsumer(AsyncJsonWebsocketConsumer):
    """Shared: refuse users who may not watch runs (accept, then close with a code)."""

    group: str | None = None
    # Channel-layer messages whose handlers only forward what they carry.
    forward_only = frozenset({"run.frame", "run.status"})

    async def dispatch(self, message):
        """Channels closes stale database connections before every handler, a thread hop
        per message; frames and statuses that are only forwarded skip it (a replay reads
        through ``database_sync_to_async``, which closes them itself). With 100 pages on a
        run that hop was a fifth of daphne's CPU (bench/fanout.py)."""
        if message["type"] in self.forward_only:
            await getattr(self, get_handler_name(message))(message)
            return
        await super().dispatch(message)

    @classmethod
    async def decode_json(cls, text_data):
        try:
            return json.loads(text_data)
        except ValueError:
            return None

    async def refuse_if_needed(self) -> bool:
        """Close with 4401/4403 when the user may not subscribe. Returns True if refused.

        The socket is accepted first so the close code reaches the page, which then stops
        reconnecting and says why; nothing is sent before the close.
        """
        code = await database_sync_to_async(websocket_refusal)(self.scope.get("user"))
        if code is None:
            return False
        await self.accept()
        await self.close(code=code)
        return True

    async def join(self, group: str) -> None:
        self.group = group
        await self.channel_layer.group_add(group, self.channel_name)

    async def disconnect(self, code):
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None


class RunConsumer(_JsonConsumer):
    """``/ws/runs/<id>/?after=<seq>``: one run's events, backlog first, then live."""

    async def connect(self):
        self.run_id = self.scope["url_route"]["kwargs"]["run_id"]
        self.sent_seq = 0  # highest seq sent to this client
        if await self.refuse_if_needed():
            return
        summary = await database_sync_to_async(run_summary_get)(run_id=self.run_id)
        await self.accept()
        if summary is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.join(run_group(self.run_id))
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        after = _non_negative_int((query.get("after") or ["0"])[0]) or 0
        # A client cannot have more than what is stored; never skip live events for it.
        after = min(after, summary["event_seq"])
        await self.send_json({"type": "status", "run": summary})
        await self.replay(after=after)

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict) or content.get("type") != "resync":
            await self.send_json({"type": "error", "message": "expected {type: resync, after}"})
            return
        after = _non_negative_int(content.get("after"))
        if after is None:
            await self.send_json({"type": "error", "message": "after must be an integer ≥ 0"})
            return
        await self.replay(after=after)

    async def replay(self, *, after: int) -> None:
        """Send every stored event with seq > after, in chunks, then a ``synced`` marker."""
        self.sent_seq = max(self.sent_seq, after)
        while True:
            events = await database_sync_to_async(run_events_after)(
                run_id=self.run_id, after=after, limit=RESYNC_CHUNK
            )
            if events:
                await self.send_json({"type": "events", "events": events, "replay": True})
                after = events[-1]["seq"]
                self.sent_seq = max(self.sent_seq, after)
            if len(events) < RESYNC_CHUNK:
                break
        await self.send_json({"type": "synced", "through": self.sent_seq})

    # Channel layer handlers (type "run.frame" → run_frame, "run.status" → run_status).

    async def run_frame(self, message):
        """Forward a frame's text as published (``activity.payloads.frame_message``): it was
        encoded once for every page; only a frame that overlaps what a replay already sent
        is decoded and trimmed."""
        first, last = message["first"], message["last"]
        if last <= self.sent_seq:
            return
        if first > self.sent_seq + 1:
            # A lost or out-of-order frame: its events are committed, so the database
            # has everything up to this frame's end.
            await self.replay(after=self.sent_seq)
            return
        if first == self.sent_seq + 1:  # the usual case: the whole frame
            await self.send(text_data=message["text"])
        else:
            events = json.loads(message["text"])["events"]
            fresh = [event for event in events if event["seq"] > self.sent_seq]
            await self.send_json({"type": "events", "events": fresh, "replay": False})
        self.sent_seq = last

    async def run_status(self, message):
        await self.send_json({"type": "status", "run": message["run"]})


class RunListConsumer(_JsonConsumer):
    """``/ws/runs/``: status and counters of every run, coalesced per connection.

    The first update after a quiet spell goes out at once; later ones within
    ``coalesce_seconds`` are merged (the latest summary of each run wins) and sent
    together, so a client gets at most ``1 / coalesce_seconds`` messages a second
    whatever the number of runs and their producers.
    """

    coalesce_seconds = 0.5

    async def connect(self):
        self.pending: dict[int, dict] = {}
        self.flusher: asyncio.Task | None = None
        self.last_sent = 0.0
        if await self.refuse_if_needed():
            return
        await self.accept()
        await self.join(RUNS_GROUP)
        # What the page rendered may be seconds old: bring every listed run up to date.
        summaries = await database_sync_to_async(run_list_get)(limit=RUN_LIST_LIMIT)
        await self.send_json({"type": "runs", "runs": summaries})
        self.last_sent = time.monotonic()

    async def receive_json(self, content, **kwargs):
        await self.send_json({"type": "error", "message": "this stream takes no messages"})

    async def run_status(self, message):
        summary = message["run"]
        known = self.pending.get(summary["id"])
        if known is not None and known.get("event_seq", 0) > summary.get("event_seq", 0):
            return  # a late, older summary
        self.pending[summary["id"]] = summary
        if self.flusher is not None:
            return
        wait = self.last_sent + self.coalesce_seconds - time.monotonic()
        if wait <= 0:
            await self.flush()
        else:
            self.flusher = asyncio.create_task(self.flush_later(wait))

    async def flush_later(self, wait: float) -> None:
        await asyncio.sleep(wait)
        self.flusher = None
        await self.flush()

    async def flush(self) -> None:
        if not self.pending:
            return
        runs, self.pending = list(self.pending.values()), {}
        self.last_sent = time.monotonic()
        await self.send_json({"type": "runs", "runs": runs})

    async def disconnect(self, code):
        if self.flusher is not None:
            self.flusher.cancel()
            self.flusher = None
        await super().disconnect(code)
