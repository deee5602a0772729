"""Task planning, claiming and leases, and the run bookkeeping the engine needs.

A task row is ``pending`` ──claim──► ``running`` (leased to an executor until
``leased_until``) ──results_store──► ``done`` | ``failed`` | ``skipped``. A running task
whose lease expired (its process died or stalled) is claimable again; ``results_store``
only finishes tasks that are still running, so a late delivery of a task someone else
finished changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from collection.models import (
    Category,
    CollectionRun,
    Product,
    RunTask,
    Seller,
    SellerChange,
    SellerSnapshot,
)
from collection.services.lifecycle import run_transition

from .results import RUN_COUNTER_FIELDS
from .scores import seller_scores_settle
from .types import ClaimedTask

logger = logging.getLogger(__name__)

NEXT_PHASE: dict[str, str] = {
    CollectionRun.Phase.AMAZON: CollectionRun.Phase.EBAY,
    CollectionRun.Phase.EBAY: CollectionRun.Phase.DONE,
}
UNFINISHED = (RunTask.Status.PENDING, RunTask.Status.RUNNING)


def run_plan(*, run_id: int) -> int:
    """Create the run's Amazon tasks (category × page); return how many this call created.

    Idempotent: existing keys are left alone, so planning twice (or from two processes)
    creates each task once.
    """
    run = CollectionRun.objects.get(pk=run_id)
    categories = list(run.categories.order_by("node_id"))
    tasks = [
        RunTask(
            run_id=run_id,
            phase=RunTask.Phase.AMAZON,
            key=f"amazon:{category.node_id}:{page}",
            category=category,
            page=page,
        )
        for category in categories
        for page in range(1, run.amazon_pages + 1)
    ]
    with transaction.atomic():
        amazon = RunTask.objects.filter(run_id=run_id, phase=RunTask.Phase.AMAZON)
        before = amazon.count()
        RunTask.objects.bulk_create(tasks, ignore_conflicts=True)
        created = amazon.count() - before
    logger.info("run %s planned: %d amazon tasks created", run_id, created)
    return created


def _claimable(*, run_id: int, phase: str, now: dt.datetime):
    return RunTask.objects.filter(run_id=run_id, phase=phase).filter(
        Q(status=RunTask.Status.PENDING)
        | Q(status=RunTask.Status.RUNNING, leased_until__lt=now)
        | Q(status=RunTask.Status.RUNNING, leased_until__isnull=True)
    )


def tasks_claim(
    *, run_id: int, phase: str, executor: str, limit: int, lease_seconds: int
) -> list[ClaimedTask]:
    """Lease up to ``limit`` pending (or lease-expired) tasks of ``phase``, in id order.

    PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED``, so concurrent claimers (threads,
    processes, machines) never get the same task and never wait for each other. SQLite:
    the transaction takes the write lock when it begins (IMMEDIATE), so claims queue.
    ``attempts`` is not changed here: the engine reports it with the outcome.
    """
    if limit <= 0:
        return []
    if connection.vendor == "postgresql":
        return _tasks_claim_sql(
            run_id=run_id,
            phase=phase,
            executor=executor,
            limit=limit,
            lease_seconds=lease_seconds,
        )
    with transaction.atomic():
        now = timezone.now()
        qs = _claimable(run_id=run_id, phase=phase, now=now).order_by("id")
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        ids = list(qs.values_list("id", flat=True)[:limit])
        if not ids:
            return []
        RunTask.objects.filter(pk__in=ids).update(
            status=RunTask.Status.RUNNING,
            leased_until=now + dt.timedelta(seconds=lease_seconds),
            leased_by=executor[:200],
        )
        rows = (
            RunTask.objects.filter(pk__in=ids)
            .order_by("id")
            .values_list(
                "id",
                "key",
                "phase",
                "page",
                "attempts",
                "category__node_id",
                "product_id",
                "product__asin",
                "product__title",
                "product__price",
                "query",
            )
        )
        return [ClaimedTask(*row) for row in rows]


def _tasks_claim_sql(
    *, run_id: int, phase: str, executor: str, limit: int, lease_seconds: int
) -> list[ClaimedTask]:
    """``tasks_claim`` on PostgreSQL in one statement (the ORM's three queries cost a
    claimer several times the CPU, and claims run a few times a second): the same rows,
    locked with ``FOR UPDATE SKIP LOCKED`` in id order, leased and returned with what a
    worker needs."""
    now = timezone.now()
    task, category, product = (
        RunTask._meta.db_table,
        Category._meta.db_table,
        Product._meta.db_table,
    )
    sql = f"""
        WITH picked AS (
            SELECT id FROM {task}
            WHERE run_id = %(run)s AND phase = %(phase)s
              AND (status = %(pending)s OR (status = %(running)s
                   AND (leased_until < %(now)s OR leased_until IS NULL)))
            ORDER BY id LIMIT %(limit)s
            FOR UPDATE SKIP LOCKED
        ), leased AS (
            UPDATE {task} t SET status = %(running)s, leased_until = %(until)s,
                   leased_by = %(executor)s
            FROM picked WHERE t.id = picked.id
            RETURNING t.id, t.key, t.phase, t.page, t.attempts, t.category_id, t.product_id,
                      t.query
        )
        SELECT l.id, l.key, l.phase, l.page, l.attempts, c.node_id, l.product_id,
               p.asin, p.title, p.price, l.query
        FROM leased l
        LEFT JOIN {category} c ON c.id = l.category_id
        LEFT JOIN {product} p ON p.id = l.product_id
        ORDER BY l.id
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "run": run_id,
                "phase": phase,
                "pending": RunTask.Status.PENDING.value,
                "running": RunTask.Status.RUNNING.value,
                "now": now,
                "limit": limit,
                "until": now + dt.timedelta(seconds=lease_seconds),
                "executor": executor[:200],
            },
        )
        return [ClaimedTask(*row) for row in cursor.fetchall()]


