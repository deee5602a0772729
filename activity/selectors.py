"""Reads for the live pages and consumers: stored events, task progress, a run's live state.

Everything returned is plain JSON (the same shapes the websocket carries), so a page can
start from a server-rendered state and continue with live frames without a second format.
"""

from __future__ import annotations

import datetime as _dt
import math
import time
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Max
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import TruncSecond

from activity.models import RunEvent
from activity.payloads import Action, event_as_json, run_summary
from collection.models import CollectionRun
from collection.selectors import (
    quota_usage_get,
    run_progress_get,
    run_top_sellers_get,
    runs_progress_get,
)

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


def run_summary_for(*, run: CollectionRun) -> dict[str, Any]:
    """The summary of a run just read, with its task progress (the one progress read).
    The recorder's status messages carry it; the pages start from it."""
    return run_summary(run, progress=run_progress_get(run_id=run.pk, run=run).phases())


def run_summary_get(*, run_id: int) -> dict[str, Any] | None:
    """The run's summary with task progress, or None when there is no such run."""
    run = CollectionRun.objects.filter(pk=run_id).first()
    return None if run is None else run_summary_for(run=run)


def run_list_get(*, limit: int = RUN_LIST_LIMIT) -> list[dict[str, Any]]:
    """The most recent runs, newest first, as summaries with progress."""
    runs = list(CollectionRun.objects.order_by("-created_at", "-id")[:limit])
    progress = runs_progress_get(runs=runs)
    return [run_summary(run, progress=progress[run.pk].phases()) for run in runs]


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
    for event in RunEvent.objects.filter(run_id=run_id, seq__in=last_seqs):
        worker(event.worker)["last"] = event_as_json(event)
    for event in RunEvent.objects.filter(run_id=run_id, seq__in=error_seqs):
        worker(event.worker)["last_error"] = event_as_json(event)

    errors_by_type: dict[str, dict[str, int]] = {}
    for error_row in (
        events.filter(action__in=ERROR_ACTIONS)
        .annotate(error_type=KeyTextTransform("error_type", "data"))
        .values("action", "error_type")
        .annotate(n=Count("id"))
        .order_by()
    ):
        kind = error_row["error_type"] or "unknown"
        entry = errors_by_type.setdefault(kind, {Action.RETRYING: 0, Action.ERROR: 0})
        entry[error_row["action"]] += error_row["n"]

    feed = [event_as_json(row) for row in events.order_by("-seq")[:feed_limit]]
    feed.reverse()

    summary = run_summary_for(run=run)
    estimated_tasks = run_estimated_tasks(run.estimate)
    return {
        "run": summary,
        "estimated_tasks": estimated_tasks,
        "figures": run_progress_figures(summary=summary, estimated_tasks=estimated_tasks),
        "request_rate": run_request_rate_get(run_id=run_id),
        "last_seq": last_seq,
        "workers": [workers[n] for n in sorted(workers)],
        "errors_by_type": errors_by_type,
        "rate_limited": events.filter(action=Action.RATE_LIMITED).count(),
        "feed": feed,
        "quotas": quota_usage_get(),  # used / left / resets at, per provider
    }


# --- Progress an operator can trust, and the request-rate chart -------------------------

RATE_BUCKET_MIN_S = 5  # the request-rate chart's resolution
RATE_POINTS_MAX = 600  # … coarser buckets for long runs, so the chart stays small


def run_estimated_tasks(estimate: dict | None) -> dict[str, int]:
    """Tasks per phase the run's estimate expected (``CollectionRun.estimate``), 0 if unknown."""
    estimate = estimate or {}
    try:
        amazon = int(estimate.get("categories", 0)) * int(estimate.get("amazon_pages", 0))
        ebay = round(
            float(estimate.get("products", 0)) * float(estimate.get("ebay_pages_per_product", 1))
        )
    except (TypeError, ValueError):
        return {"amazon": 0, "ebay": 0}
    return {"amazon": max(amazon, 0), "ebay": max(ebay, 0)}


