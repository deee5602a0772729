"""The worker entry point: what a task worker does with a run id (``collection.tasks``).
A joiner's side (forked, or ``manage.py join_run``) is ``services.spread``'s."""

from __future__ import annotations

import dataclasses
import json
import logging

from collection.models import CollectionRun
from collection.services.lifecycle import (
    InvalidTransition,
    Status,
    run_is_orphaned,
    run_transition,
)
from collection.services.spread import processes_auto, run_execute_spread

logger = logging.getLogger(__name__)


def run_worker_execute(
    *,
    run_id: int,
    workers: int | None = None,
    spread: bool = True,
    install_signal_handlers: bool = False,
) -> dict:
    """What a task worker does with a run id (``tasks.run_collection_task``).

    Executes a queued run, or joins a running one (the engine claims tasks with SKIP
    LOCKED, so a second process shares the work instead of repeating it). A run that was
    paused, cancelled or finished after it was enqueued is left alone: an operator's pause
    wins over a task that was already in the queue.

    A worker that starts (or takes over) the run spreads it like ``run_collection
    --processes auto``: joiners on the usable cores, within
    ``COLLECTION_MAX_PROCESSES_PER_RUN``, at least ``spread.MIN_WORKERS_PER_PROCESS``
    workers each. One that joins a live run, or a joiner (``spread=False``), does not.
    """
    run = CollectionRun.objects.filter(pk=run_id).first()
    if run is None or run.status not in CollectionRun.ACTIVE_STATUSES:
        status = run.status if run else "missing"
        logger.info("run %s is %s; the task worker leaves it alone", run_id, status)
        return {"run_id": run_id, "status": status, "skipped": True}

    joining = run.status == Status.RUNNING and not run_is_orphaned(run)
    processes = 1
    if spread and not joining:
        processes = processes_auto(workers=workers or run.workers).processes
    try:
        result = run_execute_spread(
            run_id=run_id,
            processes=processes,
            workers=workers,
            install_signal_handlers=install_signal_handlers,
        )
    except Exception as exc:
        # The engine records its own failures on the run; a run still queued means it
        # never got that far. Pause it with the reason instead of leaving it queued (the
        # recovery loop would re-enqueue it forever), then let the task record the error.
        _pause_if_never_started(run_id=run_id, exc=exc)
        raise
    return _report_as_json(result.report) | {"processes": result.processes}


def _pause_if_never_started(*, run_id: int, exc: Exception) -> None:
    message = (
        f"The task worker could not start it ({type(exc).__name__}: {exc}); "
        "fix the cause, then resume it."
    )
    try:
        run_transition(
            run_id=run_id,
            to=Status.PAUSED,
            expect=[Status.QUEUED],
            pause_reason=CollectionRun.PauseReason.INTERRUPTED,
            status_message=message[:2000],
        )
    except InvalidTransition:
        return  # the engine got it running: its own failure handling applies
    logger.error("run %s paused: %s", run_id, message)


def _report_as_json(report) -> dict:
    if dataclasses.is_dataclass(report) and not isinstance(report, type):
        data = dataclasses.asdict(report)
    else:
        data = dict(report)
    return json.loads(json.dumps(data, default=str))
