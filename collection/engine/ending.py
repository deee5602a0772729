"""How the run's row ends: completed once every task is finished, or the stop's status.

A stop that this process decided (pause, cancel, failure) is a transition from running,
then the seller scores are settled (what the run saw counts in the leaderboard while it
is stopped) and the event goes out. A status another process set was recorded, with its
event, by that process.
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from activity.events import EventRecorder
from activity.payloads import Action
from collection import selectors, store
from collection.engine.db import EngineDatabase
from collection.engine.state import RunState
from collection.engine.stats import EngineStats
from collection.engine.writer import Writer
from collection.models import CollectionRun
from collection.services.lifecycle import InvalidTransition, run_transition

logger = logging.getLogger(__name__)

Status = CollectionRun.Status


class RunEnding:
    """``complete`` (the phases are done) or ``stopped`` (``RunState.stop`` is set)."""

    def __init__(
        self,
        *,
        state: RunState,
        db: EngineDatabase,
        writer: Writer,
        recorder: EventRecorder,
        stats: EngineStats,
    ) -> None:
        self.state = state
        self.db = db
        self.writer = writer
        self.recorder = recorder
        self.stats = stats

    async def complete(self) -> None:
        """Every task of both phases is finished: snapshot, stats, completed."""
        state, db = self.state, self.db
        await self.writer.flush(release_held=True)
        status, _ = await db.retry(selectors.run_control_get, run_id=state.run_id)
        # Counters were added batch by batch (by every process); the final stats only
        # add what is not a sum: the run's wall time from its first start.
        run = await db.retry(
            store.run_finish, run_id=state.run_id, stats=await db.call(self._final_stats)
        )
        state.completed = True
        if status == Status.COMPLETED:  # a process sharing the run finished it first
            return
        self.recorder.emit(
            Action.COMPLETED,
            summary={
                "products": run.products_found,
                "ebay_searches": run.ebay_searches,
                "sellers_found": run.sellers_found,
                "sellers_new": run.sellers_new,
                "sightings": run.sightings,
                "requests": run.requests,
                "retries": run.retries,
                "failed_tasks": run.failed_tasks,
            },
        )
        logger.info("run %s completed", state.run_id)

    def _final_stats(self) -> dict:
        run_id = self.state.run_id
        started_at = CollectionRun.objects.values_list("started_at", flat=True).get(pk=run_id)
        wall = (timezone.now() - started_at).total_seconds() if started_at else self.stats.elapsed
        return {"duration_s": round(wall, 3)}

    async def stopped(self) -> None:
        """Record the stop's status (when this process decided it) and its event."""
        state = self.state
        stop = state.stop
        assert stop is not None  # both callers set RunState.stop first
        event_data: dict[str, Any] = {"message": stop.message}
        if not stop.transition:
            return  # whoever changed the status recorded the event
        fields: dict[str, Any] = {"status_message": stop.message}
        if stop.status == Status.PAUSED:
            fields.update(pause_reason=stop.reason, resume_at=stop.resume_at)
        elif stop.status == Status.FAILED:
            fields["failure_reason"] = stop.message
        try:
            await self.db.retry(
                run_transition,
                run_id=state.run_id,
                to=stop.status,
                expect=[Status.RUNNING],
                **fields,
            )
        except InvalidTransition as exc:
            logger.info("run %s: %s (another process ended it first)", state.run_id, exc)
            return
        except Exception as exc:
            logger.error("run %s: could not record status %s: %s", state.run_id, stop.status, exc)
            return
        try:  # what the run saw so far counts in the leaderboard while it is stopped
            await self.db.retry(store.seller_scores_settle, run_id=state.run_id)
        except Exception as exc:
            logger.error("run %s: could not settle seller scores: %s", state.run_id, exc)
        if stop.status == Status.PAUSED:
            event_data["reason"] = stop.reason
            if stop.resume_at:
                event_data["resume_at"] = stop.resume_at.isoformat()
            self.recorder.emit(Action.PAUSED, **event_data)
        elif stop.status == Status.CANCELLED:
            self.recorder.emit(Action.CANCELLED, **event_data)
        elif stop.status == Status.FAILED:
            self.recorder.emit(Action.FAILED, **event_data)