def run_progress_figures(
    *, summary: dict, estimated_tasks: dict[str, int], now: _dt.datetime | None = None
) -> dict[str, Any]:
    """Elapsed time, % done, ETA and the phases' denominators of a run summary.

    The eBay phase's tasks are created as the Amazon phase finds products, so their count
    grows until the Amazon phase is done: until then the eBay denominator is the estimate's
    task count (or the tasks already there, if more), then the tasks that exist. The ETA
    divides the tasks left by the run's actual rate (tasks finished per second since it
    started). ``static/activity/progress.js`` computes the same on the live page.
    """
    progress = summary.get("progress") or {}
    amazon = progress.get("amazon") or {"total": 0, "finished": 0}
    ebay = progress.get("ebay") or {"total": 0, "finished": 0}
    amazon_done = summary.get("phase") != "amazon" or (
        amazon["total"] > 0 and amazon["finished"] >= amazon["total"]
    )
    finished = summary.get("status") in ("completed", "failed", "cancelled")
    amazon_total = amazon["total"] or estimated_tasks.get("amazon", 0)
    ebay_total = ebay["total"]
    if not amazon_done and not finished:
        ebay_total = max(ebay_total, estimated_tasks.get("ebay", 0))
    total = amazon_total + ebay_total
    done = amazon["finished"] + ebay["finished"]

    started = _parse_time(summary.get("started_at"))
    ended = _parse_time(summary.get("finished_at")) if finished else None
    now = now or _dt.datetime.now(_dt.UTC)
    elapsed = max(((ended or now) - started).total_seconds(), 0.0) if started else None
    rate = done / elapsed if elapsed and done else None
    eta = None
    if not finished and rate and total > done:
        eta = (total - done) / rate
    return {
        "amazon_total": amazon_total,
        "ebay_total": ebay_total,
        "ebay_estimated": not amazon_done and not finished and ebay_total > ebay["total"],
        "percent": 100.0 if finished and total == done else 100.0 * done / total if total else 0.0,
        "elapsed_s": elapsed,
        "eta_s": eta,
        "tasks_per_s": rate,
    }


def _parse_time(value: str | None) -> _dt.datetime | None:
    if not value:
        return None
    try:
        return _dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def run_request_rate_get(*, run_id: int) -> dict[str, Any]:
    """Requests per second over the run, from its stored ``fetching`` events (one per
    request sent), in buckets: ``{"bucket_s": 5, "points": [[epoch_s, per_s], …]}``.

    The live page continues the series with the ``fetching`` events it receives.
    """
    per_second = list(
        RunEvent.objects.filter(run_id=run_id, action=Action.FETCHING)
        .annotate(second=TruncSecond("ts"))
        .values("second")
        .annotate(n=Count("id"))
        .order_by("second")
    )
    if not per_second:
        return {"bucket_s": RATE_BUCKET_MIN_S, "points": []}
    first = per_second[0]["second"].timestamp()
    last = per_second[-1]["second"].timestamp()
    bucket = max(RATE_BUCKET_MIN_S, math.ceil((last - first + 1) / RATE_POINTS_MAX))
    counts: dict[int, int] = {}
    for row in per_second:
        start = int(row["second"].timestamp()) // bucket * bucket
        counts[start] = counts.get(start, 0) + row["n"]
    start, end = min(counts), max(counts)
    points = [[t, round(counts.get(t, 0) / bucket, 2)] for t in range(start, end + 1, bucket)]
    return {"bucket_s": bucket, "points": points}


def run_duration_s(summary: dict, *, now: _dt.datetime | None = None) -> float | None:
    """Seconds from start to finish (to now while it runs); None before it started."""
    started = _parse_time(summary.get("started_at"))
    if started is None:
        return None
    ended = _parse_time(summary.get("finished_at")) or now or _dt.datetime.now(_dt.UTC)
    return max((ended - started).total_seconds(), 0.0)


def run_result_text(summary: dict) -> str:
    """What a run came to, in a few words (the run list's Result column; run_list.js
    writes the same for live rows)."""
    status = summary.get("status")
    message = (summary.get("status_message") or "").strip()
    if status == "completed":
        new, found = summary.get("sellers_new", 0), summary.get("sellers_found", 0)
        text = f"{new:,} new of {found:,} sellers"
        failed = summary.get("failed_tasks") or 0
        return text + (f", {failed:,} tasks failed" if failed else "")
    if status in ("failed", "paused"):
        label = "Failed" if status == "failed" else "Paused"
        return f"{label}: {message[:120]}" if message else label
    if status == "cancelled":
        return "Cancelled"
    return "–"


# The run's top and new dropshippers aggregate every matched sighting of the run (~1 s for
# a run of 1M sightings, bench/leaderboard.py): one read per page every few seconds would
# be that scan once per open page. Pages of the same run share one answer (per process) for
# at least 5 s and ten times as long as the read took, so a big run's board costs at most a
# tenth of a core; a finished run's board changes only with renames and deletions.
RUN_SELLERS_CACHE_SECONDS = 5
RUN_SELLERS_CACHE_COST_FACTOR = 10
RUN_SELLERS_CACHE_SECONDS_FINISHED = 600


def run_sellers_board_get(*, run_id: int, finished: bool) -> dict[str, Any]:
    """``{"top": [...], "new": [...]}`` of a run (``collection.selectors.run_top_sellers_get``)."""
    key = f"activity:run-sellers:{run_id}"
    board = cache.get(key)
    if board is not None:
        return board
    started = time.monotonic()
    board = {
        "top": run_top_sellers_get(run_id=run_id),
        "new": run_top_sellers_get(run_id=run_id, new_only=True),
    }
    cost = time.monotonic() - started
    timeout = (
        RUN_SELLERS_CACHE_SECONDS_FINISHED
        if finished
        else max(RUN_SELLERS_CACHE_SECONDS, RUN_SELLERS_CACHE_COST_FACTOR * cost)
    )
    cache.set(key, board, timeout=timeout)
    return board
