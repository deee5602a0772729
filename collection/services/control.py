"""Run controls: the one entry point behind the operator's buttons.

The admin's actions and the live run page call ``run_control`` and show its message; the
lifecycle rules (and, for resume and re-run, the active-run limit and the enqueue for a
task worker after commit) live in ``services.lifecycle`` and ``services.dispatch``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from collection.models import CollectionRun
from collection.services.dispatch import run_rerun, run_resume, run_worker_add
from collection.services.lifecycle import RunError, run_cancel, run_pause

# action: (service call, the verb in "Could not … run N")
_CONTROLS: dict[str, tuple[Callable[..., CollectionRun], str]] = {
    "pause": (lambda run_id, user: run_pause(run_id=run_id), "pause"),
    "resume": (lambda run_id, user: run_resume(run_id=run_id), "resume"),
    "cancel": (lambda run_id, user: run_cancel(run_id=run_id), "cancel"),
    "rerun": (lambda run_id, user: run_rerun(run_id=run_id, started_by=user), "re-run"),
    "add_worker": (lambda run_id, user: run_worker_add(run_id=run_id), "add a worker to"),
}
CONTROL_ACTIONS = tuple(_CONTROLS)
LIVE_PAGE_ACTIONS = ("pause", "resume", "cancel")  # the run page's buttons


@dataclass(frozen=True, slots=True)
class ControlResult:
    """What a control did: the run it changed or produced (None when refused), and what
    to tell the operator (plain text; an interface may add a link)."""

    run_id: int
    run: CollectionRun | None
    message: str

    @property
    def ok(self) -> bool:
        return self.run is not None


def run_control(*, run_id: int, action: str, user=None) -> ControlResult:
    """Apply an operator's pause, resume, cancel, re-run or add-a-worker to a run.

    A state that does not allow it is a refused result (with the reason); an unknown action
    raises ``ValueError``, a missing run ``CollectionRun.DoesNotExist``.
    """
    try:
        service, verb = _CONTROLS[action]
    except KeyError:
        raise ValueError(f"unknown run action {action!r}") from None
    try:
        run = service(run_id, user)
    except RunError as exc:
        return ControlResult(run_id, None, f"Could not {verb} run {run_id}: {exc}")
    return ControlResult(run_id, run, _done_message(action, run_id, run))


def _done_message(action: str, source_id: int, run: CollectionRun) -> str:
    if action == "rerun":
        return f"Run {run.pk} queued as a re-run of run {source_id}."
    if action == "resume":
        return f"Run {run.pk} queued for resume; a task worker picks it up."
    if action == "add_worker":
        return f"Another worker process will join run {run.pk}."
    if run.requested_action:
        return f"Run {run.pk}: {run.requested_action} requested; its worker stops shortly."
    return f"Run {run.pk} is now {run.get_status_display().lower()}."
