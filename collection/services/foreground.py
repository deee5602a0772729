"""Foreground runs (``manage.py run_collection``): create or resume a run, execute it in
this process, and wait out a provider's quota reset when the run pauses at one.

A foreground run counts against ``COLLECTION_MAX_ACTIVE_RUNS`` like a run started in the
admin (``dispatch.run_active_limit_check``); it is not enqueued for a task worker: this
process executes it, with the joiners it starts (``--processes``, ``services.spread``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from django.db import transaction
from django.utils import timezone

from collection.models import CategoryPreset, CollectionRun
from collection.selectors import run_resumable_get
from collection.services.dispatch import run_active_limit_check
from collection.services.lifecycle import RunOptionsError, categories_resolve, run_create
from collection.services.spread import Joiner, SpreadReport, run_execute_spread


def run_foreground_create(
    *,
    node_ids: Iterable[str] = (),
    preset_names: Iterable[str] = (),
    workers: int | None = None,
    amazon_pages: int | None = None,
    ebay_pages: int | None = None,
    ebay_queries: int | None = None,
    markup_min_percent=None,
    markup_max_percent=None,
) -> CollectionRun:
    """A queued run for this process to execute. A run of exactly one preset remembers it.

    Raises ``RunOptionsError`` for a bad selection or options and ``RunLimitReached`` when
    ``COLLECTION_MAX_ACTIVE_RUNS`` runs are already queued or running.
    """
    node_ids = [str(n).strip() for n in node_ids if str(n).strip()]
    preset_names = [p.strip() for p in preset_names if p.strip()]
    categories = categories_resolve(node_ids=node_ids, preset_names=preset_names)
    preset = None
    if len(preset_names) == 1 and not node_ids:
        preset = CategoryPreset.objects.get(name=preset_names[0])
    with transaction.atomic():
        run_active_limit_check()
        return run_create(
            categories=categories,
            preset=preset,
            workers=workers,
            amazon_pages=amazon_pages,
            ebay_pages=ebay_pages,
            ebay_queries=ebay_queries,
            markup_min_percent=markup_min_percent,
            markup_max_percent=markup_max_percent,
        )


def run_foreground_resume(*, run_id: int) -> CollectionRun:
    """The run to continue in this process, checked against the active-run limit like an
    admin resume (a run that is already queued or running is counted already).

    Raises ``RunOptionsError`` when it cannot be resumed (missing, completed, cancelled)
    and ``RunLimitReached``.
    """
    try:
        run = run_resumable_get(run_id=run_id)
    except LookupError as exc:
        raise RunOptionsError(str(exc)) from None
    if not run.is_active:
        with transaction.atomic():
            run_active_limit_check(excluding=run_id)
    return run


def run_foreground_execute(
    *,
    run_id: int,
    workers: int | None = None,
    processes: int = 1,
    progress: Callable | None = None,
    write: Callable[[str], None],
    waiting: Callable[[bool], None] = lambda waiting: None,
    sleep: Callable[[float], None] = time.sleep,
    on_joiner_death: Callable[[Joiner], None] | None = None,
) -> SpreadReport:
    """Execute the run here (and in ``processes - 1`` joiners) until it stops; a pause at a
    provider quota waits for the reset and executes it again (``waiting(True)`` before the
    wait, ``waiting(False)`` when it goes on). Ctrl-C while waiting stops waiting; the run
    stays paused. The joiners end with each execution, whatever ends it."""

    def execute() -> SpreadReport:
        return run_execute_spread(
            run_id=run_id,
            processes=processes,
            workers=workers,
            install_signal_handlers=True,
            progress=progress,
            on_joiner_death=on_joiner_death,
        )

    result = execute()
    while result.report.status == CollectionRun.Status.PAUSED and (
        result.report.pause_reason == CollectionRun.PauseReason.QUOTA
    ):
        waiting(True)
        if not run_quota_wait(run_id=run_id, write=write, sleep=sleep):
            break
        waiting(False)
        result = execute()
    return result


def run_quota_wait(
    *,
    run_id: int,
    write: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 30.0,
) -> bool:
    """Foreground runs (``run_collection``): wait while the run is paused at a quota.

    True: go on executing it (its reset time passed, or another process resumed it).
    False: stop waiting (Ctrl-C, or an operator cancelled or paused it meanwhile); the run
    stays as it is, and a task worker's scheduler resumes a quota pause by itself.
    """
    run = CollectionRun.objects.get(pk=run_id)
    if run.resume_at is not None:
        write(
            f"Run {run_id} paused: {run.status_message} Waiting for the reset at "
            f"{run.resume_at.isoformat(timespec='seconds')}, then it continues "
            "(Ctrl-C stops waiting; the run stays paused)."
        )
    try:
        while True:
            if run.status in CollectionRun.ACTIVE_STATUSES:
                return True  # resumed by another process: join it
            if (
                run.status != CollectionRun.Status.PAUSED
                or run.pause_reason != CollectionRun.PauseReason.QUOTA
                or run.resume_at is None
            ):
                return False
            left = (run.resume_at - timezone.now()).total_seconds()
            if left <= 0:
                write(f"Run {run_id}: quota reset; continuing.")
                return True
            sleep(min(left, poll_seconds))
            run.refresh_from_db(fields=["status", "pause_reason", "resume_at"])
    except KeyboardInterrupt:
        write(f"Stopped waiting; run {run_id} stays paused until its quota resets.")
        return False
