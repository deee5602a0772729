"""What stops a run from outside its tasks: control polls, signals, and spent quotas.

- ``Monitor`` (in the background): the heartbeat and the lease extension every
  ``COLLECTION_HEARTBEAT_SECONDS``; every ``CONTROL_SECONDS`` the pause or cancel an
  operator requested, or the status another process set; and the quota pauses a worker
  asks for.
- ``Signals``: SIGINT/SIGTERM pause the run (reason interrupted); a second one abandons
  the requests in flight at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import signal
import time

from django.db import DatabaseError
from django.utils import timezone

from collection import selectors, store
from collection.engine.config import EngineConfig
from collection.engine.db import EngineDatabase, connection_reset
from collection.engine.state import RunState, StopRequest, cancel
from collection.marketplaces.base import MarketplaceError, QuotaExhausted
from collection.models import CollectionRun
from collection.quotas import QuotaTracker

logger = logging.getLogger(__name__)

Status = CollectionRun.Status
PauseReason = CollectionRun.PauseReason


class Monitor:
    """Heartbeat, lease extension and control (in the background); quota pauses."""

    def __init__(
        self, *, state: RunState, config: EngineConfig, db: EngineDatabase, quota: QuotaTracker
    ) -> None:
        self.state = state
        self.config = config
        self.db = db
        self.quota = quota
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="engine-monitor")

    async def stop(self) -> None:
        await cancel(self._task)

    def _control(self, *, beat: bool) -> tuple[str, str]:
        if beat:
            store.run_heartbeat(run_id=self.state.run_id, executor=self.state.executor)
        return selectors.run_control_get(run_id=self.state.run_id)

    async def _loop(self) -> None:
        """Heartbeat and lease extension; pause/cancel requested from another process."""
        state, config, db = self.state, self.config, self.db
        next_beat = time.monotonic() + config.heartbeat_seconds
        while True:
            await asyncio.sleep(config.control_seconds)
            now = time.monotonic()
            beat = now >= next_beat
            try:
                status, action = await db.call(self._control, beat=beat)
                if beat:
                    # On a store connection: it locks this process's running task rows
                    # in id order, as a batch being stored on another one does.
                    await db.store_call(
                        store.tasks_extend_lease,
                        run_id=state.run_id,
                        executor=state.executor,
                        lease_seconds=config.lease_seconds,
                    )
            except DatabaseError as exc:
                logger.warning("run %s: heartbeat failed: %s", state.run_id, exc)
                await db.call(connection_reset)
                continue
            if beat:
                next_beat = now + config.heartbeat_seconds
            self._control_apply(status, action)

    def _control_apply(self, status: str, action: str) -> None:
        state = self.state
        if state.stop is not None or state.completed:
            return
        if status == Status.RUNNING:
            if action == "pause":
                state.request_stop(
                    StopRequest(
                        Status.PAUSED, reason=PauseReason.OPERATOR, message="Paused by an operator."
                    )
                )
            elif action == "cancel":
                state.request_stop(
                    StopRequest(Status.CANCELLED, message="Cancelled by an operator.")
                )
            return
        # Another process (a peer of this run, or an operator on an orphan) changed it.
        state.request_stop(StopRequest(status, transition=False))

    async def quota_pause(
        self,
        provider: str,
        exc: MarketplaceError | None,
        *,
        retry_after: float | None = None,
        from_provider: bool,
    ) -> None:
        """Pause the run (reason quota) until the provider's quota resets."""
        resume_at = None
        if isinstance(exc, QuotaExhausted):
            resume_at = exc.reset_at
            if from_provider:  # the provider said so: every process must know
                try:
                    resume_at = await self.quota.exhausted(provider, reset_at=exc.reset_at)
                except DatabaseError as db_error:
                    logger.warning("run %s: quota not recorded: %s", self.state.run_id, db_error)
        elif retry_after is not None:
            resume_at = timezone.now() + dt.timedelta(seconds=retry_after)
        when = f" until {resume_at.isoformat(timespec='seconds')}" if resume_at else ""
        detail = f": {exc.message}" if exc is not None else ""
        self.state.request_stop(
            StopRequest(
                Status.PAUSED,
                reason=PauseReason.QUOTA,
                resume_at=resume_at,
                message=f"The {provider} quota is exhausted{detail}. Paused{when}.",
            )
        )


class Signals:
    """SIGINT/SIGTERM handlers for the execution's loop (only when ``enabled``)."""

    def __init__(self, state: RunState, *, enabled: bool) -> None:
        self.state = state
        self.enabled = enabled
        self._installed: list[int] = []

    def install(self) -> None:
        if not self.enabled:
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
                self._installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                logger.debug("cannot install a handler for %s", sig)

    def remove(self) -> None:
        if not self._installed:
            return
        loop = asyncio.get_running_loop()
        for sig in self._installed:
            loop.remove_signal_handler(sig)
        self._installed = []

    def _on_signal(self, sig: int) -> None:
        state = self.state
        name = signal.Signals(sig).name
        if state.stop is None:
            state.request_stop(
                StopRequest(
                    Status.PAUSED, reason=PauseReason.INTERRUPTED, message=f"Interrupted ({name})."
                )
            )
        else:
            logger.warning("run %s: second %s, abandoning requests in flight", state.run_id, name)
            state.request_stop(StopRequest(state.stop.status, urgent=True))
