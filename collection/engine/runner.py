"""The parallel runner: one asyncio loop, N workers, batched persistence, prompt stops.

Coroutines of one execution (one process taking part in one run)::

    claimer (the phase loop) ──tasks_claim──► bounded queue ──► worker 1..N ──► adapter
         ▲                                                          │ TaskOutcome
         └──── next pages exist once stored ◄── writer ◄────────────┘
                                                 │ results_store every FLUSH_SECONDS
                                                 │ or BATCH_SIZE outcomes (one transaction)
    monitor: heartbeat + lease extension; sees pause/cancel requested from elsewhere
    events:  recorder.aflush() every ACTIVITY_FRAME_SECONDS (sooner when ACTIVITY_FRAME_EVENTS wait)
    progress: run_progress_get for the caller's display (only when asked)

The claimer keeps about ``CLAIM_AHEAD_SECONDS`` of work queued: the workers' throughput
(workers ÷ the average request time) × that horizon, at least two tasks per worker and
at most a batch (``COLLECTION_BATCH_SIZE``). That is enough that a slow database round
trip never starves the workers, little enough that memory stays bounded and that other
processes joining the run get their share. Every database call runs through
``sync_to_async``; none sits on a request's path. Threads and connections:

- PostgreSQL: ``results_store`` and lease extension run on a thread (and connection) of
  their own, and claims on another, so neither a long batch transaction nor an event
  frame ever delays a claim; heartbeats, control polls and events run on asgiref's
  thread-sensitive thread. (Claims lock only pending rows, with SKIP LOCKED; stores and
  lease extensions only this process's running rows, one transaction at a time.)
- SQLite: everything runs on the thread-sensitive thread (one connection; SQLite has one
  writer at a time anyway), so a claim or a control poll can wait behind a batch.

Stopping (pause, cancel, auth failure, quota, consecutive failures, a signal) is
cooperative: once seen, no request starts (workers check right before each one); the
requests in flight get ``GRACE_SECONDS`` to finish, then their workers are cancelled.
Results already received are stored, the tasks this process still holds are released
(``pending`` again, so a resume redoes exactly them) and the run takes its new status.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import random
import secrets
import signal
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from django.utils import timezone

from activity.events import Action, EventRecorder
from collection import pipeline
from collection import selectors
from collection import store
from collection.engine.limiter import ProviderGates
from collection.engine.retry import TRANSIENT, Action as RetryAction, RetryPolicy
from collection.engine.stats import EngineStats
from collection.marketplaces.base import MarketplaceError, QuotaExhausted, RateLimited
from collection.models import CollectionRun, RunTask
from collection.quotas import QuotaTracker
from collection.services.execution import JOINED, run_execution_begin
from collection.services.runs import InvalidTransition, run_transition

logger = logging.getLogger(__name__)

Status = CollectionRun.Status
PauseReason = CollectionRun.PauseReason
Phase = CollectionRun.Phase

GRACE_SECONDS = 2.0  # in-flight requests get this long after a stop before being abandoned
CONTROL_SECONDS = 1.0  # how often pause/cancel requests are read from the database
CLAIM_POLL_SECONDS = 0.5  # how often an idle process looks for claimable tasks
CLAIM_AHEAD_SECONDS = 0.5  # work kept queued, at the measured request rate
DB_RETRIES = 3  # a lost database connection is retried this many times before pausing


@dataclass(slots=True)
class RunReport:
    """How an execution ended (plain data; ``run_collection --json`` prints it)."""

    run_id: int
    status: str
    products: int
    ebay_searches: int
    sellers_found: int
    sellers_new: int
    sightings: int
    requests: int
    retries: int
    failed_tasks: int
    duration_s: float
    stats: dict = field(default_factory=dict)
    phase: str = ""
    pause_reason: str = ""
    message: str = ""
    resume_at: str | None = None
    mode: str = ""  # started / resumed / joined
    executor: str = ""  # this process's name on the tasks it leased (host:pid:random)
    stop_seen_at: float | None = None  # epoch seconds when this process saw its stop
    failed: list[dict] = field(default_factory=list)  # the first failed tasks, with why
    session: dict = field(default_factory=dict)  # this process's own counters


@dataclass(slots=True)
class EngineConfig:
    """The engine's knobs, read from settings in one place (``from_settings``)."""

    retry: RetryPolicy
    rate_limits: dict[str, float]
    max_consecutive_failures: int
    lease_seconds: int
    heartbeat_seconds: float
    control_seconds: float
    batch_size: int
    flush_seconds: float
    frame_seconds: float
    grace_seconds: float = GRACE_SECONDS
    claim_poll_seconds: float = CLAIM_POLL_SECONDS
    progress_seconds: float = 0.5

    @classmethod
    def from_settings(cls) -> EngineConfig:
        heartbeat = float(settings.COLLECTION_HEARTBEAT_SECONDS)
        return cls(
            retry=RetryPolicy(
                max_attempts=max(1, int(settings.COLLECTION_RETRY_MAX)),
                base_delay=float(settings.COLLECTION_RETRY_BASE_DELAY),
                max_delay=float(settings.COLLECTION_RETRY_MAX_DELAY),
            ),
            rate_limits={k: float(v) for k, v in settings.COLLECTION_RATE_LIMITS.items()},
            max_consecutive_failures=int(settings.COLLECTION_MAX_CONSECUTIVE_FAILURES),
            lease_seconds=int(settings.COLLECTION_LEASE_SECONDS),
            heartbeat_seconds=heartbeat,
            control_seconds=min(CONTROL_SECONDS, heartbeat),
            batch_size=max(1, int(settings.COLLECTION_BATCH_SIZE)),
            flush_seconds=float(settings.COLLECTION_FLUSH_SECONDS),
            frame_seconds=float(settings.ACTIVITY_FRAME_SECONDS),
        )


