"""Reads for the live pages and consumers: stored events, task progress, a run's live state.

Everything returned is plain JSON (the same shapes the websocket carries), so a page can
start from a server-rendered state and continue with live frames without a second format.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max
from django.db.models.fields.json import KeyTextTransform

from activity.events import Action, event_as_json, run_summary
from activity.models import RunEvent
from collection.models import CollectionRun, RunTask
from collection.quotas import quota_usage_get

RESYNC_CHUNK = 500  # events per websocket message when answering from the database
FEED_LIMIT = 200  # rows the live feed keeps
RUN_LIST_LIMIT = 50  # runs on the run list

# Per-worker counters the page shows; each counts events of one action.
WORKER_COUNTED_ACTIONS = (
    Action.FETCHING,
    Action.FOUND,
    Action.RATE_LIMITED,
    Action.RETRYING,
    Action.ERROR,
)
ERROR_ACTIONS = (Action.RETRYING, Action.ERROR)


def run_events_after(*, run_id: int, after: int, limit: int = RESYNC_CHUNK) -> list[dict]:
    """Up to ``limit`` stored events of a run with ``seq > after``, in seq order."""
    rows = RunEvent.objects.filter(run_id=run_id, seq__gt=after).order_by("seq")[:limit]
    return [event_as_json(row) for row in rows]


def run_progress_get(*, run_id: int) -> dict[str, dict[str, int]]:
    """Tasks per phase: total, finished (done/failed/skipped) and failed."""
    progress = {
        phase: {"total": 0, "finished": 0, "failed": 0} for phase in RunTask.Phase.values
    }
    rows = (
        RunTask.objects.filter(run_id=run_id)
        .values("phase", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        phase = progress.setdefault(row["phase"], {"total": 0, "finished": 0, "failed": 0})
        phase["total"] += row["n"]
        if row["status"] in RunTask.FINISHED_STATUSES:
            phase["finished"] += row["n"]
        if row["status"] == RunTask.Status.FAILED:
            phase["failed"] += row["n"]
    return progress


def run_progress_many(*, run_ids: list[int]) -> dict[int, dict[str, dict[str, int]]]:
    """``run_progress_get`` for several runs in one query."""
    result = {
        run_id: {p: {"total": 0, "finished": 0, "failed": 0} for p in RunTask.Phase.values}
        for run_id in run_ids
    }
    rows = (
        RunTask.objects.filter(run_id__in=run_ids)
        .values("run_id", "phase", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        phase = result[row["run_id"]].setdefault(
            row["phase"], {"total": 0, "finished": 0, "failed": 0}
        )
        phase["total"] += row["n"]
        if row["status"] in RunTask.FINISHED_STATUSES:
            phase["finished"] += row["n"]
        if row["status"] == RunTask.Status.FAILED:
            phase["failed"] += row["n"]
    return result


def run_summary_get(*, run_id: int) -> dict[str, Any] | None:
    """The run's summary with task progress, or None when there is no such run."""
    run = CollectionRun.objects.filter(pk=run_id).first()
    if run is None:
        return None
    return run_summary(run, progress=run_progress_get(run_id=run_id))


def run_list_get(*, limit: int = RUN_LIST_LIMIT) -> list[dict[str, Any]]:
    """The most recent runs, newest first, as summaries with progress."""
    runs = list(CollectionRun.objects.order_by("-created_at", "-id")[:limit])
    progress = run_progress_many(run_ids=[run.pk for run in runs])
    return [run_summary(run, progress=progress[run.pk]) for run in runs]


def run_live_state_get(*, run_id: int, feed_limit: int = FEED_LIMIT) -> dict[str, Any] | None:
    """Everything the run page shows, computed from the stored events up to ``last_seq``.

    The page renders this state and then applies every event with ``seq > last_seq`` (from
    the websocket) with the same rules, so a cold load of a finished run and a live view
    end in the same picture without replaying the whole history to the browser.
    """
    run = CollectionRun.objects.filter(pk=run_id).first()
    if run is None:
        return None
    events = RunEvent.objects.filter(run_id=run_id, seq__lte=run.event_seq)
    last_seq = events.aggregate(last=Max("seq"))["last"] or 0

    workers: dict[int, dict[str, Any]] = {}

    def worker(number: int) -> dict[str, Any]:
        return workers.setdefault(
            number,
            {
                "worker": number,
                "counts": {action: 0 for action in WORKER_COUNTED_ACTIONS},
                "last": None,
                "last_error": None,
            },
        )

    worker_events = events.filter(worker__gt=0)
    for row in (
        worker_events.filter(action__in=WORKER_COUNTED_ACTIONS)
        .values("worker", "action")
        .annotate(n=Count("id"))
        .order_by()
    ):
        worker(row["worker"])["counts"][row["action"]] = row["n"]
    last_seqs = list(
        worker_events.values("worker").annotate(m=Max("seq")).order_by().values_list("m", flat=True)
    )
    error_seqs = list(
        worker_events.filter(action__in=ERROR_ACTIONS)
        .values("worker")
        .annotate(m=Max("seq"))
        .order_by()
        .values_list("m", flat=True)
    )
    for row in RunEvent.objects.filter(run_id=run_id, seq__in=last_seqs):
        worker(row.worker)["last"] = event_as_json(row)
    for row in RunEvent.objects.filter(run_id=run_id, seq__in=error_seqs):
        worker(row.worker)["last_error"] = event_as_json(row)

    errors_by_type: dict[str, dict[str, int]] = {}
    for row in (
        events.filter(action__in=ERROR_ACTIONS)
        .annotate(error_type=KeyTextTransform("error_type", "data"))
        .values("action", "error_type")
        .annotate(n=Count("id"))
        .order_by()
    ):
        kind = row["error_type"] or "unknown"
        entry = errors_by_type.setdefault(kind, {Action.RETRYING: 0, Action.ERROR: 0})
        entry[row["action"]] += row["n"]

    feed = [event_as_json(row) for row in events.order_by("-seq")[:feed_limit]]
    feed.reverse()

    return {
        "run": run_summary(run, progress=run_progress_get(run_id=run_id)),
        "last_seq": last_seq,
        "workers": [workers[n] for n in sorted(workers)],
        "errors_by_type": errors_by_type,
        "rate_limited": events.filter(action=Action.RATE_LIMITED).count(),
        "feed": feed,
        "quotas": quota_usage_get(),  # quota hook: used / left / resets at, per provider
    }
