"""The event vocabulary of a run: actions, group names and the payloads on the wire.

A leaf: everyone reads it (the engine's recorder, the selectors, the consumers, the
pages' scripts mirror it) and it imports nothing of the project. Every payload is plain
JSON (ids, ISO strings, numbers), built from a row or a summary the caller already has.
"""

from __future__ import annotations

import json
from typing import Any

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


Messages = list[tuple[str, dict]]  # (group, message), sent in this order


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


def frame_message(run_id: int, events: list[dict[str, Any]]) -> dict[str, Any]:
    """The channel-layer message of one frame: its seq range and its websocket text.

    The text is what every page receives (``{"type": "events", ...}``), encoded once here
    rather than by every consumer: the layer then carries one string, which a receiving
    process unpacks in microseconds however many pages it serves (the pub/sub layer
    unpacks a message once per consumer). ``first``/``last`` let a consumer check the
    frame against what it sent without decoding it.
    """
    return {
        "type": "run.frame",
        "run": run_id,
        "first": events[0]["seq"],
        "last": events[-1]["seq"],
        "text": json.dumps(
            {"type": "events", "events": events, "replay": False}, separators=(",", ":")
        ),
    }


def run_summary(run, *, progress: dict | None = None) -> dict[str, Any]:
    """Status and counters of a run, as plain JSON (run list and run page headers).

    ``event_seq`` is the last event stored: a page that has less asks for the rest.
    ``progress`` (tasks per phase, ``collection.selectors.RunProgress.phases``) is included
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


def status_messages(summary: dict) -> Messages:
    """A run's status goes to the run list and to the run's page."""
    message = {"type": "run.status", "run": summary}
    return [(RUNS_GROUP, message), (run_group(summary["id"]), message)]
