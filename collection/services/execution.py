"""How a process takes part in executing a run (the engine calls this when it starts).

``run_execution_begin`` decides, under the run's row lock, how a process takes part in a
run::

    queued                       ──► running   "started"  (first execution)
    paused / failed              ──► running   "resumed"
    running, heartbeat stale     ──  running   "resumed"  (an orphan taken over: the dead
                                                           process's leases expire, its
                                                           tasks are claimed again)
    running, heartbeat fresh     ──  running   "joined"   (a second process shares the
                                                           work; status untouched)
    completed / cancelled        ──► InvalidTransition

Status changes still go through ``lifecycle.run_transition`` (the state machine).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from collection.models import CollectionRun
from collection.services.lifecycle import InvalidTransition, run_is_orphaned, run_transition

logger = logging.getLogger(__name__)

Status = CollectionRun.Status

STARTED = "started"
RESUMED = "resumed"
JOINED = "joined"


def run_execution_begin(*, run_id: int, executor: str) -> tuple[CollectionRun, str]:
    """Take part in executing a run; return it and how ("started", "resumed", "joined")."""
    with transaction.atomic():
        try:
            run = CollectionRun.objects.select_for_update().get(pk=run_id)
        except CollectionRun.DoesNotExist:
            raise InvalidTransition(f"Run {run_id} does not exist.") from None
        if run.status == Status.RUNNING:
            now = timezone.now()
            if not run_is_orphaned(run, now=now):
                return run, JOINED
            logger.warning(
                "run %s: taking over from %s (heartbeat %s)",
                run_id,
                run.executor or "?",
                run.heartbeat_at,
            )
            run.heartbeat_at = now
            run.executor = executor
            run.requested_action = ""
            run.save(update_fields=["heartbeat_at", "executor", "requested_action"])
            return run, RESUMED
        if run.status in (Status.COMPLETED, Status.CANCELLED):
            raise InvalidTransition(
                f"Run {run_id} is {run.get_status_display().lower()}; it cannot be resumed."
            )
        how = STARTED if run.status == Status.QUEUED and run.started_at is None else RESUMED
        run = run_transition(
            run_id=run_id,
            to=Status.RUNNING,
            expect=[Status.QUEUED, Status.PAUSED, Status.FAILED],
            executor=executor,
            failure_reason="",
        )
    return run, how
