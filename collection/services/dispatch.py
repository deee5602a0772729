"""Dispatch: starting runs through the task worker, and recovering runs nobody executes.

The admin, the scheduler and the recovery loop never execute a run themselves: they
change the run's row (``services.lifecycle``) and, after that transaction commits, enqueue
``run_collection_task`` (django.tasks on the database backend). Enqueuing the same run
twice is harmless by design: the engine JOINs a run that is already running (tasks are
claimed with SKIP LOCKED and leases), and ``worker.run_worker_execute`` leaves finished,
paused and cancelled runs alone.

``collection.tasks`` sits between this module and ``services.worker``: a django.tasks
``Task`` is both the worker's entry point and the address a service enqueues, so its
module is imported from here and imports nothing but the worker service.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Iterable

from django.conf import settings
from django.db import connection, models, transaction
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from activity.events import EventRecorder
from activity.models import RunEvent
from collection.models import Category, CategoryPreset, CollectionRun
from collection.services.lifecycle import (
    InvalidTransition,
    RunLimitReached,
    Status,
    run_create,
    run_is_orphaned,
    run_mark_queued_for_resume,
    run_transition,
)
from collection.tasks import run_collection_task

logger = logging.getLogger(__name__)


def run_enqueue(*, run_id: int) -> None:
    """After the current transaction commits, ask a task worker to execute the run."""

    def enqueue() -> None:
        result = run_collection_task.enqueue(run_id=run_id)
        logger.info("run %s enqueued as task %s", run_id, result.id)

    transaction.on_commit(enqueue)


_RUN_START_LOCK = 0x5C0_0001  # an advisory lock key unique to starting runs


def _serialize_run_starts() -> None:
    """Make the active-run count and the insert that follows one critical section.

    PostgreSQL: a transaction-scoped advisory lock. SQLite runs IMMEDIATE transactions
    (settings), which already take the database's write lock at BEGIN.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_RUN_START_LOCK])


def run_active_limit_check(*, excluding: int | None = None) -> None:
    """Raise ``RunLimitReached`` when ``COLLECTION_MAX_ACTIVE_RUNS`` runs are queued or
    running (``excluding`` one that is about to be counted again). Call inside the
    transaction that creates or queues the run: it takes the run-start lock first, so the
    count and the insert that follows are one critical section."""
    _serialize_run_starts()
    active = CollectionRun.objects.filter(status__in=CollectionRun.ACTIVE_STATUSES)
    if excluding is not None:
        active = active.exclude(pk=excluding)
    count = active.count()
    limit = settings.COLLECTION_MAX_ACTIVE_RUNS
    if count >= limit:
        raise RunLimitReached(
            f"{count} runs are already queued or running (limit {limit}); "
            "wait for one to finish or pause it."
        )


def run_start(
    *,
    categories: Iterable[Category],
    preset: CategoryPreset | None = None,
    workers: int | None = None,
    amazon_pages: int | None = None,
    ebay_pages: int | None = None,
    markup_min_percent=None,
    markup_max_percent=None,
    started_by=None,
    rerun_of: CollectionRun | None = None,
    schedule=None,
    enforce_active_limit: bool = True,
    ebay_queries: int | None = None,
) -> CollectionRun:
    """Create a queued run and enqueue it for a task worker (after commit).

    Raises RunOptionsError for a bad selection or options and RunLimitReached when
    ``COLLECTION_MAX_ACTIVE_RUNS`` runs are already queued or running.
    """
    with transaction.atomic():
        if enforce_active_limit:
            run_active_limit_check()
        run = run_create(
            categories=categories,
            preset=preset,
            workers=workers,
            amazon_pages=amazon_pages,
            ebay_pages=ebay_pages,
            ebay_queries=ebay_queries,
            markup_min_percent=markup_min_percent,
            markup_max_percent=markup_max_percent,
            started_by=started_by,
            rerun_of=rerun_of,
            schedule=schedule,
        )
        run_enqueue(run_id=run.pk)
    return run


