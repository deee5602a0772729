"""Reads about runs: progress (the one progress read), control, quota usage."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

from django.db.models import Count
from django.utils import timezone as _timezone

from collection.models import (
    CollectionRun,
    ProviderUsage,
    RunTask,
)
from collection.quota_windows import Window as QuotaWindow
from collection.quota_windows import quotas_configured


@dataclass(slots=True)
class RunProgress:
    """Where a run stands: task counts per phase and the run's counters.

    The one progress read: the engine's progress display, the status messages and the
    live pages all start from it (``phases()`` is the shape the pages carry).
    ``requests_per_s``, ``elapsed_s`` and ``busy_workers`` are filled in by the engine of
    the process that reports it (they are not stored).
    """

    run_id: int
    status: str
    phase: str
    amazon_total: int = 0
    amazon_finished: int = 0
    amazon_failed: int = 0
    ebay_total: int = 0
    ebay_finished: int = 0
    ebay_failed: int = 0
    failed_tasks: int = 0
    products: int = 0
    ebay_searches: int = 0
    sellers_found: int = 0
    sellers_new: int = 0
    sightings: int = 0
    requests: int = 0
    retries: int = 0
    requests_per_s: float = 0.0
    elapsed_s: float = 0.0
    busy_workers: int = 0
    extra: dict = field(default_factory=dict)

    def phases(self) -> dict[str, dict[str, int]]:
        """Tasks per phase: total, finished (done/failed/skipped) and failed (plain JSON)."""
        return {
            RunTask.Phase.AMAZON.value: {
                "total": self.amazon_total,
                "finished": self.amazon_finished,
                "failed": self.amazon_failed,
            },
            RunTask.Phase.EBAY.value: {
                "total": self.ebay_total,
                "finished": self.ebay_finished,
                "failed": self.ebay_failed,
            },
        }


def _progress_of(run: CollectionRun, counts) -> RunProgress:
    progress = RunProgress(
        run_id=run.pk,
        status=run.status,
        phase=run.phase,
        products=run.products_found,
        ebay_searches=run.ebay_searches,
        sellers_found=run.sellers_found,
        sellers_new=run.sellers_new,
        sightings=run.sightings,
        requests=run.requests,
        retries=run.retries,
    )
    for phase, status, n in counts:
        finished = n if status in RunTask.FINISHED_STATUSES else 0
        failed = n if status == RunTask.Status.FAILED else 0
        if phase == RunTask.Phase.AMAZON:
            progress.amazon_total += n
            progress.amazon_finished += finished
            progress.amazon_failed += failed
        else:
            progress.ebay_total += n
            progress.ebay_finished += finished
            progress.ebay_failed += failed
        progress.failed_tasks += failed
    return progress


def runs_progress_get(*, runs: list[CollectionRun]) -> dict[int, RunProgress]:
    """``run_progress_get`` for several runs in one query, keyed by run id."""
    counts: dict[int, list[tuple[str, str, int]]] = {run.pk: [] for run in runs}
    rows = (
        RunTask.objects.filter(run_id__in=list(counts))
        .values_list("run_id", "phase", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for run_id, phase, status, n in rows:
        counts[run_id].append((phase, status, n))
    return {run.pk: _progress_of(run, counts[run.pk]) for run in runs}


def run_progress_get(*, run_id: int, run: CollectionRun | None = None) -> RunProgress:
    """Where a run stands (``run``: the row, when the caller has just read it)."""
    if run is None:
        run = CollectionRun.objects.get(pk=run_id)
    return runs_progress_get(runs=[run])[run.pk]


def run_control_get(*, run_id: int) -> tuple[str, str]:
    """(status, requested_action) of a run: what its executors poll for pause/cancel."""
    status, requested_action = CollectionRun.objects.values_list("status", "requested_action").get(
        pk=run_id
    )
    return status, requested_action


def run_get(*, run_id: int) -> CollectionRun:
    """One run (``CollectionRun.DoesNotExist`` when there is none)."""
    return CollectionRun.objects.get(pk=run_id)


def run_resumable_get(*, run_id: int) -> CollectionRun:
    """The run to resume, or ``LookupError`` with a message for an operator."""
    run = CollectionRun.objects.filter(pk=run_id).first()
    if run is None:
        raise LookupError(f"Run {run_id} does not exist.")
    if run.status in (CollectionRun.Status.COMPLETED, CollectionRun.Status.CANCELLED):
        raise LookupError(
            f"Run {run_id} is {run.get_status_display().lower()}; only a paused, failed, "
            "queued or interrupted run can be resumed."
        )
    return run


# --- Provider quota usage ------------------------------------------------------------


def quota_usage_get(*, now: _dt.datetime | None = None) -> dict[str, dict]:
    """Per metered provider: limit, used, left, window start and reset time (plain JSON).

    ``used`` counts requests sent plus those a running process has reserved and not sent
    yet (at most ``COLLECTION_QUOTA_BLOCK`` per process).
    """
    now = now or _timezone.now()
    usage = {}
    for provider, quota in quotas_configured().items():
        window = quota.window_at(now)
        rows = ProviderUsage.objects.filter(provider=provider)
        if quota.period == "month":
            row = rows.filter(window_start=window.start).first()
        else:
            # A day may be aligned on the provider's own reset time (``align``): take the
            # latest window of that length that covers now.
            length = window.end - window.start
            row = (
                rows.filter(window_start__lte=now, window_start__gt=now - length)
                .order_by("-window_start")
                .first()
            )
            if row is not None:
                window = QuotaWindow(row.window_start, row.window_start + length)
        used = row.requests if row else 0
        usage[provider] = {
            "provider": provider,
            "limit": quota.limit,
            "period": quota.period_label,
            "used": used,
            "left": max(0, quota.limit - used),
            "window_start": window.start.isoformat(),
            "resets_at": window.end.isoformat(),
        }
    return usage


def quota_usage_lines(*, now: _dt.datetime | None = None) -> list[str]:
    """``quota_usage_get`` as sentences (the admin's usage page, command output)."""
    usage = quota_usage_get(now=now)
    if not usage:
        return ["No provider quota is configured (COLLECTION_QUOTAS): nothing is metered."]
    return [
        f"{u['provider']}: {u['used']:,} used, {u['left']:,} left of {u['limit']:,} per "
        f"{u['period']}; resets at {u['resets_at']}."
        for u in usage.values()
    ]
