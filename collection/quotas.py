"""The quota tracker the engine asks before every request (an engine component).

The windows are ``collection.quota_windows``; the counter is ``collection.store.usage``.
Usage lives in ``ProviderUsage`` rows, one per (provider, window start), shared by every
process. A ``QuotaTracker`` (one per run execution) takes requests from that counter in
blocks::

    acquire(provider) ──► local block left? ──yes──► take one (no database round trip)
                               │ no
                               ▼
           UPDATE usage SET requests = requests + n
            WHERE provider = … AND window_start = … AND requests + n <= limit
                               │ 0 rows and nothing left          │ 1 row
                               ▼                                  ▼
                 raise QuotaExhausted(reset_at=window end)   block of n, take one

so several processes never pass the limit in any window (the condition is checked by the
database in one statement), usage survives a restart (it is in the database), and only one
request in a block touches the database. ``aclose()`` gives the unused part of a block
back; a process killed without closing leaves at most two blocks counted but unsent (the
error is on the safe side).

Blocks are reserved *ahead*: when half of the current block is left, the next one is
reserved in the background, so a request waits for the database only when a whole block
ran out first. A block is ``COLLECTION_QUOTA_BLOCK`` requests, or about
``RESERVE_AHEAD_SECONDS`` of requests at the rate this tracker is sending, whichever is
larger, but never more than 1 % of the window's limit: a block reserved on demand held the
provider's lock across a database round trip, and the workers queued behind it. In live
mode the eBay counter is aligned at run start
with what eBay's Developer Analytics ``rate_limit`` endpoint reports (other apps may share
the keyset; eBay's reset time wins).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError

from collection.marketplaces.base import MarketplaceError
from collection.quota_windows import (
    Quota,
    Window,
    quota_exhausted_error,
    quota_guard_seconds,
    quotas_configured,
)
from collection.store.usage import usage_raise_to, usage_release, usage_reserve

logger = logging.getLogger(__name__)

RESERVE_AHEAD_SECONDS = 2.0  # a block lasts about this long at the current request rate


@dataclass(slots=True)
class _ProviderState:
    lock: asyncio.Lock
    window: Window | None = None
    left: int = 0  # reserved in the database, not yet sent
    sent: int = 0
    refill: asyncio.Task | None = None  # the next block, being reserved ahead
    reserved_at: float = 0.0  # time.monotonic() of the last reservation
    sent_at_reserve: int = 0  # ``sent`` then (the rate is measured between reservations)
    block: int = 0  # the last block reserved


class QuotaTracker:
    """Counts the requests of one run execution against the providers' quotas.

    The engine calls ``await acquire(provider)`` right before every request it sends
    (retries included), ``release(provider)`` when it did not send it after all, and
    ``await aclose()`` when it stops; ``await exhausted(provider)`` when the provider itself
    answers "quota spent" (eBay 429/2001). Unmetered providers (no quota configured) cost
    nothing.
    """

    def __init__(
        self,
        quotas: Mapping[str, Quota] | None = None,
        *,
        block: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.quotas: dict[str, Quota] = dict(quotas_configured() if quotas is None else quotas)
        self.block = max(1, block if block is not None else settings.COLLECTION_QUOTA_BLOCK)
        self._clock = clock
        self._states: dict[str, _ProviderState] = {}
        self._aligning: asyncio.Task | None = None  # align_start's background alignment
        self._aligning_providers: frozenset[str] = frozenset()

    def is_metered(self, provider: str) -> bool:
        return provider in self.quotas

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._clock(), tz=dt.UTC)

    def _state(self, provider: str) -> _ProviderState:
        state = self._states.get(provider)
        if state is None:
            state = self._states[provider] = _ProviderState(lock=asyncio.Lock())
        return state

    @property
    def sent(self) -> dict[str, int]:
        """Requests let through per provider by this tracker (its stats)."""
        return {provider: state.sent for provider, state in self._states.items()}

    async def acquire(self, provider: str) -> None:
        """Count one request to ``provider``; raise ``QuotaExhausted`` when its window is spent."""
        if provider in self._aligning_providers and self._aligning is not None:
            await asyncio.shield(self._aligning)  # its first requests wait for what it reports
        quota = self.quotas.get(provider)
        if quota is None:
            return
        state = self._state(provider)
        async with state.lock:
            while True:
                now = self._now()
                window = quota.window_at(now)
                to_end = (window.end - now).total_seconds()
                if to_end < quota_guard_seconds(window):
                    await asyncio.sleep(to_end)
                    continue
                if state.window != window:
                    await self._give_back(provider, state)
                    state.window = window
                if state.left > 0:
                    state.left -= 1
                    state.sent += 1
                    if state.refill is None and state.left <= self._block_size(quota, state) // 2:
                        state.refill = asyncio.create_task(
                            self._refill(provider, quota, window, state)
                        )
                    return
                if state.refill is not None:  # the block ran out before the next arrived
                    await state.refill
                    if state.left > 0:
                        continue
                if await self._reserve(provider, quota, window, state) == 0:
                    raise quota_exhausted_error(quota, window)

    def _block_size(self, quota: Quota, state: _ProviderState) -> int:
        """About RESERVE_AHEAD_SECONDS of requests at the recent rate (at least the
        configured block, at most 1 % of the window's limit)."""
        if not state.reserved_at:
            return self.block
        # Over at least a quarter of a second: a burst of the first few requests is not a
        # rate (blocks grow a few-fold per reservation at most). A rate measured while the
        # workers were waiting for a block is too low: blocks shrink by half at most.
        elapsed = max(time.monotonic() - state.reserved_at, 0.25)
        rate = (state.sent - state.sent_at_reserve) / elapsed
        wanted = max(int(rate * RESERVE_AHEAD_SECONDS), state.block // 2)
        return max(self.block, min(wanted, quota.limit // 100))

    async def _reserve(
        self, provider: str, quota: Quota, window: Window, state: _ProviderState
    ) -> int:
        block = state.block = self._block_size(quota, state)
        state.reserved_at, state.sent_at_reserve = time.monotonic(), state.sent
        granted = await sync_to_async(usage_reserve)(
            provider=provider,
            window_start=window.start,
            limit=quota.limit,
            block=block,
        )
        if state.window == window:
            state.left += granted  # += : ``release`` may have returned one meanwhile
        elif granted:  # the window ended meanwhile: not ours to use any more
            await sync_to_async(usage_release)(
                provider=provider, window_start=window.start, count=granted
            )
        return granted

    async def _refill(
        self, provider: str, quota: Quota, window: Window, state: _ProviderState
    ) -> None:
        try:
            await self._reserve(provider, quota, window, state)
        finally:
            state.refill = None

    async def _settle(self, state: _ProviderState) -> None:
        """Wait for a reservation in flight (its grant lands in ``left``, or is released)."""
        if state.refill is not None:
            try:
                await state.refill
            except Exception:  # the next acquire reserves again (and reports the error)
                logger.warning("quota reservation failed", exc_info=True)

    async def exhausted(self, provider: str, *, reset_at: dt.datetime | None = None) -> dt.datetime:
        """The provider said its quota is spent: mark the window spent for every process.

        Returns when to resume: the provider's reset time when it gave one, else the end of
        the current window.
        """
        quota = self.quotas.get(provider)
        if quota is None:
            return reset_at or self._now() + dt.timedelta(hours=1)
        state = self._state(provider)
        async with state.lock:
            await self._settle(state)
            window = quota.window_at(self._now())
            state.left = 0
            state.window = window
            await sync_to_async(usage_raise_to)(
                provider=provider, window_start=window.start, used=quota.limit
            )
        logger.warning(
            "%s reports its quota spent; counter of %s marked full", provider, window.start
        )
        return max(reset_at, window.end) if reset_at else window.end

    async def align(
        self,
        provider: str,
        *,
        limit: int | None,
        remaining: int | None,
        reset_at: dt.datetime | None,
    ) -> None:
        """Adopt what the provider reports: its usage, its reset time, the lower limit.

        Windows keep their configured length but start from the provider's reset time
        (rounded to the minute for windows of an hour or more, so every process agrees).
        """
        quota = self.quotas.get(provider)
        if quota is None:
            return
        if limit is not None and limit < quota.limit:
            quota = dataclasses.replace(quota, limit=limit)
        if reset_at is not None and quota.period != "month":
            length = quota.window_at(self._now()).seconds
            anchor = reset_at.astimezone(dt.UTC)
            if length >= 3600:
                anchor = dt.datetime.fromtimestamp(round(anchor.timestamp() / 60) * 60, tz=dt.UTC)
            quota = dataclasses.replace(
                quota, period="window", window_seconds=length, anchor=anchor
            )
        self.quotas[provider] = quota
        state = self._state(provider)
        async with state.lock:
            await self._settle(state)
            window = quota.window_at(self._now())
            if state.window != window:
                await self._give_back(provider, state)
                state.window = window
            if limit is not None and remaining is not None:
                await sync_to_async(usage_raise_to)(
                    provider=provider,
                    window_start=window.start,
                    used=max(0, limit - remaining) + state.left,
                )
        logger.info(
            "%s quota aligned with the provider: limit %s, %s remaining, resets at %s",
            provider,
            limit,
            remaining,
            reset_at.isoformat() if reset_at else "?",
        )

    async def align_with(self, marketplace) -> None:
        """At run start: read the quota a metered source reports about itself (eBay's
        Developer Analytics ``rate_limit``, through the adapter's ``rate_limits()``)."""
        for source in (marketplace.amazon, marketplace.ebay):
            report = getattr(source, "rate_limits", None)
            if report is None or not self.is_metered(source.provider):
                continue
            status = await report()
            if status is not None:
                await self.align(
                    source.provider,
                    limit=status.limit,
                    remaining=status.remaining,
                    reset_at=status.reset_at,
                )

    def align_start(self, marketplace) -> None:
        """``align_with`` in the background: the providers that report their quota wait for
        it at their first ``acquire``; the others (and the run's start) do not. The eBay
        token mint and the rate_limit call (two round trips) then overlap the Amazon phase
        instead of delaying the run's first request."""
        providers = frozenset(
            source.provider
            for source in (marketplace.amazon, marketplace.ebay)
            if getattr(source, "rate_limits", None) is not None and self.is_metered(source.provider)
        )
        if not providers:
            return
        self._aligning_providers = providers
        self._aligning = asyncio.create_task(self._align_quietly(marketplace), name="quota-align")

    async def _align_quietly(self, marketplace) -> None:
        try:
            await self.align_with(marketplace)
        except (MarketplaceError, DatabaseError) as exc:  # the local count still holds
            logger.warning("provider quota not read: %s", exc)
        finally:
            self._aligning_providers = frozenset()

    def release(self, provider: str) -> None:
        """Give back one request taken by ``acquire`` and not sent after all (the engine saw
        a stop in between). It returns to the local block: no database round trip."""
        quota, state = self.quotas.get(provider), self._states.get(provider)
        if quota is None or state is None or not state.sent:
            return
        if state.window == quota.window_at(self._now()):
            state.left += 1
            state.sent -= 1
        # Else its window is over: it stays counted there (the safe side).

    async def _give_back(self, provider: str, state: _ProviderState) -> None:
        await self._settle(state)
        count, state.left = state.left, 0
        if state.window is not None and count:
            await sync_to_async(usage_release)(
                provider=provider, window_start=state.window.start, count=count
            )

    async def aclose(self) -> None:
        """Give every unused reservation back (call when the run stops, however it stops)."""
        if self._aligning is not None and not self._aligning.done():
            self._aligning.cancel()
            await asyncio.gather(self._aligning, return_exceptions=True)
        for provider, state in self._states.items():
            async with state.lock:
                await self._give_back(provider, state)

    async def __aenter__(self) -> QuotaTracker:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()