def run_rerun(*, run_id: int, started_by=None) -> CollectionRun:
    """Start a new run with the categories and options of a finished one."""
    source = CollectionRun.objects.get(pk=run_id)
    if not source.is_finished:
        raise InvalidTransition(
            f"Run {run_id} is {source.get_status_display().lower()}; only a completed, failed "
            "or cancelled run can be re-run (resume a paused one instead)."
        )
    return run_start(
        categories=source.categories.all(),
        preset=source.preset,
        workers=source.workers,
        amazon_pages=source.amazon_pages,
        ebay_pages=source.ebay_pages,
        ebay_queries=source.ebay_queries,
        markup_min_percent=source.markup_min_percent,
        markup_max_percent=source.markup_max_percent,
        started_by=started_by,
        rerun_of=source,
    )


def run_resume(*, run_id: int, enforce_active_limit: bool = True) -> CollectionRun:
    """Paused, failed or orphaned → queued, then enqueued for a task worker."""
    with transaction.atomic():
        if enforce_active_limit:
            run = CollectionRun.objects.get(pk=run_id)
            if not run.is_active:  # an orphaned "running" run is already counted
                run_active_limit_check(excluding=run_id)
        run = run_mark_queued_for_resume(run_id=run_id)
        run_enqueue(run_id=run_id)
    return run


def run_worker_add(*, run_id: int) -> CollectionRun:
    """Enqueue one more task for a queued or running run: another worker process joins it
    (by hand; a worker that starts a run already spreads it over the usable cores, see
    ``services.spread``)."""
    run = CollectionRun.objects.get(pk=run_id)
    if not run.is_active:
        raise InvalidTransition(
            f"Run {run_id} is {run.get_status_display().lower()}; only a queued or running "
            "run can take another worker process."
        )
    with transaction.atomic():
        run_enqueue(run_id=run_id)
    return run


# --- Recovery: orphaned, stranded and quota-paused runs --------------------------------


@dataclasses.dataclass(slots=True)
class RecoveryReport:
    """Run ids the recovery pass acted on (plain data for logs and the scheduler)."""

    orphaned_requeued: list[int] = dataclasses.field(default_factory=list)
    orphaned_given_up: list[int] = dataclasses.field(default_factory=list)
    stranded_requeued: list[int] = dataclasses.field(default_factory=list)
    quota_resumed: list[int] = dataclasses.field(default_factory=list)

    def __bool__(self) -> bool:
        return any(dataclasses.astuple(self))


def _orphan_resumes(run_id: int) -> int:
    return RunEvent.objects.filter(
        run_id=run_id, action="paused", data__reason=CollectionRun.PauseReason.ORPHANED
    ).count()


def _record_event(run_id: int, action: str, **data) -> None:
    """Store a system event with the run (published after the transaction commits)."""
    recorder = EventRecorder(run_id)
    recorder.emit(action, **data)
    recorder.flush()


def _task_waiting(*, run_id: int, now: dt.datetime) -> bool:
    """Is there a task in the queue (or freshly claimed) that will execute this run?"""
    tasks = DBTaskResult.objects.filter(
        task_path=run_collection_task.module_path, args_kwargs__kwargs__run_id=run_id
    )
    lease = dt.timedelta(seconds=settings.COLLECTION_LEASE_SECONDS)
    return (
        tasks.filter(status=TaskResultStatus.READY).exists()
        # Claimed but the run is still queued: the engine moves it to running within
        # moments, so a claim older than the lease belongs to a worker that died.
        or tasks.filter(status=TaskResultStatus.RUNNING, started_at__gte=now - lease).exists()
    )


def runs_resume_due(*, now: dt.datetime | None = None) -> list[int]:
    """Queue again (and enqueue for a task worker) the runs paused at a quota whose reset
    time has passed. The scheduler loop calls this; several schedulers at once are safe
    (each run is re-checked under a row lock taken with SKIP LOCKED)."""
    now = now or timezone.now()
    due = CollectionRun.objects.filter(
        status=CollectionRun.Status.PAUSED,
        pause_reason=CollectionRun.PauseReason.QUOTA,
        resume_at__lte=now,
    )
    resumed = []
    for run_id in list(due.values_list("pk", flat=True)):
        with transaction.atomic():
            run = (
                CollectionRun.objects.select_for_update(skip_locked=True).filter(pk=run_id).first()
            )
            if (
                run is None
                or run.status != CollectionRun.Status.PAUSED
                or run.pause_reason != CollectionRun.PauseReason.QUOTA
                or run.resume_at is None
                or run.resume_at > now
            ):
                continue
            run_transition(run_id=run_id, to=CollectionRun.Status.QUEUED)
            run_enqueue(run_id=run_id)
        resumed.append(run_id)
        logger.info("run %s: provider quota reset; queued for resume", run_id)
    return resumed


