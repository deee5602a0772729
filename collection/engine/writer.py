"""The writer: task outcomes batched and stored through the store, and what was stored.

Outcomes are stored by size (``COLLECTION_BATCH_SIZE`` tasks or ``COLLECTION_BATCH_ROWS``
rows) or age (``COLLECTION_FLUSH_SECONDS``), in one ``results_store`` transaction with the
counters counted since the last one (every 2 s at least while anything was counted). A
stored batch bumps ``RunState.generation`` and wakes the claimer, since it may have created
the next pages' tasks; its events say what was stored, deduplicated and inserted.

Up to ``COLLECTION_STORES_IN_FLIGHT`` batches are stored at once (PostgreSQL; each on a
thread and connection of its own, ``EngineDatabase.store_slot``): while one holds the
store's seller section, the next is prepared, its tasks marked and its sellers looked up.
Their transactions take locks in one order (``store._postgres``), as those of several
processes do, and what they write does not depend on their order. ``flush`` returns once
everything delivered before it is stored, in-flight batches included.

Memory is bounded by rows, not by tasks or by the run's size: a task's outcome holds a page
(up to 200 listings, ~50 best sellers), and outcomes keep arriving while a batch is being
stored. Once ``COLLECTION_ROWS_IN_FLIGHT`` rows are held (waiting plus being stored), a
worker that delivers waits in ``room`` before its next request until a batch is stored
(back-pressure; counted as ``writer/backpressure``).
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


def outcome_rows(outcome: store.TaskOutcome) -> int:
    """The rows an outcome brings to a batch (its listings or best sellers; 1 at least)."""
    if outcome.listings is not None:
        return max(1, len(outcome.listings.listings))
    if outcome.best_sellers is not None:
        return max(1, len(outcome.best_sellers.products))
    return 1


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
        self._rows = 0  # in self._outcomes
        self._storing_rows = 0  # in the batches being stored
        self._storing: set[asyncio.Task] = set()  # background stores in flight
        self._slots = asyncio.Semaphore(db.stores_in_flight)
        self._stored = asyncio.Event()  # set (and replaced) when a batch is stored
        self._first_outcome_at = 0.0
        self._last_flush_at = 0.0
        self._flush_requested = False
        self._closing = False
        self._lock = asyncio.Lock()  # one flush at a time
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None

    def deliver(self, outcome: store.TaskOutcome) -> None:
        outcomes = self._outcomes
        outcomes.append(outcome)
        self._rows += outcome_rows(outcome)
        if len(outcomes) == 1:
            self._first_outcome_at = time.monotonic()
            self._wakeup.set()
        elif len(outcomes) >= self.config.batch_size or self._rows >= self._batch_rows():
            self._wakeup.set()

    def _batch_rows(self) -> int:
        """Rows that make a batch due: ``batch_rows`` at most, and an equal share of
        ``rows_in_flight`` for each batch being stored and the one filling. With two stores
        in flight, 3,333 rows rather than 5,000 by default: each store connection keeps
        libpq's send buffer as large as the largest statement it sent (bench/README.md)."""
        share = self.config.rows_in_flight // (self.db.stores_in_flight + 1)
        return max(1, min(self.config.batch_rows, share))

    @property
    def held_rows(self) -> int:
        """Rows held in memory: waiting for a batch, and in the batch being stored."""
        return self._rows + self._storing_rows

    async def room(self) -> None:
        """Return once fewer than ``rows_in_flight`` rows are held (workers call it after
        delivering, before their next request); at once when the execution is stopping."""
        limit = self.config.rows_in_flight
        if self._rows + self._storing_rows < limit:
            return
        self.stats.inc("writer/backpressure")
        while (
            self._rows + self._storing_rows >= limit
            and not self._closing
            and self.state.stop is None
        ):
            self._wakeup.set()  # a batch is due (batch_rows ≤ rows_in_flight)
            stored = self._stored
            try:
                await asyncio.wait_for(stored.wait(), 1.0)
            except TimeoutError:
                pass  # look again (a stop, or a writer that ended)

    def flush_soon(self) -> None:
        """Do not wait for a full batch (the claimer waits for what it would create)."""
        if self._outcomes and not self._flush_requested:
            self._flush_requested = True
            self._wakeup.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="engine-writer")

    async def stop(self) -> None:
        """End the background loop, which waits for its stores (what is left is stored by a
        last ``flush``)."""
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
        except Exception as exc:
            self._failed(exc)
        finally:
            await self._drain()

    def _failed(self, exc: BaseException) -> None:
        """A batch could not be stored: the run stops (paused when the database is gone)."""
        if isinstance(exc, DatabaseUnavailable):
            self.state.request_stop(
                StopRequest(
                    Status.PAUSED,
                    reason=PauseReason.DATABASE,
                    message=f"The database stopped answering ({exc}); resume when it is back.",
                )
            )
            return
        logger.error("run %s: storing results failed", self.state.run_id, exc_info=exc)
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
                if (
                    len(self._outcomes) >= config.batch_size
                    or self._rows >= self._batch_rows()
                    or self._flush_requested
                    or now >= due
                ):
                    await self._store_in_background()
                    continue
                await wait(self._wakeup, due - now)
                continue
            if now - self._last_flush_at >= 2.0 and self.stats.has_delta():
                await self._store_in_background()
                continue
            await wait(self._wakeup, 1.0)

    async def _store_in_background(self) -> None:
        """Take what is waiting once a slot is free, and store it while the loop goes on
        (outcomes that arrive while every slot is busy join this batch)."""
        await self._slots.acquire()
        taken = self._take()
        if taken is None:
            self._slots.release()
            return
        task = asyncio.create_task(self._store_released(*taken), name="engine-writer-store")
        self._storing.add(task)
        task.add_done_callback(self._storing.discard)

    async def _store_released(self, outcomes, rows: int, counters: dict) -> None:
        try:
            await self._store(outcomes, rows, counters)
        except Exception as exc:
            self._failed(exc)
        finally:
            self._slots.release()

    async def _drain(self) -> None:
        """Wait for the background stores in flight (their failures stop the run)."""
        while self._storing:
            await asyncio.wait(set(self._storing))

    def _take(self, *, release_held: bool = False) -> tuple[list, int, dict] | None:
        """The outcomes waiting and the counters counted since the last batch, or None."""
        # Held failures are stored only when the run goes on (a stop releases them).
        if release_held and self.state.stop is None:
            for held in self.streak.release():
                self._outcomes.append(held)
                self._rows += outcome_rows(held)
        outcomes, self._outcomes = self._outcomes, []
        rows, self._rows = self._rows, 0
        self._flush_requested = False
        counters = self.stats.take_delta()
        self._last_flush_at = time.monotonic()
        if not outcomes and not counters:
            return None
        self._storing_rows += rows
        return outcomes, rows, counters

    async def flush(self, *, release_held: bool = False) -> store.BatchResult | None:
        """Store every outcome received so far (and the counters) in one transaction, and
        wait for the batches already in flight: once it returns, all is stored."""
        async with self._lock:
            result = None
            async with self._slots:
                taken = self._take(release_held=release_held)
                if taken is not None:
                    result = await self._store(*taken)
            await self._drain()
            return result

    async def _store(self, outcomes, rows: int, counters: dict) -> store.BatchResult:
        """One ``results_store`` transaction (``_take``'s rows are counted as storing)."""
        state = self.state
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
        finally:
            self._storing_rows -= rows
            self._stored.set()  # wakes the workers waiting for room
            self._stored = asyncio.Event()
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
