"""The run page's controls: one entry point that maps a button to the run services.

The lifecycle rules (and, for resume, the active-run limit and the enqueue for a task
worker after commit) live in ``collection.services.runs``; this only picks the service.
"""

from __future__ import annotations

from collection.models import CollectionRun
from collection.services import runs as run_services

CONTROL_ACTIONS = ("pause", "resume", "cancel")


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
        return run_services.run_resume(run_id=run_id)
    raise ValueError(f"unknown run action {action!r}")
