"""The claimer: the phase loop, and claiming a phase's tasks into the bounded queue.

It keeps about ``CLAIM_AHEAD_SECONDS`` of work queued: the workers' throughput (workers ÷
the average request time) × that horizon, at least two tasks per worker and at most a
batch (``COLLECTION_BATCH_SIZE``). That is enough that a slow database round trip never
starves the workers, little enough that memory stays bounded and that other processes
joining the run get their share.
"""

from __future__ import annotations

import asyncio
import logging
import time

from activity.events import EventRecorder
from activity.payloads import Action
from collection import store
from collection.engine.config import CLAIM_AHEAD_SECONDS, EngineConfig
from collection.engine.db import EngineDatabase
from collection.engine.state import RunState, wait
from collection.engine.writer import Writer
from collection.models import CollectionRun
from collection.services.execution import JOINED

logger = logging.getLogger(__name__)

Phase = CollectionRun.Phase


class Claimer:
    """Feeds the queue phase by phase (``run``) until the run is done or stops.

    ``begin`` plans and announces the run; ``release`` gives back what was not done.
    """

    def __init__(
        self,
        *,
        state: RunState,
        config: EngineConfig,
        db: EngineDatabase,
        queue: asyncio.Queue[store.ClaimedTask],
        writer: Writer,
        recorder: EventRecorder,
    ) -> None:
        self.state = state
        self.config = config
        self.db = db
        self.queue = queue
        self.writer = writer
        self.recorder = recorder

    async def begin(self) -> None:
        """Plan the run's tasks (Amazon phase) and tell that it (re)starts."""
        state = self.state
        if state.phase == Phase.AMAZON:
            # Idempotent; a joiner plans too, in case the process it joins died before.
            await self.db.call(store.run_plan, run_id=state.run_id)
        if state.mode != JOINED:
            action = Action.RUN_STARTED if state.mode == "started" else Action.RESUMED
            self.recorder.emit(
                action, workers=state.workers, executor=state.executor, phase=state.phase
            )
            if state.phase != Phase.DONE:
                self.recorder.emit(Action.PHASE_STARTED, phase=state.phase)

    async def run(self) -> bool:
        """True: every phase is finished (the run is to be completed); False: a stop."""
        state = self.state
        while state.stop is None:
            if state.phase == Phase.DONE:
                return True
            if not await self._phase_run(state.phase):
                return False
            finished = state.phase
            state.phase = await self.db.retry(
                store.run_phase_advance, run_id=state.run_id, phase=finished
            )
            if state.phase == finished:  # a task of the phase appeared meanwhile
                continue
            if state.mode != JOINED:  # one process tells (a joiner's peer does)
                self.recorder.emit(Action.PHASE_FINISHED, phase=finished)
                if state.phase != Phase.DONE:
                    self.recorder.emit(Action.PHASE_STARTED, phase=state.phase)
            logger.info("run %s: phase %s finished; now %s", state.run_id, finished, state.phase)
        return False

    def _idle(self) -> bool:
        return self.queue.empty() and self.state.in_flight == 0

    async def _phase_run(self, phase: str) -> bool:
        """Claim and feed the phase's tasks until none is left (True) or a stop (False)."""
        state, queue, db, config = self.state, self.queue, self.db, self.config
        empty_generation: int | None = None  # generation when a claim last came back empty
        empty_at = 0.0
        waiting = 0  # polls in a row that found the phase's last tasks held by other processes
        while state.stop is None:
            depth = self._claim_depth()
            if queue.qsize() >= max(1, depth // 2):
                await wait(state.wakeup, config.claim_poll_seconds)
                continue
            if (
                empty_generation == state.generation
                and not self._idle()
                and time.monotonic() - empty_at < config.claim_poll_seconds
            ):
                # Nothing to claim until our own results are stored (they create the next
                # pages' tasks): ask the writer not to wait for a full batch.
                self.writer.flush_soon()
                await wait(
                    state.wakeup,
                    config.claim_poll_seconds - (time.monotonic() - empty_at),
                )
                continue
            claimed = await db.retry(
                store.tasks_claim,
                run_id=state.run_id,
                phase=phase,
                executor=state.executor,
                limit=depth - queue.qsize(),
                lease_seconds=config.lease_seconds,
                on_claims=True,
            )
            for task in claimed:
                queue.put_nowait(task)
            if claimed:
                empty_generation = None
                waiting = 0
                continue
            empty_generation, empty_at = state.generation, time.monotonic()
            if state.stop is not None or not self._idle():
                continue
            # Everything this process took is finished: store it, then see whether the
            # phase is over, or whether other processes still hold some of its tasks.
            await self.writer.flush(release_held=True)
            if state.generation != empty_generation:
                continue  # the results stored may have created tasks
            # Holding nothing in memory, any task still leased to us is a ghost (a claim
            # whose answer was lost): give it back.
            await db.retry(store.tasks_release, run_id=state.run_id, executor=state.executor)
            remaining = await db.retry(store.phase_remaining, run_id=state.run_id, phase=phase)
            if remaining == 0:
                return True
            # Other processes hold the phase's last tasks: they finish within about a
            # request, so look again soon, then back off to the poll interval (a peer's
            # phase end, or its new tasks, reach this process within ~50 ms, not 0.5 s).
            waiting += 1
            await wait(state.wakeup, min(config.claim_poll_seconds, 0.025 * 2**waiting))
        return False

    async def release(self) -> None:
        """Give back every task this process still holds (``pending`` again, for a resume)."""
        run_id = self.state.run_id
        try:
            released = await self.db.retry(
                store.tasks_release, run_id=run_id, executor=self.state.executor
            )
            if released:
                logger.info("run %s: %d tasks released", run_id, released)
        except Exception as exc:
            logger.error("run %s: could not release tasks: %s", run_id, exc)

    def _claim_depth(self) -> int:
        """How many tasks to hold queued (see the module docstring)."""
        workers, request_seconds = self.state.workers, self.state.request_seconds
        floor = max(8, 2 * workers)
        if not request_seconds:
            return floor
        ahead = workers / request_seconds * CLAIM_AHEAD_SECONDS
        return int(min(self.queue.maxsize, max(floor, ahead)))
