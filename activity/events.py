"""How a run's events are stored and published: the recorder, and the status change.

A worker step calls ``EventRecorder.emit`` (cheap: it appends to a buffer). Every
``ACTIVITY_FRAME_SECONDS``, or sooner once ``ACTIVITY_FRAME_EVENTS`` are buffered
(``frame_due``), the engine calls ``aflush``: the buffered events get their
``seq`` numbers from ``CollectionRun.event_seq`` and are inserted as ``RunEvent`` rows in
one transaction; only after it commits is one *frame* (the list of those events) sent to
the run's Channels group (``activity.publish``). Delivery through the channel layer is at
most once; pages detect a gap in ``seq`` and ask the consumer to replay from the database.

A status message carries the run's summary with its task progress
(``activity.selectors.run_summary_get``, on the one progress selector
``collection.selectors.run_progress_get``): the pages start from the same read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from activity.models import RunEvent
from activity.payloads import (
    Messages,
    frame_message,
    run_group,
    status_messages,
)
from activity.publish import apublish_many, hand_over, publish_on_commit
from activity.selectors import run_summary_for, run_summary_get
from collection.models import CollectionRun

__all__ = ["EventRecorder", "run_status_publish"]

logger = logging.getLogger(__name__)


def _store_postgres(run_id: int, buffer: list[tuple]) -> int:
    """One statement, one round trip (atomic on its own, or inside the caller's
    transaction): bump the run's ``event_seq`` and insert the events numbered from it.
    Returns the last seq. A frame's store used to take four round trips, each waiting for
    the GIL behind the run's busy loop, and a model instance per event."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH bumped AS (
                UPDATE {CollectionRun._meta.db_table} SET event_seq = event_seq + %(count)s
                WHERE id = %(run)s RETURNING event_seq
            ), inserted AS (
                INSERT INTO {RunEvent._meta.db_table}
                    (run_id, seq, ts, worker, phase, action, data)
                SELECT %(run)s, bumped.event_seq - %(count)s + e.ord, e.ts, e.worker,
                       e.phase, e.action, e.data::jsonb
                FROM bumped, unnest(
                    %(ts)s::timestamptz[], %(worker)s::integer[], %(phase)s::text[],
                    %(action)s::text[], %(data)s::text[]
                ) WITH ORDINALITY AS e(ts, worker, phase, action, data, ord)
            )
            SELECT event_seq FROM bumped
            """,
            {
                "run": run_id,
                "count": len(buffer),
                "ts": [ts for ts, _, _, _, _ in buffer],
                "worker": [worker for _, worker, _, _, _ in buffer],
                # str(): a TextChoices member is its value (psycopg would dump its name).
                "phase": [str(phase) for _, _, phase, _, _ in buffer],
                "action": [str(action) for _, _, _, action, _ in buffer],
                "data": [json.dumps(data) for _, _, _, _, data in buffer],
            },
        )
        row = cursor.fetchone()
    if row is None:
        raise CollectionRun.DoesNotExist(f"run {run_id} does not exist")
    return row[0]


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


class EventRecorder:
    """Buffers one run's events in one process and flushes them as frames.

    Thread-safe for ``emit`` (workers run on one event loop, store flushes in a thread).

    Besides frames, a flush publishes the run's status and counters (``run.status`` to the
    ``runs`` group and the run's group) at most every ``ACTIVITY_STATUS_SECONDS``: that is
    how the run list and the progress bar follow a run whose counters the store updates
    batch by batch, without a message per batch. An async flush that skipped the status
    (not due yet) owes one: it is sent when due, so the last counters of a burst are never
    left unpublished when the run goes quiet.
    """

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self._buffer: list[tuple] = []
        self._lock = threading.Lock()
        self.emitted = 0
        self.publish_failures = 0
        self._status_interval = settings.ACTIVITY_STATUS_SECONDS
        self._status_due = 0.0  # time.monotonic() after which the next flush sends status
        self._status_owed = False
        self._trailing: asyncio.TimerHandle | None = None
        self._trailing_task: asyncio.Task | None = None
        self._frame_events = max(1, int(settings.ACTIVITY_FRAME_EVENTS))
        # Set by frame_due: wakes it (from any thread).
        self._frame_full: Callable[[], None] | None = None

    def emit(self, action: str, *, worker: int = 0, phase: str = "", **data: Any) -> None:
        with self._lock:
            self._buffer.append((timezone.now(), worker, phase, action, data))
            self.emitted += 1
            full = len(self._buffer) == self._frame_events
        if full:
            wake = self._frame_full
            if wake is not None:
                wake()

    async def frame_due(self, seconds: float) -> None:
        """Return when the next frame is due: after ``seconds``, or once a frame's worth of
        events (``ACTIVITY_FRAME_EVENTS``) is buffered, but not before a quarter of
        ``seconds`` (at most 4 frames per interval per run, whatever its rate).

        Called by the engine's events loop between flushes. A page gets a frame's events
        after every page before it got theirs (one daphne process sends them in turn, one
        browser parses its own): smaller frames when a run is busy keep that wait short.
        """
        floor = seconds / 4
        await asyncio.sleep(floor)
        if len(self._buffer) >= self._frame_events:
            return
        loop = asyncio.get_running_loop()
        woken = loop.create_future()

        def wake() -> None:  # emit, on this loop or in the store's thread
            try:
                loop.call_soon_threadsafe(_resolve, woken)
            except RuntimeError:  # the loop has just closed: no frame is due any more
                pass

        self._frame_full = wake
        try:
            if len(self._buffer) >= self._frame_events:  # filled meanwhile
                return
            async with asyncio.timeout(seconds - floor):
                await woken
        except TimeoutError:
            pass
        finally:
            self._frame_full = None

    def pending(self) -> int:
        return len(self._buffer)

    def _take(self) -> list[tuple]:
        with self._lock:
            buffer, self._buffer = self._buffer, []
        return buffer

    def _status_wanted(self) -> bool:
        now = time.monotonic()
        if now < self._status_due:
            return False
        self._status_due = now + self._status_interval
        return True

    def _summary(self) -> dict[str, Any] | None:
        return run_summary_get(run_id=self.run_id)

    def _owe_status(self) -> None:
        """Schedule the status this flush skipped for when it is due (async callers)."""
        self._status_owed = True
        if self._trailing is not None or self._trailing_task is not None:
            return
        loop = asyncio.get_running_loop()
        delay = max(0.0, self._status_due - time.monotonic())
        self._trailing = loop.call_later(delay, self._trailing_fire, loop)

    def _trailing_fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._trailing = None
        self._trailing_task = loop.create_task(self._trailing_status())

    async def _trailing_status(self) -> None:
        try:
            if not self._status_owed:
                return
            if not self._status_wanted():  # a flush published meanwhile; owe the rest
                self._trailing_task = None
                self._owe_status()
                return
            self._status_owed = False
            summary = await sync_to_async(self._summary)()
            if summary is not None:
                await apublish_many(status_messages(summary))
        except Exception:  # like a failed publish: the stored state is what counts
            logger.warning("run %s: could not publish its status", self.run_id, exc_info=True)
        finally:
            if self._trailing_task is asyncio.current_task():
                self._trailing_task = None
                if self._status_owed and self._trailing is None:
                    self._owe_status()  # a flush came in while this one was publishing

    def _persist(self, buffer: list[tuple], *, with_status: bool = False):
        """Insert the events with their seq numbers; return (frame, status summary or None).

        The summary is read after the events are stored (``event_seq`` ≥ the frame's last
        seq). Inside the caller's transaction if there is one (``flush``).
        """
        frame = self._store(buffer)
        return frame, (self._summary() if with_status else None)

    def _store(self, buffer: list[tuple]) -> list[dict[str, Any]]:
        """Hand out the next seq numbers and insert the events, atomically; the frame."""
        if connection.vendor == "postgresql":
            last = _store_postgres(self.run_id, buffer)
        else:
            last = self._store_orm(buffer)
        first = last - len(buffer) + 1
        return [
            {
                "run": self.run_id,
                "seq": first + i,
                "ts": ts.isoformat(),
                "worker": worker,
                "phase": phase,
                "action": action,
                "data": data,
            }
            for i, (ts, worker, phase, action, data) in enumerate(buffer)
        ]

    def _store_orm(self, buffer: list[tuple]) -> int:
        with transaction.atomic():
            CollectionRun.objects.filter(pk=self.run_id).update(
                event_seq=F("event_seq") + len(buffer)
            )
            last = CollectionRun.objects.values_list("event_seq", flat=True).get(pk=self.run_id)
            first = last - len(buffer) + 1
            RunEvent.objects.bulk_create(
                RunEvent(
                    run_id=self.run_id,
                    seq=first + i,
                    ts=ts,
                    worker=worker,
                    phase=phase,
                    action=action,
                    data=data,
                )
                for i, (ts, worker, phase, action, data) in enumerate(buffer)
            )
        return last

    def _messages(self, frame: list[dict], summary: dict | None) -> Messages:
        messages = [(run_group(self.run_id), frame_message(self.run_id, frame))]
        if summary is not None:
            messages += status_messages(summary)
        return messages

    def flush(self) -> int:
        """Store buffered events and publish them after commit (sync callers)."""
        buffer = self._take()
        if not buffer:
            return 0
        frame, summary = self._persist(buffer, with_status=self._status_wanted())
        publish_on_commit(self._messages(frame, summary))
        return len(frame)

    def _persist_and_hand_over(self, buffer: list[tuple], *, with_status: bool):
        """Store the events and hand the frame to the publisher as soon as it commits, from
        this (database) thread: the run's loop, busy with workers, is not on the way. The
        status, when due, is read and handed over after the frame.

        Returns (messages, summary, the future of the last hand-over or None).
        """
        frame = self._store(buffer)  # committed: aflush runs outside any transaction
        messages = self._messages(frame, None)
        handed = hand_over(messages)  # the publisher reads this list from now on
        summary = self._summary() if with_status else None
        if summary is not None:
            status = status_messages(summary)
            messages = messages + status  # a new list: never extend one handed over
            if handed is not None:
                handed = hand_over(status)
        return messages, summary, handed

    async def aflush(self) -> int:
        """Store buffered events, then publish them (the store's transaction has committed).

        Returns once the frame (and a due status) is sent, so a caller that flushes last
        before its loop ends loses nothing; the sending itself does not wait for this loop.
        """
        buffer = self._take()
        if not buffer:
            return 0
        with_status = self._status_wanted()
        messages, summary, handed = await sync_to_async(self._persist_and_hand_over)(
            buffer, with_status=with_status
        )
        await apublish_many(messages, handed)
        if summary is not None:
            self._status_owed = False
        else:
            self._owe_status()
        return len(buffer)

    async def aclose(self) -> None:
        """Flush, and publish an owed status now: the run's event loop is about to end."""
        await self.aflush()
        if self._trailing is not None:
            self._trailing.cancel()
            self._trailing = None
        if self._trailing_task is not None:
            await asyncio.gather(self._trailing_task, return_exceptions=True)
        if self._status_owed:
            self._status_owed = False
            summary = await sync_to_async(self._summary)()
            if summary is not None:
                await apublish_many(status_messages(summary))


def run_status_publish(*, run: CollectionRun) -> None:
    """After commit, tell the run list and the run's page that its status/counters changed.

    Called by the lifecycle inside its transaction: the summary (with task progress) is
    read now and published only if the transaction commits.
    """
    publish_on_commit(status_messages(run_summary_for(run=run)))
