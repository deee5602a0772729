"""Run lifecycle: create, transition, and operator requests (pause, resume, cancel).

Every status change goes through ``run_transition``, which locks the run row, checks the
current status against ``TRANSITIONS`` and raises ``InvalidTransition`` otherwise. Pause and
cancel of a run that a live process is executing are *requests* (``requested_action``): the
engine sees them through the database, stops starting new requests and makes the
transition itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from collection.models import Category, CategoryPreset, CollectionRun

logger = logging.getLogger(__name__)

Status = CollectionRun.Status

TRANSITIONS: dict[str, set[str]] = {
    Status.QUEUED: {Status.RUNNING, Status.PAUSED, Status.CANCELLED},
    Status.RUNNING: {Status.PAUSED, Status.COMPLETED, Status.FAILED, Status.CANCELLED},
    Status.PAUSED: {Status.QUEUED, Status.RUNNING, Status.CANCELLED},
    Status.FAILED: {Status.QUEUED, Status.RUNNING},
    Status.COMPLETED: set(),
    Status.CANCELLED: set(),
}


class RunError(Exception):
    """A domain error about runs, with a message fit to show an operator."""


class InvalidTransition(RunError):
    pass


class RunOptionsError(RunError):
    pass


class RunLimitReached(RunError):
    pass


def run_is_orphaned(run: CollectionRun, *, now: dt.datetime | None = None) -> bool:
    """A running run whose executor stopped beating for longer than the lease."""
    if run.status != Status.RUNNING:
        return False
    if run.heartbeat_at is None:
        return True
    now = now or timezone.now()
    return now - run.heartbeat_at > dt.timedelta(seconds=settings.COLLECTION_LEASE_SECONDS)


def _decimal(value, name: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise RunOptionsError(f"{name} must be a number, got {value!r}.") from exc
    if not number.is_finite():
        raise RunOptionsError(f"{name} must be a finite number, got {value!r}.")
    return number


def run_options_validate(
    *,
    workers: int,
    amazon_pages: int,
    ebay_pages: int,
    markup_min_percent,
    markup_max_percent,
    ebay_queries: int = 1,
) -> tuple[Decimal, Decimal]:
    """Check run options; return the markup band as Decimals. Raises RunOptionsError."""
    if not isinstance(workers, int) or not 1 <= workers <= 200:
        raise RunOptionsError(f"workers must be between 1 and 200, got {workers!r}.")
    if not isinstance(amazon_pages, int) or not 1 <= amazon_pages <= 2:
        raise RunOptionsError(
            f"Amazon pages must be 1 or 2 (a best-seller list has 2 pages), got {amazon_pages!r}."
        )
    if not isinstance(ebay_pages, int) or not 1 <= ebay_pages <= 50:
        raise RunOptionsError(
            f"eBay pages must be between 1 and 50 (200 listings each), got {ebay_pages!r}."
        )
    if not isinstance(ebay_queries, int) or not 1 <= ebay_queries <= 5:
        raise RunOptionsError(
            f"eBay queries per product must be between 1 and 5, got {ebay_queries!r}."
        )
    low = _decimal(markup_min_percent, "markup min")
    high = _decimal(markup_max_percent, "markup max")
    if low < 0 or high < 0:
        raise RunOptionsError("The markup band cannot be negative.")
    if high > 10000:
        raise RunOptionsError("The markup max is above 10,000 %; that is not a markup band.")
    if low > high:
        raise RunOptionsError(f"markup min ({low} %) is above markup max ({high} %).")
    return low, high


def categories_resolve(*, node_ids: Iterable[str] = (), preset_names: Iterable[str] = ()) -> list[Category]:
    """Categories for a selection of node ids and preset names; unknown ones raise."""
    node_ids = [str(n).strip() for n in node_ids if str(n).strip()]
    preset_names = [p.strip() for p in preset_names if p.strip()]
    found = {c.node_id: c for c in Category.objects.filter(node_id__in=node_ids)}
    unknown = [n for n in node_ids if n not in found]
    if unknown:
        raise RunOptionsError(
            f"Unknown category node id(s): {', '.join(unknown)}. "
            "See the Categories page in the admin for the catalogue."
        )
    selected = dict(found)
    for name in preset_names:
        preset = CategoryPreset.objects.filter(name=name).first()
        if preset is None:
            names = ", ".join(CategoryPreset.objects.values_list("name", flat=True))
            raise RunOptionsError(f"Unknown preset {name!r}. Presets: {names}.")
        for category in preset.categories.all():
            selected[category.node_id] = category
    return sorted(selected.values(), key=lambda c: c.node_id)


def run_create(
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
    enforce_active_limit: bool = False,
    ebay_queries: int | None = None,
) -> CollectionRun:
    """Create a queued run (no task rows yet: the engine plans them when it starts)."""
    categories = list(categories)
    if not categories:
        raise RunOptionsError("Choose at least one category or a preset that has categories.")
    workers = settings.COLLECTION_WORKERS if workers is None else workers
    amazon_pages = settings.COLLECTION_AMAZON_PAGES if amazon_pages is None else amazon_pages
    ebay_pages = settings.COLLECTION_EBAY_PAGES if ebay_pages is None else ebay_pages
    ebay_queries = settings.COLLECTION_EBAY_QUERIES if ebay_queries is None else ebay_queries
    if markup_min_percent is None:
        markup_min_percent = settings.COLLECTION_MARKUP_MIN_PERCENT
    if markup_max_percent is None:
        markup_max_percent = settings.COLLECTION_MARKUP_MAX_PERCENT
    low, high = run_options_validate(
        workers=workers,
        amazon_pages=amazon_pages,
        ebay_pages=ebay_pages,
        markup_min_percent=markup_min_percent,
        markup_max_percent=markup_max_percent,
        ebay_queries=ebay_queries,
    )
    # Quota hook: what the run will cost per provider, kept on the run (services.estimates).
    from collection.services.estimates import run_estimate

    estimate = run_estimate(
        categories=len(categories), amazon_pages=amazon_pages, ebay_pages=ebay_pages,
        markup_min_percent=low, markup_max_percent=high, ebay_queries=ebay_queries,
    ).as_json()
    with transaction.atomic():
        if enforce_active_limit:
            # Serialize concurrent starts on the preset table lock-free: count under the
            # transaction; a rare race lets one extra run in, never a wrong refusal.
            active = CollectionRun.objects.filter(status__in=CollectionRun.ACTIVE_STATUSES).count()
            limit = settings.COLLECTION_MAX_ACTIVE_RUNS
            if active >= limit:
                raise RunLimitReached(
                    f"{active} runs are already queued or running (limit {limit}); "
                    "wait for one to finish or pause it."
                )
        run = CollectionRun.objects.create(
            preset=preset,
            workers=workers,
            amazon_pages=amazon_pages,
            ebay_pages=ebay_pages,
            ebay_queries=ebay_queries,
            markup_min_percent=low,
            markup_max_percent=high,
            started_by=started_by,
            rerun_of=rerun_of,
            schedule=schedule,
            estimate=estimate,
        )
        run.categories.set(categories)
    logger.info("run %s created: %d categories, %d workers", run.pk, len(categories), workers)
    return run


def run_transition(
    *, run_id: int, to: str, expect: Iterable[str] | None = None, **fields
) -> CollectionRun:
    """Move a run to status ``to`` (checking the state machine) and set ``fields``."""
    with transaction.atomic():
        run = CollectionRun.objects.select_for_update().get(pk=run_id)
        allowed_from = set(expect) if expect is not None else None
        if to not in TRANSITIONS[run.status] or (
            allowed_from is not None and run.status not in allowed_from
        ):
            raise InvalidTransition(
                f"Run {run_id} is {run.get_status_display().lower()}; it cannot become {to}."
            )
        now = timezone.now()
        run.status = to
        if to == Status.RUNNING:
            run.pause_reason = ""
            run.status_message = ""
            run.resume_at = None
            run.requested_action = ""
            run.heartbeat_at = now
            run.started_at = run.started_at or now
        if to in CollectionRun.FINISHED_STATUSES:
            run.finished_at = now
            run.requested_action = ""
        if to == Status.PAUSED:
            run.requested_action = ""
        for name, value in fields.items():
            setattr(run, name, value)
        run.save()
    _run_changed(run)
    return run


def _run_changed(run: CollectionRun) -> None:
    """Tell live pages about a status change (after commit)."""
    from activity.events import run_status_publish

    run_status_publish(run=run)


def run_pause(*, run_id: int, reason: str = CollectionRun.PauseReason.OPERATOR, message: str = "") -> CollectionRun:
    """Pause a run: at once when nobody executes it, else ask its executor to."""
    with transaction.atomic():
        run = CollectionRun.objects.select_for_update().get(pk=run_id)
        if run.status == Status.RUNNING and not run_is_orphaned(run):
            run.requested_action = "pause"
            run.save(update_fields=["requested_action"])
            return run
        if run.status not in (Status.QUEUED, Status.RUNNING):
            raise InvalidTransition(
                f"Run {run_id} is {run.get_status_display().lower()}; only a queued or "
                "running run can be paused."
            )
    return run_transition(
        run_id=run_id, to=Status.PAUSED, pause_reason=reason,
        status_message=message or CollectionRun.PauseReason(reason).label,
    )


def run_cancel(*, run_id: int, message: str = "Cancelled by an operator.") -> CollectionRun:
    """Cancel a run: at once when nobody executes it, else ask its executor to."""
    with transaction.atomic():
        run = CollectionRun.objects.select_for_update().get(pk=run_id)
        if run.status == Status.RUNNING and not run_is_orphaned(run):
            run.requested_action = "cancel"
            run.save(update_fields=["requested_action"])
            return run
        if Status.CANCELLED not in TRANSITIONS[run.status]:
            raise InvalidTransition(
                f"Run {run_id} is {run.get_status_display().lower()}; it cannot be cancelled."
            )
    return run_transition(run_id=run_id, to=Status.CANCELLED, status_message=message)


def run_mark_queued_for_resume(*, run_id: int) -> CollectionRun:
    """Paused, failed or orphaned → queued, so a worker picks it up again."""
    run = CollectionRun.objects.get(pk=run_id)
    if run.status == Status.RUNNING and run_is_orphaned(run):
        return run_transition(
            run_id=run_id, to=Status.PAUSED, pause_reason=CollectionRun.PauseReason.ORPHANED,
            status_message="Its process stopped responding; queued for resume.",
        ) and run_transition(run_id=run_id, to=Status.QUEUED)
    return run_transition(run_id=run_id, to=Status.QUEUED, expect=[Status.PAUSED, Status.FAILED])


# --- Starting runs through the task worker ---------------------------------------------
#
# The admin, the scheduler and the recovery loop never execute a run themselves: they
# change the run's row and, after that transaction commits, enqueue ``run_collection_task``
# (django.tasks on the database backend). Enqueuing the same run twice is harmless by
# design: the engine JOINs a run that is already running (tasks are claimed with SKIP
# LOCKED and leases), and ``run_worker_execute`` leaves finished, paused and cancelled
# runs alone.


def run_enqueue(*, run_id: int) -> None:
    """After the current transaction commits, ask a task worker to execute the run."""
    from collection.tasks import run_collection_task

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
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_RUN_START_LOCK])


def _check_active_limit(*, excluding: int | None = None) -> None:
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
            _serialize_run_starts()
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
            enforce_active_limit=enforce_active_limit,
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
            _serialize_run_starts()
            run = CollectionRun.objects.get(pk=run_id)
            if not run.is_active:  # an orphaned "running" run is already counted
                _check_active_limit(excluding=run_id)
        run = run_mark_queued_for_resume(run_id=run_id)
        run_enqueue(run_id=run_id)
    return run


def run_worker_add(*, run_id: int) -> CollectionRun:
    """Enqueue one more task for a queued or running run: another worker process joins it."""
    run = CollectionRun.objects.get(pk=run_id)
    if not run.is_active:
        raise InvalidTransition(
            f"Run {run_id} is {run.get_status_display().lower()}; only a queued or running "
            "run can take another worker process."
        )
    with transaction.atomic():
        run_enqueue(run_id=run_id)
    return run


def run_worker_execute(*, run_id: int) -> dict:
    """What a task worker does with a run id (``tasks.run_collection_task``).

    Executes a queued run, or joins a running one (the engine claims tasks with SKIP
    LOCKED, so a second process shares the work instead of repeating it). A run that was
    paused, cancelled or finished after it was enqueued is left alone: an operator's pause
    wins over a task that was already in the queue.
    """
    run = CollectionRun.objects.filter(pk=run_id).first()
    if run is None or run.status not in CollectionRun.ACTIVE_STATUSES:
        status = run.status if run else "missing"
        logger.info("run %s is %s; the task worker leaves it alone", run_id, status)
        return {"run_id": run_id, "status": status, "skipped": True}

    from collection.engine import run_execute

    try:
        report = run_execute(run_id=run_id)
    except Exception as exc:
        # The engine records its own failures on the run; a run still queued means it
        # never got that far. Pause it with the reason instead of leaving it queued (the
        # recovery loop would re-enqueue it forever), then let the task record the error.
        _pause_if_never_started(run_id=run_id, exc=exc)
        raise
    return _report_as_json(report)


def _pause_if_never_started(*, run_id: int, exc: Exception) -> None:
    message = (
        f"The task worker could not start it ({type(exc).__name__}: {exc}); "
        "fix the cause, then resume it."
    )
    try:
        run_transition(
            run_id=run_id, to=Status.PAUSED, expect=[Status.QUEUED],
            pause_reason=CollectionRun.PauseReason.INTERRUPTED, status_message=message[:2000],
        )
    except InvalidTransition:
        return  # the engine got it running: its own failure handling applies
    logger.error("run %s paused: %s", run_id, message)


def _report_as_json(report) -> dict:
    data = dataclasses.asdict(report) if dataclasses.is_dataclass(report) else dict(report)
    return json.loads(json.dumps(data, default=str))


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
    from activity.models import RunEvent

    return RunEvent.objects.filter(
        run_id=run_id, action="paused", data__reason=CollectionRun.PauseReason.ORPHANED
    ).count()


def _record_event(run_id: int, action: str, **data) -> None:
    """Store a system event with the run (published after the transaction commits)."""
    from activity.events import EventRecorder

    recorder = EventRecorder(run_id)
    recorder.emit(action, **data)
    recorder.flush()


def _task_waiting(*, run_id: int, now: dt.datetime) -> bool:
    """Is there a task in the queue (or freshly claimed) that will execute this run?"""
    from django_tasks_db.models import DBTaskResult
    from django.tasks import TaskResultStatus

    from collection.tasks import run_collection_task

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
                    run_id=run_id, to=Status.PAUSED,
                    pause_reason=CollectionRun.PauseReason.ORPHANED, status_message=message,
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
                run_id=run_id, to=Status.PAUSED,
                pause_reason=CollectionRun.PauseReason.ORPHANED, status_message=message,
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

    # Quota hook: runs paused at a provider quota whose reset has passed (collection.quotas).
    from collection.quotas import runs_resume_due

    report.quota_resumed.extend(runs_resume_due(now=now))
    return report
