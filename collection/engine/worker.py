"""The workers: N coroutines that take claimed tasks off the queue and perform them.

Performing a task: wait the provider's turn (``limiter``), take a quota unit when the
provider is metered, fetch through the pipeline, and on a failure let ``retry.decide``
say what next (retry, fail the task, pause for quota, fail the run). No request starts
once a stop is seen: a worker checks right before each one. A finished task's outcome
goes through the failure streak to the writer.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable

from activity.events import EventRecorder
from activity.payloads import Action
from collection import pipeline, store
from collection.engine.config import EngineConfig
from collection.engine.limiter import ProviderGates
from collection.engine.retry import Action as RetryAction
from collection.engine.state import RunState, StopRequest, wait
from collection.engine.stats import EngineStats
from collection.engine.streak import FailureStreak
from collection.engine.writer import Writer
from collection.marketplaces.base import MarketplaceError, QuotaExhausted, RateLimited
from collection.models import CollectionRun, RunTask
from collection.quotas import QuotaTracker

logger = logging.getLogger(__name__)

Status = CollectionRun.Status
PauseReason = CollectionRun.PauseReason

QuotaPause = Callable[..., Awaitable[None]]  # Monitor.quota_pause


class Workers:
    """The pool of one execution: ``start`` them, ``stop`` them when the phases end."""

    def __init__(
        self,
        *,
        state: RunState,
        config: EngineConfig,
        queue: asyncio.Queue[store.ClaimedTask],
        marketplace,
        options: pipeline.RunOptions,
        gates: ProviderGates,
        quota: QuotaTracker,
        quota_pause: QuotaPause,
        streak: FailureStreak,
        writer: Writer,
        recorder: EventRecorder,
        stats: EngineStats,
    ) -> None:
        self.state = state
        self.config = config
        self.queue = queue
        self.marketplace = marketplace
        self.options = options
        self.gates = gates
        self.quota = quota
        self.quota_pause = quota_pause
        self.streak = streak
        self.writer = writer
        self.recorder = recorder
        self.stats = stats
        self.rng = random.Random()
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._work(i), name=f"engine-worker-{i}")
            for i in range(1, self.state.workers + 1)
        ]

    async def stop(self) -> None:
        """Let requests in flight finish (up to the grace period), then cancel the workers."""
        state = self.state
        if state.stop is not None and not state.stop.urgent:
            deadline = time.monotonic() + self.config.grace_seconds
            while state.in_flight and time.monotonic() < deadline:
                if state.stop.urgent:
                    break
                await wait(state.wakeup, min(0.05, deadline - time.monotonic()))
        abandoned = state.in_flight  # still busy: their tasks go back to pending
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if abandoned:
            logger.info("run %s: %d requests abandoned", state.run_id, abandoned)
            self.stats.inc("requests/abandoned", abandoned)
        state.in_flight = 0

    async def _work(self, worker: int) -> None:
        queue, state = self.queue, self.state
        while True:
            task = await queue.get()
            if state.stop is not None:
                continue  # left claimed; released when the execution ends
            state.in_flight += 1
            try:
                outcome = await self._perform(task, worker)
            finally:
                state.in_flight -= 1
                state.wakeup.set()
            if outcome is not None:
                self._outcome_record(outcome, worker)
                # The page is the writer's now: not kept alive here while this worker
                # waits for its next task.
                outcome = None
                await self.writer.room()  # back-pressure: the writer holds enough rows

    async def _perform(self, task: store.ClaimedTask, worker: int) -> store.TaskOutcome | None:
        """Fetch one task with retries. None: stopped before finishing (task released)."""
        state, marketplace, options = self.state, self.marketplace, self.options
        recorder, quota = self.recorder, self.quota
        policy = self.config.retry
        gate = self.gates[pipeline.task_provider(task, marketplace)]
        fields = pipeline.task_event_fields(task, options)
        tries = counted = rate_limited = 0
        while True:
            await gate.wait_turn()
            if state.stop is not None:
                return None
            if quota.is_metered(gate.provider):
                try:
                    await quota.acquire(gate.provider)
                except QuotaExhausted as exc:
                    await self.quota_pause(gate.provider, exc, from_provider=False)
                    return None
                if state.stop is not None:
                    quota.release(gate.provider)  # counted against the quota, but not sent
                    return None
            tries += 1
            self.stats.request(worker)
            recorder.emit(
                Action.FETCHING,
                worker=worker,
                phase=task.phase,
                attempt=task.attempts + tries,
                url=self._request_url(task),
                **fields,
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
                logger.exception("run %s: unexpected error in %s", state.run_id, task.key)
                error, error_type, retry_after = None, "internal", None
                message = f"{type(exc).__name__}: {exc}"
            else:
                elapsed = time.monotonic() - began
                state.request_seconds = (
                    0.9 * state.request_seconds + 0.1 * elapsed
                    if state.request_seconds
                    else elapsed
                )
                self.stats.request_ok()
                recorder.emit(
                    Action.FOUND,
                    worker=worker,
                    phase=task.phase,
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
                error_type,
                attempts=counted,
                rate_limited=rate_limited,
                retry_after=retry_after,
                rng=self.rng,
            )
            if decision.action is RetryAction.RETRY:
                self.stats.retry(error_type)
                if decision.gate_provider:
                    gate.defer(decision.delay)
                    recorder.emit(
                        Action.RATE_LIMITED,
                        worker=worker,
                        phase=task.phase,
                        retry_after_s=round(decision.delay, 3),
                        provider=gate.provider,
                    )
                recorder.emit(
                    Action.RETRYING,
                    worker=worker,
                    phase=task.phase,
                    attempt=task.attempts + tries + 1,
                    delay_s=round(decision.delay, 3),
                    error_type=error_type,
                )
                if not decision.gate_provider and decision.delay > 0:
                    await asyncio.sleep(decision.delay)
                continue
            if decision.action is RetryAction.FAIL_RUN:
                state.request_stop(
                    StopRequest(
                        Status.FAILED,
                        message=(
                            f"Authentication failed at {gate.provider}: {message} "
                            "Check the credentials, then resume the run."
                        ),
                    )
                )
                recorder.emit(
                    Action.ERROR,
                    worker=worker,
                    phase=task.phase,
                    error_type=error_type,
                    message=message,
                    task=task.key,
                )
                return None
            if decision.action is RetryAction.PAUSE_QUOTA:
                await self.quota_pause(
                    gate.provider, error, retry_after=retry_after, from_provider=True
                )
                return None
            recorder.emit(
                Action.ERROR,
                worker=worker,
                phase=task.phase,
                error_type=error_type,
                message=message,
                task=task.key,
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

    def _outcome_record(self, outcome: store.TaskOutcome, worker: int) -> None:
        """Count a finished task; failures go through the streak, which may pause the run."""
        self.stats.task_finished(worker, outcome.status, outcome.error_type)
        streak = self.streak
        if outcome.status == RunTask.Status.FAILED:
            tripped, now = streak.failure(outcome)
            for item in now:
                self.writer.deliver(item)
            if tripped and self.state.stop is None:
                self.state.request_stop(
                    StopRequest(
                        Status.PAUSED,
                        reason=PauseReason.FAILURES,
                        message=(
                            f"{streak.count} tasks failed in a row; the last with "
                            f"{streak.last_error_type}: {streak.last_error_message}"
                        )[:2000],
                    )
                )
            return
        for item in streak.success():
            self.writer.deliver(item)
        self.writer.deliver(outcome)