def runs_recover(*, now: dt.datetime | None = None) -> RecoveryReport:
    """Put runs that nobody will execute back in the task queue (the scheduler calls this).

    - **Orphaned**: running, heartbeat older than ``COLLECTION_LEASE_SECONDS`` (its process
      was killed or lost the database). Re-queued with reason ``orphaned`` and a ``paused``
      event saying why; after ``COLLECTION_MAX_AUTO_RESUMES`` such recoveries it is left
      paused for an operator (a run that kills its worker every time must not loop).
    - **Stranded**: queued, but no task in the queue will execute it (the enqueue after
      commit was lost, or the worker died between claiming the task and starting the run).
    - **Quota**: paused at a provider quota and its ``resume_at`` has passed.

    Safe with several schedulers at once: every run is re-checked under a row lock taken
    with SKIP LOCKED, and a duplicate enqueue is harmless (see ``run_worker_execute``).
    """
    now = now or timezone.now()
    report = RecoveryReport()
    lease = dt.timedelta(seconds=settings.COLLECTION_LEASE_SECONDS)

    def locked(run_id: int) -> CollectionRun | None:
        return CollectionRun.objects.select_for_update(skip_locked=True).filter(pk=run_id).first()

    stale = CollectionRun.objects.filter(status=Status.RUNNING).filter(
        models.Q(heartbeat_at__isnull=True) | models.Q(heartbeat_at__lt=now - lease)
    )
    for run_id in list(stale.values_list("pk", flat=True)):
        with transaction.atomic():
            run = locked(run_id)
            if run is None or not run_is_orphaned(run, now=now):
                continue
            previous = _orphan_resumes(run_id)
            limit = settings.COLLECTION_MAX_AUTO_RESUMES
            if previous >= limit:
                message = (
                    f"Its process stopped responding {previous + 1} times; not resumed "
                    "automatically again. Check the worker logs, then resume it."
                )
                run_transition(
                    run_id=run_id,
                    to=Status.PAUSED,
                    pause_reason=CollectionRun.PauseReason.ORPHANED,
                    status_message=message,
                )
                _record_event(run_id, "paused", reason="orphaned_gave_up", message=message)
                report.orphaned_given_up.append(run_id)
                logger.error("run %s: %s", run_id, message)
                continue
            message = (
                f"Its process ({run.executor or 'unknown'}) stopped responding (last heartbeat "
                f"{run.heartbeat_at.isoformat() if run.heartbeat_at else 'never'}); "
                "queued for resume."
            )
            run_transition(
                run_id=run_id,
                to=Status.PAUSED,
                pause_reason=CollectionRun.PauseReason.ORPHANED,
                status_message=message,
            )
            # Queued keeps pause_reason and status_message, so the reason stays visible
            # until a worker takes the run.
            run_transition(run_id=run_id, to=Status.QUEUED)
            _record_event(
                run_id, "paused", reason=CollectionRun.PauseReason.ORPHANED, message=message
            )
            run_enqueue(run_id=run_id)
            report.orphaned_requeued.append(run_id)
            logger.warning("run %s: %s", run_id, message)

    queued = CollectionRun.objects.filter(status=Status.QUEUED, created_at__lt=now - lease)
    for run_id in list(queued.values_list("pk", flat=True)):
        if _task_waiting(run_id=run_id, now=now):
            continue
        with transaction.atomic():
            run = locked(run_id)
            if run is None or run.status != Status.QUEUED or _task_waiting(run_id=run_id, now=now):
                continue
            run_enqueue(run_id=run_id)
            report.stranded_requeued.append(run_id)
            logger.warning("run %s was queued with no task to execute it; enqueued again", run_id)

    report.quota_resumed.extend(runs_resume_due(now=now))
    return report
