"""What a running execution tells others: event frames, and its caller's progress.

- ``EventFrames`` stores and publishes the recorder's events every
  ``ACTIVITY_FRAME_SECONDS`` (sooner when ``ACTIVITY_FRAME_EVENTS`` wait). Events are best
  effort next to the run's own data: a frame that cannot be stored is counted, not fatal.
- ``ProgressFeed`` hands ``run_progress_get`` to the caller's callback about twice a second
  (only when a callback was given).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from django.db import DatabaseError

from activity.events import EventRecorder
from collection import selectors
from collection.engine.config import EngineConfig
from collection.engine.db import EngineDatabase
from collection.engine.state import RunState, cancel
from collection.engine.stats import EngineStats
from collection.models import CollectionRun

logger = logging.getLogger(__name__)

Status = CollectionRun.Status


class EventFrames:
    """The events loop (``start``, ``stop``); ``close`` stores the last events."""

    def __init__(
        self, *, run_id: int, config: EngineConfig, recorder: EventRecorder, stats: EngineStats
    ) -> None:
        self.run_id = run_id
        self.config = config
        self.recorder = recorder
        self.stats = stats
        self._flushing: asyncio.Future | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="engine-events")

    async def stop(self) -> None:
        await cancel(self._task)
        if self._flushing is not None:  # a frame being stored goes out first
            await asyncio.gather(self._flushing, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            await self.recorder.frame_due(self.config.frame_seconds)
            # Shielded: the shutdown's cancel must not land between storing a frame and
            # publishing it (every page would see a gap and replay it from the database;
            # bench/fanout.py once saw all 100 pages replay the same 5 events).
            self._flushing = asyncio.ensure_future(self._flush())
            await asyncio.shield(self._flushing)

    async def _flush(self) -> None:
        if not self.recorder.pending():
            return
        try:
            await self.recorder.aflush()
        except Exception:  # events are best effort next to the run's own data
            self.stats.inc("events/lost")
            logger.warning("run %s: could not store events", self.run_id, exc_info=True)

    async def close(self) -> None:
        """The last events (the ending's among them)."""
        try:
            await self.recorder.aclose()
        except Exception:  # see _flush
            logger.warning("run %s: could not store the last events", self.run_id, exc_info=True)


class ProgressFeed:
    """The caller's progress callback, fed in the background (and once by ``report``)."""

    def __init__(
        self,
        *,
        state: RunState,
        config: EngineConfig,
        db: EngineDatabase,
        stats: EngineStats,
        callback: Callable[[selectors.RunProgress], None] | None,
    ) -> None:
        self.state = state
        self.config = config
        self.db = db
        self.stats = stats
        self.callback = callback
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self.callback is not None:
            self._task = asyncio.create_task(self._loop(), name="engine-progress")

    async def stop(self) -> None:
        await cancel(self._task)

    async def _loop(self) -> None:
        while True:
            await self.report()
            await asyncio.sleep(self.config.progress_seconds)

    async def report(self) -> None:
        if self.callback is None:
            return
        state = self.state
        try:
            progress = await self.db.call(selectors.run_progress_get, run_id=state.run_id)
        except DatabaseError:
            return
        progress.requests_per_s = self.stats.requests_per_second()
        progress.elapsed_s = self.stats.elapsed
        progress.busy_workers = state.in_flight
        if state.stop is not None and progress.status == Status.RUNNING:
            progress.extra["stopping"] = state.stop.status
        try:
            self.callback(progress)
        except Exception:
            logger.warning("progress callback failed", exc_info=True)
