"""The run page's controls: one entry point that maps a button to the run services.

The lifecycle rules live in ``collection.services.runs``; this only chooses the service
and, for resume, hands the run to a task worker once it is queued again.
"""

from __future__ import annotations

import importlib
import logging

from collection.models import CollectionRun
from collection.services import runs as run_services

logger = logging.getLogger(__name__)

CONTROL_ACTIONS = ("pause", "resume", "cancel")


def _collection_task():
    """The operations room's task that executes a run, when it exists."""
    try:
        tasks = importlib.import_module("collection.tasks")
    except ModuleNotFoundError as exc:
        if exc.name != "collection.tasks":
            raise
        return None
    return getattr(tasks, "run_collection_task", None)


def run_control_apply(*, run_id: int, action: str) -> CollectionRun:
    """Pause, resume or cancel a run on an operator's request.

    Raises ``collection.services.runs.RunError`` (with a message for the operator) when the
    run's state does not allow it, ``ValueError`` for an unknown action.
    """
    if action == "pause":
        return run_services.run_pause(run_id=run_id)
    if action == "cancel":
        return run_services.run_cancel(run_id=run_id)
    if action == "resume":
        run = run_services.run_mark_queued_for_resume(run_id=run_id)
        task = _collection_task()
        if task is not None:
            task.enqueue(run_id=run_id)
        else:
            logger.info("run %s queued for resume; no task module to enqueue it", run_id)
        return run
    raise ValueError(f"unknown run action {action!r}")
