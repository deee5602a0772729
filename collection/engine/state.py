"""What the parts of one execution share: the run, where it is, and whether it stops.

Each field has one writer, so no part reaches into another to learn it:

- ``mode``, ``workers``: the runner, once, when the execution begins;
- ``phase``: the claimer, as phases advance (the writer names it in its events);
- ``stop``, ``stop_seen_at``: whoever sees a reason first, through ``request_stop``;
- ``completed``: the run's ending, once every task of both phases is finished;
- ``in_flight``, ``request_seconds``: the workers (the claimer sizes its queue by them);
- ``generation``: the writer, once per stored batch (the claimer waits for new pages).

``wakeup`` is the claimer's event: set when a worker finishes a request, a batch is
stored or a stop is requested.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class StopRequest:
    """Why the execution stops before the run is complete, and the status it ends in."""

    status: str  # paused / cancelled / failed, or the status another process already set
    reason: str = ""  # PauseReason when paused
    message: str = ""
    resume_at: dt.datetime | None = None
    transition: bool = True  # False: the run already has ``status`` (someone else set it)
    urgent: bool = False  # a second signal: abandon in-flight requests at once


@dataclass(slots=True)
class RunState:
    """One process's execution of one run, as its parts see it (module docstring)."""

    run_id: int
    executor: str  # this process's name on the tasks it leases (host:pid:random)
    mode: str = ""  # started / resumed / joined
    phase: str = ""
    workers: int = 0
    stop: StopRequest | None = None
    stop_seen_at: float | None = None  # epoch seconds
    completed: bool = False
    in_flight: int = 0
    request_seconds: float = 0.0  # moving average of a request's duration (0: none yet)
    generation: int = 0  # results_store calls that committed
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    def request_stop(self, stop: StopRequest) -> None:
        """The first reason wins; a later urgent one only hurries it."""
        if self.stop is None:
            self.stop = stop
            self.stop_seen_at = time.time()
            logger.info(
                "run %s: stopping (%s%s) %s",
                self.run_id,
                stop.status,
                f", {stop.reason}" if stop.reason else "",
                stop.message,
            )
        elif stop.urgent:
            self.stop.urgent = True
        self.wakeup.set()


async def cancel(task: asyncio.Task | None) -> None:
    """Cancel a background loop and wait until it has ended."""
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def wait(event: asyncio.Event, timeout: float) -> None:
    """Wait for ``event`` (cleared first) at most ``timeout`` seconds."""
    event.clear()
    if timeout <= 0:
        return
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        pass
