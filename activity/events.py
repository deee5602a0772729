"""The event vocabulary of a run, and how events are stored and published.

A worker step calls ``EventRecorder.emit`` (cheap: it appends to a buffer). Every
``ACTIVITY_FRAME_SECONDS`` the engine calls ``aflush``: the buffered events get their
``seq`` numbers from ``CollectionRun.event_seq`` and are inserted as ``RunEvent`` rows in
one transaction; only after it commits is one *frame* (the list of those events) sent to
the run's Channels group. Delivery through the channel layer is at most once; pages
detect a gap in ``seq`` and ask the consumer to replay from the database.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

logger = logging.getLogger(__name__)

RUNS_GROUP = "runs"


def run_group(run_id: int) -> str:
    return f"run.{run_id}"


class Action:
    """Event actions. Worker events come from worker ids ≥ 1; system events from 0."""

    # Worker events.
    FETCHING = "fetching"  # a request is about to be sent
    FOUND = "found"  # a page was fetched and parsed: counts of what it held
    RATE_LIMITED = "rate_limited"  # the provider said 429 / we wait for Retry-After
    RETRYING = "retrying"  # a retry is scheduled after a delay
    ERROR = "error"  # a task failed for good
    # System events (worker 0).
    STORED = "stored"  # a batch of task results committed
    DEDUPED = "deduped"  # sellers in a batch matched existing ones
    INSERTED = "inserted"  # new sellers inserted
    RUN_STARTED = "run_started"
    PHASE_STARTED = "phase_started"
    PHASE_FINISHED = "phase_finished"
    PAUSED = "paused"
    RESUMED = "resumed"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    FAILED = "failed"
    STATUS = "status"  # run status/counters changed (run list)

    WORKER = frozenset({FETCHING, FOUND, RATE_LIMITED, RETRYING, ERROR})


def _publish(group: str, message: dict) -> None:
    """Send to the channel layer; a broken layer never breaks a run (events are stored)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:  # the layer is a best-effort accelerator over the stored events
        logger.warning("could not publish to %s", group, exc_info=True)


async def _apublish(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(group, message)
    except Exception:  # see _publish
        logger.warning("could not publish to %s", group, exc_info=True)


def event_as_json(event) -> dict[str, Any]:
    """The wire form of a stored RunEvent (plain JSON)."""
    return {
        "run": event.run_id,
        "seq": event.seq,
        "ts": event.ts.isoformat(),
        "worker": event.worker,
        "phase": event.phase,
        "action": event.action,
        "data": event.data,
    }


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

    def emit(self, action: str, *, worker: int = 0, phase: str = "", **data: Any) -> None:
        with self._lock:
            self._buffer.append((timezone.now(), worker, phase, action, data))
            self.emitted += 1

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
        from activity.selectors import run_summary_get

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
                await _apublish_status(summary)
        except Exception:  # like a failed publish: the stored state is what counts
            logger.warning("run %s: could not publish its status", self.run_id, exc_info=True)
        finally:
            if self._trailing_task is asyncio.current_task():
                self._trailing_task = None
                if self._status_owed and self._trailing is None:
                    self._owe_status()  # a flush came in while this one was publishing

    def _persist(self, buffer: list[tuple], *, with_status: bool = False):
        """Insert the events with their seq numbers; return (frame, status summary or None)."""
        from activity.models import RunEvent
        from activity.selectors import run_progress_get
        from collection.models import CollectionRun

        summary = None
        with transaction.atomic():
            CollectionRun.objects.filter(pk=self.run_id).update(
                event_seq=F("event_seq") + len(buffer)
            )
            if with_status:
                run = CollectionRun.objects.get(pk=self.run_id)
                last = run.event_seq
                summary = run_summary(run, progress=run_progress_get(run_id=self.run_id))
            else:
                last = CollectionRun.objects.values_list("event_seq", flat=True).get(
                    pk=self.run_id
                )
            first = last - len(buffer) + 1
            rows = [
                RunEvent(
                    run_id=self.run_id, seq=first + i, ts=ts, worker=worker, phase=phase,
                    action=action, data=data,
                )
                for i, (ts, worker, phase, action, data) in enumerate(buffer)
            ]
            RunEvent.objects.bulk_create(rows)
        return [event_as_json(row) for row in rows], summary

    def flush(self) -> int:
        """Store buffered events and publish them after commit (sync callers)."""
        buffer = self._take()
        if not buffer:
            return 0
        frame, summary = self._persist(buffer, with_status=self._status_wanted())
        message = {"type": "run.frame", "run": self.run_id, "events": frame}
        group = run_group(self.run_id)

        def send() -> None:
            _publish(group, message)
            if summary is not None:
                _publish_status(summary)

        transaction.on_commit(send)
        return len(frame)

    async def aflush(self) -> int:
        """Store buffered events, then publish them (the store's transaction has committed)."""
        buffer = self._take()
        if not buffer:
            return 0
        with_status = self._status_wanted()
        frame, summary = await sync_to_async(self._persist)(buffer, with_status=with_status)
        await _apublish(
            run_group(self.run_id), {"type": "run.frame", "run": self.run_id, "events": frame}
        )
        if summary is not None:
            self._status_owed = False
            await _apublish_status(summary)
        else:
            self._owe_status()
        return len(frame)

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
                await _apublish_status(summary)


def run_summary(run, *, progress: dict | None = None) -> dict[str, Any]:
    """Status and counters of a run, as plain JSON (run list and run page headers).

    ``event_seq`` is the last event stored: a page that has less asks for the rest.
    ``progress`` (tasks per phase, see ``activity.selectors.run_progress_get``) is included
    when the caller computed it.
    """
    summary = {
        "id": run.pk,
        "status": run.status,
        "status_label": run.get_status_display(),
        "phase": run.phase,
        "pause_reason": run.pause_reason,
        "status_message": run.status_message,
        "workers": run.workers,
        "products_found": run.products_found,
        "ebay_searches": run.ebay_searches,
        "sellers_found": run.sellers_found,
        "sellers_new": run.sellers_new,
        "sightings": run.sightings,
        "requests": run.requests,
        "retries": run.retries,
        "failed_tasks": run.failed_tasks,
        "skipped_records": run.skipped_records,
        "event_seq": run.event_seq,
        "created_at": run.created_at.isoformat() if run.created_at else None,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }
    if progress is not None:
        summary["progress"] = progress
    return summary


def _status_message(summary: dict) -> dict:
    return {"type": "run.status", "run": summary}


def _publish_status(summary: dict) -> None:
    message = _status_message(summary)
    _publish(RUNS_GROUP, message)
    _publish(run_group(summary["id"]), message)


async def _apublish_status(summary: dict) -> None:
    message = _status_message(summary)
    await _apublish(RUNS_GROUP, message)
    await _apublish(run_group(summary["id"]), message)


def run_status_publish(*, run) -> None:
    """After commit, tell the run list and the run's page that its status/counters changed.

    Called by the run services inside their transaction: the summary (with task progress)
    is read now, published only if the transaction commits.
    """
    from activity.selectors import run_progress_get

    summary = run_summary(run, progress=run_progress_get(run_id=run.pk))
    transaction.on_commit(lambda: _publish_status(summary))
