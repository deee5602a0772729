"""The writer: task outcomes batched and stored through the store, and what was stored.

Outcomes are stored by size (``COLLECTION_BATCH_SIZE``) or age (``COLLECTION_FLUSH_SECONDS``),
in one ``results_store`` transaction with the counters counted since the last one (every
2 s at least while anything was counted). A stored batch bumps ``RunState.generation`` and
wakes the claimer, since it may have created the next pages' tasks; its events say what
was stored, deduplicated and inserted.
"""

from __future__ import annotations

import asyncio
import logging
import time

from activity.events import EventRecorder
from activity.payloads import Action
from collection import store
from collection.engine.config import EngineConfig
from collection.engine.db import DatabaseUnavailable, EngineDatabase
from collection.engine.state import RunState, StopRequest, wait
from collection.engine.stats import EngineStats
from collection.engine.streak import FailureStreak
from collection.models import CollectionRun

logger = logging.getLogger(__name__)

Status = CollectionRun.Status
PauseReason = CollectionRun.PauseReason


class Writer:
    """Batches outcomes (``deliver``) and stores them (in the background, and ``flush``)."""

    def __init__(
        self,
        *,
        state: RunState,
        config: EngineConfig,
        db: EngineDatabase,
        stats: EngineStats,
        streak: FailureStreak,
        recorder: EventRecorder,
    ) -> None:
        self.state = state
        self.config = config
        self.db = db
        self.stats = stats
        self.streak = streak
        self.recorder = recorder
        self._outcomes: list[store.TaskOutcome] = []
        self._first_outcome_at = 0.0
        self._last_flush_at = 0.0
        self._flush_requested = False
        self._closing = False
        self._lock = asyncio.Lock()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None

    def deliver(self, outcome: store.TaskOutcome) -> None:
        outcomes = self._outcomes
        outcomes.append(outcome)
        if len(outcomes) == 1:
            self._first_outcome_at = time.monotonic()
            self._wakeup.set()
        elif len(outcomes) >= self.config.batch_size:
            self._wakeup.set()

    def flush_soon(self) -> None:
        """Do not wait for a full batch (the claimer waits for what it would create)."""
        if self._outcomes and not self._flush_requested:
            self._flush_requested = True
            self._wakeup.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="engine-writer")

    async def stop(self) -> None:
        """End the background loop (what is left is stored by a last ``flush``)."""
        self._closing = True
        self._wakeup.set()
        if self._task is None:
            return
        try:
            await self._task
        except Exception:
            logger.warning("run %s: writer stopped with an error", self.state.run_id, exc_info=True)

    async def _loop(self) -> None:
        """The background loop; a failure to store stops the run."""
        try:
            await self._run()
        except DatabaseUnavailable as exc:
            self.state.request_stop(
                StopRequest(
                    Status.PAUSED,
                    reason=PauseReason.DATABASE,
                    message=f"The database stopped answering ({exc}); resume when it is back.",
                )
            )
        except Exception as exc:
            logger.exception("run %s: storing results failed", self.state.run_id)
            self.state.request_stop(
                StopRequest(
                    Status.FAILED,
                    message=f"Storing results failed: {type(exc).__name__}: {exc}"[:2000],
                )
            )

    async def _run(self) -> None:
        """Store outcomes by size (BATCH_SIZE) or age (FLUSH_SECONDS), counters every 2 s."""
        config, state = self.config, self.state
        while not self._closing and state.stop is None:
            now = time.monotonic()
            if self._outcomes:
                due = self._first_outcome_at + config.flush_seconds
                if len(self._outcomes) >= config.batch_size or self._flush_requested or now >= due:
                    await self.flush()
                    continue
                await wait(self._wakeup, due - now)
                continue
            if now - self._last_flush_at >= 2.0 and self.stats.has_delta():
                await self.flush()
                continue
            await wait(self._wakeup, 1.0)

    async def flush(self, *, release_held: bool = False) -> store.BatchResult | None:
        """Store every outcome received so far (and the counters) in one transaction."""
        state = self.state
        async with self._lock:
            # Held failures are stored only when the run goes on (a stop releases them).
            if release_held and state.stop is None:
                self._outcomes.extend(self.streak.release())
            outcomes, self._outcomes = self._outcomes, []
            self._flush_requested = False
            counters = self.stats.take_delta()
            self._last_flush_at = time.monotonic()
            if not outcomes and not counters:
                return None
            try:
                result = await self.db.retry(
                    store.results_store,
                    run_id=state.run_id,
                    outcomes=outcomes,
                    counters=counters,
                    on_store=True,
                )
            except BaseException:
                # Not stored: the tasks stay leased to us and are released (or expire)
                # unfinished, so a resume fetches them again; the counters go next time.
                self.stats.give_back(counters)
                raise
            state.generation += 1
            self._batch_events(result)
            state.wakeup.set()
            return result

    def _batch_events(self, result: store.BatchResult) -> None:
        emit, phase = self.recorder.emit, self.state.phase
        if result.tasks_done or result.tasks_failed:
            emit(
                Action.STORED,
                phase=phase,
                tasks=result.tasks_done + result.tasks_failed,
                products=result.products_upserted,
                sightings=result.sightings_new,
            )
        if result.sellers_deduped:
            emit(Action.DEDUPED, phase=phase, sellers=result.sellers_deduped)
        if result.sellers_new:
            emit(
                Action.INSERTED,
                phase=phase,
                sellers=result.sellers_new,
                names=list(result.new_seller_names),
            )
