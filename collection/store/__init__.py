"""Batched, idempotent persistence of a run's work (the engine's only way to the database).

Sync functions; the async engine calls them through ``sync_to_async``:

- ``run_plan``, ``tasks_claim``, ``tasks_release``, ``tasks_extend_lease``,
  ``phase_remaining``, ``run_heartbeat``, ``run_phase_advance``, ``run_finish``,
  ``run_counters_get``, ``run_failed_tasks`` — ``store.tasks``;
- ``results_store`` — ``store.results`` (PostgreSQL: set-based SQL in ``_postgres``;
  elsewhere the ORM path in ``_orm``, same results);
- cleaning and dedupe of untrusted marketplace records — ``store.clean``.
"""

from .results import RUN_COUNTER_FIELDS, results_store, run_counters_add
from .scores import seller_aggregates, seller_counters_settle, seller_scores_settle
from .tasks import (
    phase_remaining,
    run_counters_get,
    run_failed_tasks,
    run_finish,
    run_heartbeat,
    run_phase_advance,
    run_plan,
    tasks_claim,
    tasks_extend_lease,
    tasks_release,
)
from .types import BatchResult, ClaimedTask, TaskOutcome

__all__ = [
    "RUN_COUNTER_FIELDS",
    "BatchResult",
    "ClaimedTask",
    "TaskOutcome",
    "phase_remaining",
    "results_store",
    "run_counters_add",
    "run_counters_get",
    "run_failed_tasks",
    "run_finish",
    "run_heartbeat",
    "run_phase_advance",
    "run_plan",
    "seller_aggregates",
    "seller_counters_settle",
    "seller_scores_settle",
    "tasks_claim",
    "tasks_extend_lease",
    "tasks_release",
]
