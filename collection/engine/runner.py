"""The parallel runner: one asyncio loop, N workers, batched persistence, prompt stops.

The runner builds one execution's parts (one process taking part in one run), wires
them and runs the phases; each part gets what it needs handed in, and they share only a
``RunState``::

    claimer (the phase loop) ──tasks_claim──► bounded queue ──► worker 1..N ──► adapter
         ▲                                                          │ TaskOutcome
         └──── next pages exist once stored ◄── writer ◄────────────┘
                                                 │ results_store every FLUSH_SECONDS
                                                 │ or BATCH_SIZE outcomes (one transaction)
    monitor:   heartbeat + lease extension; pause/cancel requested from elsewhere; quota
    signals:   SIGINT/SIGTERM pause (a second one abandons the requests in flight)
    broadcast: recorder.aflush() every ACTIVITY_FRAME_SECONDS; the caller's progress
    ending:    completed, or the stop's status; report: the RunReport

Modules: ``claimer``, ``worker``, ``writer``, ``monitor``, ``broadcast``, ``ending``,
``report``; below them ``state`` (the shared state), ``db`` (which thread makes each
database call, and retries), ``config``, ``streak``, ``retry``, ``limiter``, ``stats``,
``collector`` (the garbage collector's pace during a run).
Every database call runs through ``sync_to_async``; none sits on a request's path.

Stopping (pause, cancel, auth failure, quota, consecutive failures, a signal) is
cooperative: once seen, no request starts (workers check right before each one); the
requests in flight get ``GRACE_SECONDS`` to finish, then their workers are cancelled.
Results already received are stored, the tasks this process still holds are released
(``pending`` again, so a resume redoes exactly them) and the run takes its new status.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable

from activity.events import EventRecorder
from collection import pipeline, selectors, store
from collection.engine.broadcast import EventFrames, ProgressFeed
from collection.engine.claimer import Claimer
from collection.engine.collector import gc_paced
from collection.engine.config import EngineConfig
from collection.engine.db import DatabaseUnavailable, EngineDatabase
from collection.engine.ending import RunEnding
from collection.engine.limiter import ProviderGates
from collection.engine.monitor import Monitor, Signals
from collection.engine.report import RunReport, report_build
from collection.engine.state import RunState, StopRequest
from collection.engine.stats import EngineStats
from collection.engine.streak import FailureStreak
from collection.engine.worker import Workers
from collection.engine.writer import Writer
from collection.marketplaces.factory import marketplace_check_config, marketplace_open
from collection.models import CollectionRun
from collection.quotas import QuotaTracker
from collection.services.execution import run_execution_begin

logger = logging.getLogger(__name__)

Status = CollectionRun.Status
PauseReason = CollectionRun.PauseReason


class Runner:
    """One process's execution of one run. Use ``arun_execute``."""

    def __init__(
        self,
        *,
        run_id: int,
        workers: int | None = None,
        config: EngineConfig | None = None,
        progress: Callable[[selectors.RunProgress], None] | None = None,
        install_signal_handlers: bool = False,
        marketplace_options: dict | None = None,
    ) -> None:
        self.run_id = run_id
        self.marketplace_options = dict(marketplace_options or {})
        self.requested_workers = workers
        self.config = config or EngineConfig.from_settings()
        self.progress_callback = progress
        self.install_signal_handlers = install_signal_handlers
        self.executor = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"[:200]
        self.recorder = EventRecorder(run_id)
        self.stats = EngineStats()
        self.gates = ProviderGates(self.config.rate_limits)
        self.streak = FailureStreak(self.config.max_consecutive_failures)

    async def execute(self) -> RunReport:
        started = time.monotonic()
        state = self.state = RunState(run_id=self.run_id, executor=self.executor)
        db = self.db = EngineDatabase(self.run_id, stores_in_flight=self.config.stores_in_flight)
        try:
            run, state.mode = await db.call(
                run_execution_begin, run_id=self.run_id, executor=self.executor
            )
            state.phase = run.phase
            state.workers = self.requested_workers or run.workers
            options = await db.call(self._options_load)
            signals = Signals(state, enabled=self.install_signal_handlers)
            signals.install()
            try:
                with gc_paced():  # see collector: a run allocates containers by the page
                    await self._execute(options)
            finally:
                signals.remove()
            return await report_build(state=state, db=db, stats=self.stats, started=started)
        finally:
            await db.close()

    def _options_load(self) -> pipeline.RunOptions:
        run = CollectionRun.objects.get(pk=self.run_id)
        return pipeline.RunOptions(
            markup_min_percent=run.markup_min_percent,
            markup_max_percent=run.markup_max_percent,
            category_names=dict(run.categories.values_list("node_id", "name")),
            ebay_queries=run.ebay_queries,
        )

    async def _execute(self, options: pipeline.RunOptions) -> None:
        state, db, config, recorder, stats = (
            self.state,
            self.db,
            self.config,
            self.recorder,
            self.stats,
        )
        writer = self.writer = Writer(
            state=state, config=config, db=db, stats=stats, streak=self.streak, recorder=recorder
        )
        self.ending = RunEnding(state=state, db=db, writer=writer, recorder=recorder, stats=stats)
        logger.info(
            "run %s: %s by %s with %d workers (phase %s)",
            self.run_id,
            state.mode,
            self.executor,
            state.workers,
            state.phase,
        )
        try:
            marketplace_check_config()
        except Exception as exc:  # a configuration error: nothing can be fetched
            message = f"Marketplace configuration: {exc}"
            logger.error("run %s: %s", self.run_id, message)
            state.stop = StopRequest(Status.FAILED, message=message)
            await self.ending.stopped()
            await recorder.aclose()
            return

        queue: asyncio.Queue[store.ClaimedTask] = asyncio.Queue(
            maxsize=max(8, 2 * state.workers, config.batch_size)
        )
        self.claimer = Claimer(
            state=state, config=config, db=db, queue=queue, writer=writer, recorder=recorder
        )
        await self.claimer.begin()
        quota = self.quota = QuotaTracker()
        self.monitor = Monitor(state=state, config=config, db=db, quota=quota)
        self.frames = EventFrames(run_id=self.run_id, config=config, recorder=recorder, stats=stats)
        self.progress = ProgressFeed(
            state=state, config=config, db=db, stats=stats, callback=self.progress_callback
        )
        for part in (self.monitor, self.frames, writer, self.progress):
            part.start()
        try:
            async with marketplace_open(
                concurrency=state.workers, **self.marketplace_options
            ) as marketplace:
                quota.align_start(marketplace)
                workers = Workers(
                    state=state,
                    config=config,
                    queue=queue,
                    marketplace=marketplace,
                    options=options,
                    gates=self.gates,
                    quota=quota,
                    quota_pause=self.monitor.quota_pause,
                    streak=self.streak,
                    writer=writer,
                    recorder=recorder,
                    stats=stats,
                )
                workers.start()
                try:
                    if await self.claimer.run():
                        await self.ending.complete()
                finally:
                    await workers.stop()
        except DatabaseUnavailable as exc:
            state.request_stop(
                StopRequest(
                    Status.PAUSED,
                    reason=PauseReason.DATABASE,
                    message=f"The database stopped answering ({exc}); resume when it is back.",
                )
            )
        except Exception as exc:
            logger.exception("run %s: engine error", self.run_id)
            state.request_stop(
                StopRequest(
                    Status.FAILED, message=f"Engine error: {type(exc).__name__}: {exc}"[:2000]
                )
            )
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        """Store what was received, release what was not done, set the run's status."""
        state = self.state
        await self.writer.stop()
        if not state.completed:
            self.streak.release()  # their tasks go back to pending with the others
            try:
                await self.writer.flush()
            except Exception as exc:
                logger.error("run %s: could not store the last results: %s", self.run_id, exc)
            await self.claimer.release()
        try:
            await self.quota.aclose()
        except Exception as exc:
            logger.warning("run %s: quota reservations not returned: %s", self.run_id, exc)
        for part in (self.monitor, self.progress, self.frames):
            await part.stop()
        if not state.completed and state.stop is not None:
            await self.ending.stopped()
        await self.frames.close()
        await self.progress.report()


async def arun_execute(
    *,
    run_id: int,
    workers: int | None = None,
    install_signal_handlers: bool = False,
    progress: Callable[[selectors.RunProgress], None] | None = None,
    config: EngineConfig | None = None,
    marketplace_options: dict | None = None,
) -> RunReport:
    """Execute (or join) a run until it completes, pauses, fails or is cancelled.

    Raises ``InvalidTransition`` (a ``RunError``) for a run that does not exist or is
    completed/cancelled; every other ending is a status recorded on the run and returned
    in the report. ``marketplace_options`` go to ``marketplace_open`` (tests pass a
    ``sandbox_app`` whose request log they read, or shorter HTTP timeouts).
    """
    runner = Runner(
        run_id=run_id,
        workers=workers,
        config=config,
        progress=progress,
        install_signal_handlers=install_signal_handlers,
        marketplace_options=marketplace_options,
    )
    return await runner.execute()


def run_execute(*, run_id: int, **kwargs) -> RunReport:
    """The synchronous twin of ``arun_execute`` (task workers, management commands)."""
    return asyncio.run(arun_execute(run_id=run_id, **kwargs))


__all__ = ["EngineConfig", "RunReport", "Runner", "arun_execute", "run_execute"]