def tasks_release(*, run_id: int, executor: str) -> int:
    """Give this executor's running tasks back (pause, cancel, shutdown): → pending."""
    return RunTask.objects.filter(
        run_id=run_id, status=RunTask.Status.RUNNING, leased_by=executor[:200]
    ).update(status=RunTask.Status.PENDING, leased_until=None, leased_by="")


def tasks_extend_lease(*, run_id: int, executor: str, lease_seconds: int) -> int:
    """Push back the lease of this executor's running tasks; returns how many.

    Their rows are locked in id order first, the order in which a batch being stored locks
    its tasks (``results_store``): this process stores on several connections at once, and
    two transactions that lock shared rows in one order cannot deadlock.
    """
    with transaction.atomic():
        ids = list(
            RunTask.objects.select_for_update()
            .filter(run_id=run_id, status=RunTask.Status.RUNNING, leased_by=executor[:200])
            .order_by("id")
            .values_list("id", flat=True)
        )
        if not ids:
            return 0
        return RunTask.objects.filter(pk__in=ids, status=RunTask.Status.RUNNING).update(
            leased_until=timezone.now() + dt.timedelta(seconds=lease_seconds)
        )


def phase_remaining(*, run_id: int, phase: str) -> int:
    """Tasks of ``phase`` not finished (pending or running, leased or not)."""
    return RunTask.objects.filter(run_id=run_id, phase=phase, status__in=UNFINISHED).count()


def run_heartbeat(*, run_id: int, executor: str) -> str:
    """Record that an executor is alive; return ``run.requested_action`` ('', 'pause', 'cancel')."""
    with transaction.atomic():
        CollectionRun.objects.filter(pk=run_id).update(heartbeat_at=timezone.now())
        return CollectionRun.objects.values_list("requested_action", flat=True).get(pk=run_id)


def run_phase_advance(*, run_id: int, phase: str) -> str:
    """Move the run from ``phase`` to the next one if no task of it is unfinished.

    Returns the run's phase afterwards. Safe to call from every process: the run row is
    locked, and a run already past ``phase`` is left alone.
    """
    with transaction.atomic():
        run = CollectionRun.objects.select_for_update().only("phase").get(pk=run_id)
        if run.phase != phase or phase not in NEXT_PHASE:
            return run.phase
        if phase_remaining(run_id=run_id, phase=phase):
            return run.phase
        run.phase = NEXT_PHASE[phase]
        run.save(update_fields=["phase"])
        logger.info("run %s: phase %s → %s", run_id, phase, run.phase)
        return run.phase


def run_counters_get(*, run_id: int) -> dict:
    """The run's counters, status, phase and stats as plain data (for reports)."""
    return CollectionRun.objects.values(*RUN_COUNTER_FIELDS, "status", "phase", "stats").get(
        pk=run_id
    )


def run_failed_tasks(*, run_id: int, limit: int = 100) -> list[dict]:
    """Failed tasks of a run (key, phase, attempts, error type and message), oldest first."""
    return [
        dict(row)
        for row in RunTask.objects.filter(run_id=run_id, status=RunTask.Status.FAILED)
        .order_by("id")
        .values("id", "key", "phase", "attempts", "error_type", "error_message")[:limit]
    ]


def _snapshot_ensure(run: CollectionRun) -> SellerSnapshot:
    active = Seller.objects.filter(deleted_at__isnull=True)
    snapshot, _ = SellerSnapshot.objects.get_or_create(
        run=run,
        defaults={
            "total_sellers": active.count(),
            "new_sellers": SellerChange.objects.filter(
                run=run, action=SellerChange.Action.ADDED
            ).count(),
            "flagged_sellers": active.filter(flagged=True).count(),
            "products_searched": RunTask.objects.filter(
                run=run, phase=RunTask.Phase.EBAY, status=RunTask.Status.DONE
            )
            .values("product_id")
            .distinct()
            .count(),
        },
    )
    return snapshot


def run_finish(*, run_id: int, stats: dict) -> CollectionRun:
    """Complete a run: snapshot, stats, status ``completed`` — once.

    Idempotent: a run already completed (by this process earlier, or by another process
    that saw the last task end) is returned as it is, its snapshot created if missing.
    ``stats`` keys replace the run's keys of the same name (the engine's final numbers).
    Any other status than running raises ``InvalidTransition`` (from ``run_transition``).
    """
    with transaction.atomic():
        run = CollectionRun.objects.select_for_update().get(pk=run_id)
        if run.status == CollectionRun.Status.COMPLETED:
            _snapshot_ensure(run)
            return run
        merged = {**(run.stats or {}), **(stats or {})}
        seller_scores_settle(run_id=run_id)
        run = run_transition(
            run_id=run_id,
            to=CollectionRun.Status.COMPLETED,
            phase=CollectionRun.Phase.DONE,
            stats=merged,
        )
        _snapshot_ensure(run)
    logger.info("run %s completed", run_id)
    return run
