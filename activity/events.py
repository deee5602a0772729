"""The event vocabulary of a run, and how events are stored and published.

A worker step calls ``EventRecorder.emit`` (cheap: it appends to a buffer). Every
``ACTIVITY_FRAME_SECONDS`` the engine calls ``aflush``: the buffered events get their
``seq`` numbers from ``CollectionRun.event_seq`` and are inserted as ``RunEvent`` rows in
one transaction; only after it commits is one *frame* (the list of those events) sent to
the run's Channels group. Delivery through the channel layer is at most once; pages
detect a gap in ``seq`` and ask the consumer to replay from the database.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
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
    """

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self._buffer: list[tuple] = []
        self._lock = threading.Lock()
        self.emitted = 0
        self.publish_failures = 0

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

    def _persist(self, buffer: list[tuple]) -> list[dict]:
        from activity.models import RunEvent
        from collection.models import CollectionRun

        with transaction.atomic():
            CollectionRun.objects.filter(pk=self.run_id).update(
                event_seq=F("event_seq") + len(buffer)
            )
            last = CollectionRun.objects.values_list("event_seq", flat=True).get(pk=self.run_id)
            first = last - len(buffer) + 1
            rows = [
                RunEvent(
                    run_id=self.run_id, seq=first + i, ts=ts, worker=worker, phase=phase,
                    action=action, data=data,
                )
                for i, (ts, worker, phase, action, data) in enumerate(buffer)
            ]
            RunEvent.objects.bulk_create(rows)
        return [event_as_json(row) for row in rows]

    def flush(self) -> int:
        """Store buffered events and publish them after commit (sync callers)."""
        buffer = self._take()
        if not buffer:
            return 0
        frame = self._persist(buffer)
        message = {"type": "run.frame", "run": self.run_id, "events": frame}
        transaction.on_commit(lambda: _publish(run_group(self.run_id), message))
        return len(frame)

    async def aflush(self) -> int:
        """Store buffered events, then publish them (the store's transaction has committed)."""
        buffer = self._take()
        if not buffer:
            return 0
        frame = await sync_to_async(self._persist)(buffer)
        await _apublish(
            run_group(self.run_id), {"type": "run.frame", "run": self.run_id, "events": frame}
        )
        return len(frame)


def run_summary(run) -> dict[str, Any]:
    """Status and counters of a run, as plain JSON (run list and run page headers)."""
    return {
        "id": run.pk,
        "status": run.status,
        "phase": run.phase,
        "pause_reason": run.pause_reason,
        "status_message": run.status_message,
        "products_found": run.products_found,
        "ebay_searches": run.ebay_searches,
        "sellers_found": run.sellers_found,
        "sellers_new": run.sellers_new,
        "sightings": run.sightings,
        "requests": run.requests,
        "retries": run.retries,
        "failed_tasks": run.failed_tasks,
        "created_at": run.created_at.isoformat() if run.created_at else None,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def run_status_publish(*, run) -> None:
    """After commit, tell the run list and the run's page that its status/counters changed."""
    message = {"type": "run.status", "run": run_summary(run)}

    def send() -> None:
        _publish(RUNS_GROUP, message)
        _publish(run_group(run.pk), message)

    transaction.on_commit(send)