@dataclass(slots=True)
class StopRequest:
    """Why the execution stops before the run is complete, and the status it ends in."""

    status: str  # paused / cancelled / failed, or the status another process already set
    reason: str = ""  # PauseReason when paused
    message: str = ""
    resume_at: dt.datetime | None = None
    transition: bool = True  # False: the run already has ``status`` (someone else set it)
    urgent: bool = False  # a second signal: abandon in-flight requests at once


class DatabaseUnavailable(Exception):
    """The database kept failing after ``DB_RETRIES`` attempts."""


class FailureStreak:
    """Consecutive failed tasks, and the transient failures of the current streak.

    A task that failed for a transient reason (timeout, connection, 5xx, 429) while every
    task around it fails too is a victim of a provider outage, not a bad task: such
    outcomes are held back until a task succeeds (then they are stored as failed). When
    the streak reaches the limit the run pauses and the held tasks are released instead,
    so a resume retries them. Failures that would repeat (parse errors, 4xx) are stored
    at once.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
        self.held: list[store.TaskOutcome] = []
        self.last_error_type = ""
        self.last_error_message = ""

    def success(self) -> list[store.TaskOutcome]:
        self.count = 0
        return self.release()

    def failure(self, outcome: store.TaskOutcome) -> tuple[bool, list[store.TaskOutcome]]:
        """Count a failed task; return (limit reached, outcomes to store now)."""
        self.count += 1
        self.last_error_type = outcome.error_type
        self.last_error_message = outcome.error_message
        tripped = self.limit > 0 and self.count >= self.limit
        if outcome.error_type in TRANSIENT or outcome.error_type == "rate_limited":
            self.held.append(outcome)
            return tripped, []
        return tripped, [outcome]

    def release(self) -> list[store.TaskOutcome]:
        held, self.held = self.held, []
        return held


async def _db(fn: Callable, /, **kwargs):
    """Run a synchronous ORM function off the event loop (one thread, one connection)."""
    return await sync_to_async(fn, thread_sensitive=True)(**kwargs)


async def _in(executor: ThreadPoolExecutor, fn: Callable, /, **kwargs):
    """Run a synchronous ORM function on a dedicated one-thread executor (its connection)."""
    return await sync_to_async(fn, thread_sensitive=False, executor=executor)(**kwargs)


def _on_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def _connection_reset() -> None:
    from django.db import connection

    try:
        connection.close()
    except DatabaseError:  # already broken: closing only forgets it
        logger.debug("closing a broken connection failed", exc_info=True)


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
        self.rng = random.Random()
        self.streak = FailureStreak(self.config.max_consecutive_failures)
        self.quota: QuotaTracker | None = None

        self.mode = ""
        self.phase = ""
        self.workers_count = 0
        self.options: pipeline.RunOptions | None = None
        self.marketplace = None
        self.stop: StopRequest | None = None
        self.stop_seen_at: float | None = None
        self.completed = False

        self.queue: asyncio.Queue[store.ClaimedTask] | None = None
        self.in_flight = 0
        self.request_seconds = 0.0  # moving average of a request's duration (0: none yet)
        self.generation = 0  # results_store calls that committed
        self._outcomes: list[store.TaskOutcome] = []
        self._first_outcome_at = 0.0
        self._last_flush_at = 0.0
        self._flush_requested = False
        self._closing = False
        self._flush_lock: asyncio.Lock | None = None
        self._wakeup: asyncio.Event | None = None  # claimer: something changed
        self._writer_wakeup: asyncio.Event | None = None
        self._worker_tasks: list[asyncio.Task] = []
        self._background: dict[str, asyncio.Task] = {}
        self._signals: list[int] = []
        self._events_flushing: asyncio.Future | None = None
        self._store_executor: ThreadPoolExecutor | None = None  # PostgreSQL only
        self._claim_executor: ThreadPoolExecutor | None = None  # PostgreSQL only

    # --- entry -------------------------------------------------------------------------

    async def execute(self) -> RunReport:
        started = time.monotonic()
        self._wakeup = asyncio.Event()
        self._writer_wakeup = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        if _on_postgres():
            self._store_executor = ThreadPoolExecutor(1, thread_name_prefix="engine-store")
            self._claim_executor = ThreadPoolExecutor(1, thread_name_prefix="engine-claim")
        try:
            run, self.mode = await _db(
                run_execution_begin, run_id=self.run_id, executor=self.executor
            )
            self.phase = run.phase
            self.workers_count = self.requested_workers or run.workers
            self.options = await _db(self._options_load)
            self._signals_install()
            try:
                await self._execute()
            finally:
                self._signals_remove()
            return await self._report(started)
        finally:
            await _db(_connection_reset)
            for executor in (self._store_executor, self._claim_executor):
                if executor is not None:
                    await _in(executor, _connection_reset)
                    executor.shutdown(wait=False)

    def _options_load(self) -> pipeline.RunOptions:
        run = CollectionRun.objects.get(pk=self.run_id)
        return pipeline.RunOptions(
            markup_min_percent=run.markup_min_percent,
            markup_max_percent=run.markup_max_percent,
            category_names=dict(run.categories.values_list("node_id", "name")),
            ebay_queries=run.ebay_queries,
        )

    async def _execute(self) -> None:
        from collection.marketplaces.factory import marketplace_check_config, marketplace_open

        logger.info(
            "run %s: %s by %s with %d workers (phase %s)", self.run_id, self.mode,
            self.executor, self.workers_count, self.phase,
        )
        try:
            marketplace_check_config()
        except Exception as exc:  # a configuration error: nothing can be fetched
            message = f"Marketplace configuration: {exc}"
            logger.error("run %s: %s", self.run_id, message)
            self.stop = StopRequest(Status.FAILED, message=message)
            await self._end_status()
            await self.recorder.aclose()
            return

        if self.phase == Phase.AMAZON:
            # Idempotent; a joiner plans too, in case the process it joins died before.
            await _db(store.run_plan, run_id=self.run_id)
        if self.mode != JOINED:
            action = Action.RUN_STARTED if self.mode == "started" else Action.RESUMED
            self.recorder.emit(
                action, workers=self.workers_count, executor=self.executor, phase=self.phase
            )
            if self.phase != Phase.DONE:
                self.recorder.emit(Action.PHASE_STARTED, phase=self.phase)

        self.queue = asyncio.Queue(
            maxsize=max(8, 2 * self.workers_count, self.config.batch_size)
        )
        self.quota = QuotaTracker()
        self._background = {
            "monitor": asyncio.create_task(self._monitor(), name="engine-monitor"),
            "events": asyncio.create_task(self._events_loop(), name="engine-events"),
            "writer": asyncio.create_task(self._writer_loop(), name="engine-writer"),
        }
        if self.progress_callback is not None:
            self._background["progress"] = asyncio.create_task(
                self._progress_loop(), name="engine-progress"
            )
        try:
            async with marketplace_open(
                concurrency=self.workers_count, **self.marketplace_options
            ) as marketplace:
                self.marketplace = marketplace
                self.quota.align_start(marketplace)
                self._worker_tasks = [
                    asyncio.create_task(self._worker(i), name=f"engine-worker-{i}")
                    for i in range(1, self.workers_count + 1)
                ]
                try:
                    await self._phases()
                finally:
                    await self._workers_stop()
        except DatabaseUnavailable as exc:
            self._request_stop(StopRequest(
                Status.PAUSED, reason=PauseReason.DATABASE,
                message=f"The database stopped answering ({exc}); resume when it is back.",
            ))
        except Exception as exc:
            logger.exception("run %s: engine error", self.run_id)
            self._request_stop(StopRequest(
                Status.FAILED, message=f"Engine error: {type(exc).__name__}: {exc}"[:2000]
            ))
        finally:
            await self._shutdown()

    # --- phases and claiming -----------------------------------------------------------

    async def _phases(self) -> None:
        while self.stop is None:
            if self.phase == Phase.DONE:
                await self._complete()
                return
            if not await self._phase_run(self.phase):
                return
            finished = self.phase
            self.phase = await self._db_retry(
                store.run_phase_advance, run_id=self.run_id, phase=finished
            )
            if self.phase == finished:  # a task of the phase appeared meanwhile
                continue
            if self.mode != JOINED:  # one process tells (a joiner's peer does)
                self.recorder.emit(Action.PHASE_FINISHED, phase=finished)
                if self.phase != Phase.DONE:
                    self.recorder.emit(Action.PHASE_STARTED, phase=self.phase)
            logger.info("run %s: phase %s finished; now %s", self.run_id, finished, self.phase)

    def _idle(self) -> bool:
        return self.queue.empty() and self.in_flight == 0

    async def _phase_run(self, phase: str) -> bool:
        """Claim and feed the phase's tasks until none is left (True) or a stop (False)."""
        queue = self.queue
        empty_generation: int | None = None  # generation when a claim last came back empty
        empty_at = 0.0
        waiting = 0  # polls in a row that found the phase's last tasks held by other processes
        while self.stop is None:
            depth = self._claim_depth()
            if queue.qsize() >= max(1, depth // 2):
                await self._wait(self._wakeup, self.config.claim_poll_seconds)
                continue
            if (
                empty_generation == self.generation
                and not self._idle()
                and time.monotonic() - empty_at < self.config.claim_poll_seconds
            ):
                # Nothing to claim until our own results are stored (they create the next
                # pages' tasks): ask the writer not to wait for a full batch.
                self._flush_soon()
                await self._wait(
                    self._wakeup,
                    self.config.claim_poll_seconds - (time.monotonic() - empty_at),
                )
                continue
            claimed = await self._db_retry(
                store.tasks_claim, run_id=self.run_id, phase=phase, executor=self.executor,
                limit=depth - queue.qsize(), lease_seconds=self.config.lease_seconds,
                on_claims=True,
            )
            for task in claimed:
                queue.put_nowait(task)
            if claimed:
                empty_generation = None
                waiting = 0
                continue
            empty_generation, empty_at = self.generation, time.monotonic()
            if self.stop is not None or not self._idle():
                continue
            # Everything this process took is finished: store it, then see whether the
            # phase is over, or whether other processes still hold some of its tasks.
            await self._flush(release_held=True)
            if self.generation != empty_generation:
                continue  # the results stored may have created tasks
            # Holding nothing in memory, any task still leased to us is a ghost (a claim
            # whose answer was lost): give it back.
            await self._db_retry(store.tasks_release, run_id=self.run_id, executor=self.executor)
            remaining = await self._db_retry(
                store.phase_remaining, run_id=self.run_id, phase=phase
            )
            if remaining == 0:
                return True
            # Other processes hold the phase's last tasks: they finish within about a
            # request, so look again soon, then back off to the poll interval (a peer's
            # phase end, or its new tasks, reach this process within ~50 ms, not 0.5 s).
            waiting += 1
            await self._wait(
                self._wakeup, min(self.config.claim_poll_seconds, 0.025 * 2**waiting)
            )
        return False

    def _claim_depth(self) -> int:
        """How many tasks to hold queued (see the module docstring)."""
        floor = max(8, 2 * self.workers_count)
        if not self.request_seconds:
            return floor
        ahead = self.workers_count / self.request_seconds * CLAIM_AHEAD_SECONDS
        return int(min(self.queue.maxsize, max(floor, ahead)))

    async def _wait(self, event: asyncio.Event, timeout: float) -> None:
        event.clear()
        if timeout <= 0:
            return
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass

    # --- workers -----------------------------------------------------------------------

    async def _worker(self, worker: int) -> None:
        queue = self.queue
        while True:
            task = await queue.get()
            if self.stop is not None:
                continue  # left claimed; released when the execution ends
            self.in_flight += 1
            try:
                outcome = await self._perform(task, worker)
            finally:
                self.in_flight -= 1
                self._wakeup.set()
            if outcome is not None:
                self._outcome_record(outcome, worker)

    async def _perform(self, task: store.ClaimedTask, worker: int) -> store.TaskOutcome | None:
        """Fetch one task with retries. None: stopped before finishing (task released)."""
        marketplace, options, recorder = self.marketplace, self.options, self.recorder
        quota = self.quota
        policy = self.config.retry
        gate = self.gates[pipeline.task_provider(task, marketplace)]
        fields = pipeline.task_event_fields(task, options)
        tries = counted = rate_limited = 0
        while True:
            await gate.wait_turn()
            if self.stop is not None:
                return None
            if quota.is_metered(gate.provider):
                try:
                    await quota.acquire(gate.provider)
                except QuotaExhausted as exc:
                    await self._quota_pause(gate.provider, exc, from_provider=False)
                    return None
                if self.stop is not None:
                    quota.release(gate.provider)  # quota hook: counted, but not sent
                    return None
            tries += 1
            self.stats.request(worker)
            recorder.emit(
                Action.FETCHING, worker=worker, phase=task.phase,
                attempt=task.attempts + tries, url=self._request_url(task), **fields,
            )
            began = time.monotonic()
            try:
                result = await pipeline.task_fetch(task, marketplace=marketplace, options=options)
            except pipeline.NotFetchable as exc:
                return pipeline.outcome_skipped(task, reason=str(exc))
            except MarketplaceError as exc:
                error, error_type, message = exc, exc.error_type, exc.message
                retry_after = exc.retry_after if isinstance(exc, RateLimited) else None
            except Exception as exc:  # an adapter bug must not kill the worker: recorded
                logger.exception("run %s: unexpected error in %s", self.run_id, task.key)
                error, error_type, retry_after = None, "internal", None
                message = f"{type(exc).__name__}: {exc}"
            else:
                elapsed = time.monotonic() - began
                self.request_seconds = (
                    0.9 * self.request_seconds + 0.1 * elapsed if self.request_seconds else elapsed
                )
                self.stats.request_ok()
                recorder.emit(
                    Action.FOUND, worker=worker, phase=task.phase,
                    duration_ms=round(elapsed * 1000),
                    **pipeline.result_event_fields(result),
                )
                return pipeline.outcome_done(
                    task, result, attempts=task.attempts + tries, options=options
                )

            self.stats.request_failed(worker, error_type)
            if error_type == "rate_limited":
                self.stats.inc("rate_limited")
                if retry_after is not None:
                    rate_limited += 1
                else:
                    counted += 1
            else:
                counted += 1
            decision = policy.decide(
                error_type, attempts=counted, rate_limited=rate_limited,
                retry_after=retry_after, rng=self.rng,
            )
            if decision.action is RetryAction.RETRY:
                self.stats.retry(error_type)
                if decision.gate_provider:
                    gate.defer(decision.delay)
                    recorder.emit(
                        Action.RATE_LIMITED, worker=worker, phase=task.phase,
                        retry_after_s=round(decision.delay, 3), provider=gate.provider,
                    )
                recorder.emit(
                    Action.RETRYING, worker=worker, phase=task.phase,
                    attempt=task.attempts + tries + 1, delay_s=round(decision.delay, 3),
                    error_type=error_type,
                )
                if not decision.gate_provider and decision.delay > 0:
                    await asyncio.sleep(decision.delay)
                continue
            if decision.action is RetryAction.FAIL_RUN:
                self._request_stop(StopRequest(
                    Status.FAILED,
                    message=(
                        f"Authentication failed at {gate.provider}: {message} "
                        "Check the credentials, then resume the run."
                    ),
                ))
                recorder.emit(
                    Action.ERROR, worker=worker, phase=task.phase, error_type=error_type,
                    message=message, task=task.key,
                )
                return None
            if decision.action is RetryAction.PAUSE_QUOTA:
                await self._quota_pause(
                    gate.provider, error, retry_after=retry_after, from_provider=True
                )
                return None
            recorder.emit(
                Action.ERROR, worker=worker, phase=task.phase, error_type=error_type,
                message=message, task=task.key,
            )
            return pipeline.outcome_failed(
                task, error_type=error_type, message=message, attempts=task.attempts + tries
            )

    def _request_url(self, task: store.ClaimedTask) -> str:
        """The redacted URL a task is about to request, when its adapter can tell."""
        try:
            if task.phase == RunTask.Phase.AMAZON:
                build = getattr(self.marketplace.amazon, "request_url", None)
                return build(node_id=task.node_id, page=task.page) if build else ""
            build = getattr(self.marketplace.ebay, "request_url", None)
            return build(pipeline.listing_query(task, self.options)) if build else ""
        except Exception:  # a description only: never fail a request over it
            return ""

    async def _quota_pause(
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
                    logger.warning("run %s: quota not recorded: %s", self.run_id, db_error)
        elif retry_after is not None:
            resume_at = timezone.now() + dt.timedelta(seconds=retry_after)
        when = f" until {resume_at.isoformat(timespec='seconds')}" if resume_at else ""
        detail = f": {exc.message}" if exc is not None else ""
        self._request_stop(StopRequest(
            Status.PAUSED, reason=PauseReason.QUOTA, resume_at=resume_at,
            message=f"The {provider} quota is exhausted{detail}. Paused{when}.",
        ))

    def _outcome_record(self, outcome: store.TaskOutcome, worker: int) -> None:
        self.stats.task_finished(worker, outcome.status, outcome.error_type)
        if outcome.status == RunTask.Status.FAILED:
            tripped, now = self.streak.failure(outcome)
            for item in now:
                self._deliver(item)
            if tripped and self.stop is None:
                self._request_stop(StopRequest(
                    Status.PAUSED, reason=PauseReason.FAILURES,
                    message=(
                        f"{self.streak.count} tasks failed in a row; the last with "
                        f"{self.streak.last_error_type}: {self.streak.last_error_message}"
                    )[:2000],
                ))
            return
        for item in self.streak.success():
            self._deliver(item)
        self._deliver(outcome)

    # --- writer ------------------------------------------------------------------------

    def _deliver(self, outcome: store.TaskOutcome) -> None:
        outcomes = self._outcomes
        outcomes.append(outcome)
        if len(outcomes) == 1:
            self._first_outcome_at = time.monotonic()
            self._writer_wakeup.set()
        elif len(outcomes) >= self.config.batch_size:
            self._writer_wakeup.set()

    def _flush_soon(self) -> None:
        if self._outcomes and not self._flush_requested:
            self._flush_requested = True
            self._writer_wakeup.set()

    async def _writer_loop(self) -> None:
        try:
            await self._writer_run()
        except DatabaseUnavailable as exc:
            self._request_stop(StopRequest(
                Status.PAUSED, reason=PauseReason.DATABASE,
                message=f"The database stopped answering ({exc}); resume when it is back.",
            ))
        except Exception as exc:
            logger.exception("run %s: storing results failed", self.run_id)
            self._request_stop(StopRequest(
                Status.FAILED, message=f"Storing results failed: {type(exc).__name__}: {exc}"[:2000]
            ))

    async def _writer_run(self) -> None:
        """Store outcomes by size (BATCH_SIZE) or age (FLUSH_SECONDS), counters every 2 s."""
        config = self.config
        while not self._closing and self.stop is None:
            now = time.monotonic()
            if self._outcomes:
                due = self._first_outcome_at + config.flush_seconds
                if (
                    len(self._outcomes) >= config.batch_size
                    or self._flush_requested
                    or now >= due
                ):
                    await self._flush()
                    continue
                await self._wait(self._writer_wakeup, due - now)
                continue
            if now - self._last_flush_at >= 2.0 and self.stats.has_delta():
                await self._flush()
                continue
            await self._wait(self._writer_wakeup, 1.0)

    async def _flush(self, *, release_held: bool = False) -> store.BatchResult | None:
        """Store every outcome received so far (and the counters) in one transaction."""
        async with self._flush_lock:
            # Held failures are stored only when the run goes on (a stop releases them).
            if release_held and self.stop is None:
                self._outcomes.extend(self.streak.release())
            outcomes, self._outcomes = self._outcomes, []
            self._flush_requested = False
            counters = self.stats.take_delta()
            self._last_flush_at = time.monotonic()
            if not outcomes and not counters:
                return None
            try:
                result = await self._db_retry(
                    store.results_store, run_id=self.run_id, outcomes=outcomes,
                    counters=counters, on_store=True,
                )
            except BaseException:
                # Not stored: the tasks stay leased to us and are released (or expire)
                # unfinished, so a resume fetches them again; the counters go next time.
                self.stats.give_back(counters)
                raise
            self.generation += 1
            self._batch_events(result)
            self._wakeup.set()
            return result

    def _batch_events(self, result: store.BatchResult) -> None:
        emit = self.recorder.emit
        if result.tasks_done or result.tasks_failed:
            emit(
                Action.STORED, phase=self.phase, tasks=result.tasks_done + result.tasks_failed,
                products=result.products_upserted, sightings=result.sightings_new,
            )
        if result.sellers_deduped:
            emit(Action.DEDUPED, phase=self.phase, sellers=result.sellers_deduped)
        if result.sellers_new:
            emit(
                Action.INSERTED, phase=self.phase, sellers=result.sellers_new,
                names=list(result.new_seller_names),
            )

    async def _store_call(self, fn: Callable, /, **kwargs):
        """Run on the store's own thread and connection (PostgreSQL), else like ``_db``."""
        if self._store_executor is None:
            return await _db(fn, **kwargs)
        return await _in(self._store_executor, fn, **kwargs)

    async def _claim_call(self, fn: Callable, /, **kwargs):
        """Run on the claimer's own thread and connection (PostgreSQL), else like ``_db``."""
        if self._claim_executor is None:
            return await _db(fn, **kwargs)
        return await _in(self._claim_executor, fn, **kwargs)

    async def _db_retry(
        self, fn: Callable, /, *, on_store: bool = False, on_claims: bool = False, **kwargs
    ):
        """A database call that survives a dropped connection (reconnects, retries)."""
        call = self._store_call if on_store else self._claim_call if on_claims else _db
        for attempt in range(1, DB_RETRIES + 1):
            try:
                return await call(fn, **kwargs)
            except (OperationalError, InterfaceError) as exc:
                logger.warning(
                    "run %s: database error in %s (attempt %d/%d): %s", self.run_id,
                    getattr(fn, "__name__", fn), attempt, DB_RETRIES, exc,
                )
                await call(_connection_reset)
                if attempt == DB_RETRIES:
                    raise DatabaseUnavailable(str(exc).strip().splitlines()[0][:300]) from exc
                await asyncio.sleep(0.5 * 2 ** (attempt - 1))

    # --- monitor, events, progress -----------------------------------------------------

    def _control(self, *, beat: bool) -> tuple[str, str]:
        if beat:
            store.run_heartbeat(run_id=self.run_id, executor=self.executor)
        return selectors.run_control_get(run_id=self.run_id)

    async def _monitor(self) -> None:
        """Heartbeat and lease extension; pause/cancel requested from another process."""
        next_beat = time.monotonic() + self.config.heartbeat_seconds
        while True:
            await asyncio.sleep(self.config.control_seconds)
            now = time.monotonic()
            beat = now >= next_beat
            try:
                status, action = await _db(self._control, beat=beat)
                if beat:
                    # With the store's connection: task rows are only ever locked by
                    # one transaction of this process at a time (no lock-order cycles).
                    await self._store_call(
                        store.tasks_extend_lease, run_id=self.run_id, executor=self.executor,
                        lease_seconds=self.config.lease_seconds,
                    )
            except DatabaseError as exc:
                logger.warning("run %s: heartbeat failed: %s", self.run_id, exc)
                await _db(_connection_reset)
                continue
            if beat:
                next_beat = now + self.config.heartbeat_seconds
            self._control_apply(status, action)

    def _control_apply(self, status: str, action: str) -> None:
        if self.stop is not None or self.completed:
            return
        if status == Status.RUNNING:
            if action == "pause":
                self._request_stop(StopRequest(
                    Status.PAUSED, reason=PauseReason.OPERATOR, message="Paused by an operator."
                ))
            elif action == "cancel":
                self._request_stop(StopRequest(
                    Status.CANCELLED, message="Cancelled by an operator."
                ))
            return
        # Another process (a peer of this run, or an operator on an orphan) changed it.
        self._request_stop(StopRequest(status, transition=False))

    async def _events_loop(self) -> None:
        while True:
            await self.recorder.frame_due(self.config.frame_seconds)
            # Shielded: the shutdown's cancel must not land between storing a frame and
            # publishing it (every page would see a gap and replay it from the database;
            # bench/fanout.py once saw all 100 pages replay the same 5 events).
            self._events_flushing = asyncio.ensure_future(self._events_flush())
            await asyncio.shield(self._events_flushing)

    async def _events_flush(self) -> None:
        if not self.recorder.pending():
            return
        try:
            await self.recorder.aflush()
        except Exception:  # events are best effort next to the run's own data
            self.stats.inc("events/lost")
            logger.warning("run %s: could not store events", self.run_id, exc_info=True)

    async def _progress_loop(self) -> None:
        while True:
            await self._progress_report()
            await asyncio.sleep(self.config.progress_seconds)

    async def _progress_report(self) -> None:
        if self.progress_callback is None:
            return
        try:
            progress = await _db(selectors.run_progress_get, run_id=self.run_id)
        except DatabaseError:
            return
        progress.requests_per_s = self.stats.requests_per_second()
        progress.elapsed_s = self.stats.elapsed
        progress.busy_workers = self.in_flight
        if self.stop is not None and progress.status == Status.RUNNING:
            progress.extra["stopping"] = self.stop.status
        try:
            self.progress_callback(progress)
        except Exception:
            logger.warning("progress callback failed", exc_info=True)

    # --- stopping and ending -----------------------------------------------------------

    def _request_stop(self, stop: StopRequest) -> None:
        if self.stop is None:
            self.stop = stop
            self.stop_seen_at = time.time()
            logger.info(
                "run %s: stopping (%s%s) %s", self.run_id, stop.status,
                f", {stop.reason}" if stop.reason else "", stop.message,
            )
        elif stop.urgent:
            self.stop.urgent = True
        if self._wakeup is not None:
            self._wakeup.set()

    def _signals_install(self) -> None:
        if not self.install_signal_handlers:
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
                self._signals.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                logger.debug("cannot install a handler for %s", sig)

    def _signals_remove(self) -> None:
        if not self._signals:
            return
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            loop.remove_signal_handler(sig)
        self._signals = []

    def _on_signal(self, sig: int) -> None:
        name = signal.Signals(sig).name
        if self.stop is None:
            self._request_stop(StopRequest(
                Status.PAUSED, reason=PauseReason.INTERRUPTED, message=f"Interrupted ({name})."
            ))
        else:
            logger.warning("run %s: second %s, abandoning requests in flight", self.run_id, name)
            self._request_stop(StopRequest(self.stop.status, urgent=True))

    async def _workers_stop(self) -> None:
        """Let requests in flight finish (up to the grace period), then cancel the workers."""
        if self.stop is not None and not self.stop.urgent:
            deadline = time.monotonic() + self.config.grace_seconds
            while self.in_flight and time.monotonic() < deadline:
                if self.stop.urgent:
                    break
                await self._wait(self._wakeup, min(0.05, deadline - time.monotonic()))
        abandoned = self.in_flight  # still busy: their tasks go back to pending
        for task in self._worker_tasks:
            task.cancel()
        await asyncio.gather(*self._worker_tasks, return_exceptions=True)
        if abandoned:
            logger.info("run %s: %d requests abandoned", self.run_id, abandoned)
            self.stats.inc("requests/abandoned", abandoned)
        self.in_flight = 0

    async def _shutdown(self) -> None:
        """Store what was received, release what was not done, set the run's status."""
        self._closing = True
        self._writer_wakeup.set()
        writer = self._background.pop("writer", None)
        if writer is not None:
            try:
                await writer
            except Exception:
                logger.warning("run %s: writer stopped with an error", self.run_id, exc_info=True)
        if not self.completed:
            self.streak.release()  # their tasks go back to pending with the others
            try:
                await self._flush()
            except Exception as exc:
                logger.error("run %s: could not store the last results: %s", self.run_id, exc)
            try:
                released = await self._db_retry(
                    store.tasks_release, run_id=self.run_id, executor=self.executor
                )
                if released:
                    logger.info("run %s: %d tasks released", self.run_id, released)
            except Exception as exc:
                logger.error("run %s: could not release tasks: %s", self.run_id, exc)
        if self.quota is not None:
            try:
                await self.quota.aclose()
            except Exception as exc:
                logger.warning("run %s: quota reservations not returned: %s", self.run_id, exc)
        for name in ("monitor", "progress", "events"):
            task = self._background.pop(name, None)
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._events_flushing is not None:  # a frame being stored goes out first
            await asyncio.gather(self._events_flushing, return_exceptions=True)
        if not self.completed and self.stop is not None:
            await self._end_status()
        try:
            await self.recorder.aclose()
        except Exception:  # see _events_flush
            logger.warning("run %s: could not store the last events", self.run_id, exc_info=True)
        await self._progress_report()

    async def _end_status(self) -> None:
        stop = self.stop
        event_data = {"message": stop.message}
        if stop.transition:
            fields = {"status_message": stop.message}
            if stop.status == Status.PAUSED:
                fields.update(pause_reason=stop.reason, resume_at=stop.resume_at)
            elif stop.status == Status.FAILED:
                fields["failure_reason"] = stop.message
            try:
                await self._db_retry(
                    run_transition, run_id=self.run_id, to=stop.status,
                    expect=[Status.RUNNING], **fields,
                )
            except InvalidTransition as exc:
                logger.info("run %s: %s (another process ended it first)", self.run_id, exc)
                return
            except Exception as exc:
                logger.error(
                    "run %s: could not record status %s: %s", self.run_id, stop.status, exc
                )
                return
        else:
            return  # whoever changed the status recorded the event
        try:  # what the run saw so far counts in the leaderboard while it is stopped
            await self._db_retry(store.seller_scores_settle, run_id=self.run_id)
        except Exception as exc:
            logger.error("run %s: could not settle seller scores: %s", self.run_id, exc)
        if stop.status == Status.PAUSED:
            event_data["reason"] = stop.reason
            if stop.resume_at:
                event_data["resume_at"] = stop.resume_at.isoformat()
            self.recorder.emit(Action.PAUSED, **event_data)
        elif stop.status == Status.CANCELLED:
            self.recorder.emit(Action.CANCELLED, **event_data)
        elif stop.status == Status.FAILED:
            self.recorder.emit(Action.FAILED, **event_data)

    async def _complete(self) -> None:
        """Every task of both phases is finished: snapshot, stats, completed."""
        await self._flush(release_held=True)
        status, _ = await self._db_retry(selectors.run_control_get, run_id=self.run_id)
        # Counters were added batch by batch (by every process); the final stats only
        # add what is not a sum: the run's wall time from its first start.
        run = await self._db_retry(
            store.run_finish, run_id=self.run_id, stats=await _db(self._final_stats)
        )
        self.completed = True
        if status == Status.COMPLETED:  # a process sharing the run finished it first
            return
        self.recorder.emit(
            Action.COMPLETED,
            summary={
                "products": run.products_found, "ebay_searches": run.ebay_searches,
                "sellers_found": run.sellers_found, "sellers_new": run.sellers_new,
                "sightings": run.sightings, "requests": run.requests, "retries": run.retries,
                "failed_tasks": run.failed_tasks,
            },
        )
        logger.info("run %s completed", self.run_id)

    def _final_stats(self) -> dict:
        started_at = CollectionRun.objects.values_list("started_at", flat=True).get(pk=self.run_id)
        wall = (timezone.now() - started_at).total_seconds() if started_at else self.stats.elapsed
        return {"duration_s": round(wall, 3)}

    async def _report(self, started: float) -> RunReport:
        def load() -> tuple[CollectionRun, list[dict]]:
            run = CollectionRun.objects.get(pk=self.run_id)
            return run, store.run_failed_tasks(run_id=self.run_id, limit=50)

        try:
            run, failed = await self._db_retry(load)
        except DatabaseUnavailable as exc:
            # What this process knows: the run row says "running" until someone resumes it.
            status = self.stop.status if self.stop else Status.RUNNING
            message = self.stop.message if self.stop else f"The database stopped answering ({exc})."
            session = self.stats.as_dict()
            return RunReport(
                run_id=self.run_id, status=status, products=0, ebay_searches=0,
                sellers_found=0, sellers_new=0, sightings=0,
                requests=session.get("requests", 0), retries=session.get("retries", 0),
                failed_tasks=0, duration_s=round(time.monotonic() - started, 3),
                phase=self.phase, pause_reason=self.stop.reason if self.stop else "",
                message=message, mode=self.mode, executor=self.executor, session=session,
            )
        message = run.status_message or run.failure_reason
        if not message and self.stop is not None and run.status == self.stop.status:
            message = self.stop.message
        return RunReport(
            run_id=run.pk,
            status=run.status,
            products=run.products_found,
            ebay_searches=run.ebay_searches,
            sellers_found=run.sellers_found,
            sellers_new=run.sellers_new,
            sightings=run.sightings,
            requests=run.requests,
            retries=run.retries,
            failed_tasks=run.failed_tasks,
            duration_s=round(time.monotonic() - started, 3),
            stats=dict(run.stats or {}),
            phase=run.phase,
            pause_reason=run.pause_reason,
            message=message,
            resume_at=run.resume_at.isoformat() if run.resume_at else None,
            mode=self.mode,
            executor=self.executor,
            stop_seen_at=self.stop_seen_at,
            failed=failed,
            session=self.stats.as_dict(),
        )


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
        run_id=run_id, workers=workers, config=config, progress=progress,
        install_signal_handlers=install_signal_handlers,
        marketplace_options=marketplace_options,
    )
    return await runner.execute()


def run_execute(*, run_id: int, **kwargs) -> RunReport:
    """The synchronous twin of ``arun_execute`` (task workers, management commands)."""
    return asyncio.run(arun_execute(run_id=run_id, **kwargs))


__all__ = ["EngineConfig", "RunReport", "Runner", "arun_execute", "run_execute"]
