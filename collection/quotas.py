"""Provider quotas: windows, the shared usage counter, and the tracker the engine asks.

A provider meters us per window (eBay Browse: calls per day, reset at a fixed hour;
Oxylabs: results per month). ``COLLECTION_QUOTAS`` says how many requests each provider
allows per window; ``COLLECTION_QUOTA_WINDOW_SECONDS`` replaces every window by an
epoch-aligned interval of that many seconds (a fast emulated day). Requests per second are
a different limit, paced by the engine's ``ProviderGate`` (``COLLECTION_RATE_LIMITS``).

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
larger, but never more than 1 % of the window's limit. (Measured in bench/engine.py: with
fixed blocks of 16 reserved on demand, 50 workers spent 69 % of their time waiting in
``acquire`` — every 16th request held the provider's lock across a database round trip
queued behind claims and event frames.) In live mode the eBay counter is aligned at run start
with what eBay's Developer Analytics ``rate_limit`` endpoint reports (other apps may share
the keyset; eBay's reset time wins).
"""

from __future__ import annotations

import asyncio
import calendar
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone

from collection.marketplaces.base import MarketplaceError, QuotaExhausted
from collection.models import CollectionRun, ProviderUsage

logger = logging.getLogger(__name__)

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
RESERVE_AHEAD_SECONDS = 2.0  # a block lasts about this long at the current request rate
_US = dt.timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Window:
    """One metering window, ``[start, end)``, UTC."""

    start: dt.datetime
    end: dt.datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True, slots=True)
class Quota:
    """What one provider allows per window.

    ``period`` is ``day`` (resets daily at ``reset_hour_utc``), ``month`` (resets on
    ``reset_day`` of each month, 00:00 UTC) or ``window`` (fixed ``window_seconds`` intervals
    counted from ``anchor``: the fast emulated day, or a day aligned on the provider's own
    reset time).
    """

    provider: str
    limit: int
    period: str = "day"
    reset_hour_utc: int = 0
    reset_day: int = 1
    window_seconds: float = 0.0
    anchor: dt.datetime = EPOCH

    @property
    def period_label(self) -> str:
        if self.period == "window":
            return "day" if self.window_seconds == 86400 else f"{self.window_seconds:g} s window"
        return self.period

    def window_at(self, when: dt.datetime) -> Window:
        when = when.astimezone(dt.UTC)
        if self.period == "window":
            length_us = max(1, round(self.window_seconds * 1_000_000))
            since_us = (when - self.anchor) // _US
            start = self.anchor + (since_us // length_us) * length_us * _US
            return Window(start, start + length_us * _US)
        if self.period == "month":
            start = when.replace(day=self.reset_day, hour=0, minute=0, second=0, microsecond=0)
            if start > when:
                start = _add_months(start, -1)
            return Window(start, _add_months(start, 1))
        start = when.replace(hour=self.reset_hour_utc, minute=0, second=0, microsecond=0)
        if start > when:
            start -= dt.timedelta(days=1)
        return Window(start, start + dt.timedelta(days=1))


def _add_months(moment: dt.datetime, months: int) -> dt.datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def quotas_configured(
    config: Mapping[str, Mapping[str, int]] | None = None,
    *,
    window_seconds: float | None = None,
) -> dict[str, Quota]:
    """The quotas of ``COLLECTION_QUOTAS`` (or ``config``), keyed by provider."""
    config = settings.COLLECTION_QUOTAS if config is None else config
    if window_seconds is None:
        window_seconds = settings.COLLECTION_QUOTA_WINDOW_SECONDS
    quotas = {}
    for provider, rule in config.items():
        if "per_day" in rule:
            quota = Quota(provider, int(rule["per_day"]), "day",
                          reset_hour_utc=int(rule.get("reset_hour_utc", 0)))
        elif "per_month" in rule:
            quota = Quota(provider, int(rule["per_month"]), "month",
                          reset_day=int(rule.get("reset_day", 1)))
        else:
            raise ValueError(f"quota for {provider!r} needs per_day or per_month: {rule!r}")
        if window_seconds and window_seconds > 0:
            quota = dataclasses.replace(quota, period="window", window_seconds=window_seconds)
        quotas[provider] = quota
    return quotas


def _guard_seconds(window: Window) -> float:
    """No request starts this close to a window's end: it could reach the provider in the
    next window and be counted there, on top of that window's full quota."""
    return min(2.0, 0.05 * window.seconds)


def _exhausted_error(quota: Quota, window: Window) -> QuotaExhausted:
    return QuotaExhausted(
        f"The {quota.provider} quota of {quota.limit} requests per {quota.period_label} is "
        f"spent; it resets at {window.end.isoformat(timespec='seconds')}",
        reset_at=window.end,
        provider=quota.provider,
    )


# --- The shared counter (sync; the tracker calls these through sync_to_async) ----------


def usage_reserve(*, provider: str, window_start: dt.datetime, limit: int, block: int) -> int:
    """Add up to ``block`` requests to the window's counter without passing ``limit``.

    Returns how many were reserved (0 = the window is spent). One conditional UPDATE does
    the check and the increment, so concurrent reservers can never pass the limit.
    """
    ProviderUsage.objects.bulk_create(
        [ProviderUsage(provider=provider, window_start=window_start)], ignore_conflicts=True
    )
    rows = ProviderUsage.objects.filter(provider=provider, window_start=window_start)
    while True:
        used = rows.values_list("requests", flat=True).get()
        n = min(block, limit - used)
        if n <= 0:
            return 0
        if rows.filter(requests__lte=limit - n).update(
            requests=F("requests") + n, updated_at=timezone.now()
        ):
            return n
        # Another process reserved in between: read again (each miss is its progress).


def usage_release(*, provider: str, window_start: dt.datetime, count: int) -> None:
    """Give back ``count`` reserved but unsent requests."""
    if count > 0:
        ProviderUsage.objects.filter(
            provider=provider, window_start=window_start, requests__gte=count
        ).update(requests=F("requests") - count, updated_at=timezone.now())


def usage_raise_to(*, provider: str, window_start: dt.datetime, used: int) -> None:
    """Make the counter at least ``used`` (the provider knows of more usage than we do)."""
    ProviderUsage.objects.bulk_create(
        [ProviderUsage(provider=provider, window_start=window_start)], ignore_conflicts=True
    )
    ProviderUsage.objects.filter(
        provider=provider, window_start=window_start, requests__lt=used
    ).update(requests=used, updated_at=timezone.now())


# --- The tracker ---------------------------------------------------------------------


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
        if provider in self._aligning_providers:
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
                if to_end < _guard_seconds(window):
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
                    raise _exhausted_error(quota, window)

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

    async def _reserve(self, provider: str, quota: Quota, window: Window,
                       state: _ProviderState) -> int:
        block = state.block = self._block_size(quota, state)
        state.reserved_at, state.sent_at_reserve = time.monotonic(), state.sent
        granted = await sync_to_async(usage_reserve)(
            provider=provider, window_start=window.start, limit=quota.limit, block=block,
        )
        if state.window == window:
            state.left += granted  # += : ``release`` may have returned one meanwhile
        elif granted:  # the window ended meanwhile: not ours to use any more
            await sync_to_async(usage_release)(
                provider=provider, window_start=window.start, count=granted
            )
        return granted

    async def _refill(self, provider: str, quota: Quota, window: Window,
                      state: _ProviderState) -> None:
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
        logger.warning("%s reports its quota spent; counter of %s marked full", provider, window.start)
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
            quota = dataclasses.replace(quota, period="window", window_seconds=length, anchor=anchor)
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
                    provider=provider, window_start=window.start,
                    used=max(0, limit - remaining) + state.left,
                )
        logger.info(
            "%s quota aligned with the provider: limit %s, %s remaining, resets at %s",
            provider, limit, remaining, reset_at.isoformat() if reset_at else "?",
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
                    source.provider, limit=status.limit, remaining=status.remaining,
                    reset_at=status.reset_at,
                )

    def align_start(self, marketplace) -> None:
        """``align_with`` in the background: the providers that report their quota wait for
        it at their first ``acquire``; the others (and the run's start) do not. The eBay
        token mint and the rate_limit call (two round trips) then overlap the Amazon phase
        instead of delaying the run's first request."""
        providers = frozenset(
            source.provider for source in (marketplace.amazon, marketplace.ebay)
            if getattr(source, "rate_limits", None) is not None
            and self.is_metered(source.provider)
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


# --- Reads and services --------------------------------------------------------------


def quota_usage_get(*, now: dt.datetime | None = None) -> dict[str, dict]:
    """Per metered provider: limit, used, left, window start and reset time (plain JSON).

    ``used`` counts requests sent plus those a running process has reserved and not sent
    yet (at most ``COLLECTION_QUOTA_BLOCK`` per process).
    """
    now = now or timezone.now()
    usage = {}
    for provider, quota in quotas_configured().items():
        window = quota.window_at(now)
        rows = ProviderUsage.objects.filter(provider=provider)
        if quota.period == "month":
            row = rows.filter(window_start=window.start).first()
        else:
            # A day may be aligned on the provider's own reset time (``align``): take the
            # latest window of that length that covers now.
            length = window.end - window.start
            row = (
                rows.filter(window_start__lte=now, window_start__gt=now - length)
                .order_by("-window_start")
                .first()
            )
            if row is not None:
                window = Window(row.window_start, row.window_start + length)
        used = row.requests if row else 0
        usage[provider] = {
            "provider": provider,
            "limit": quota.limit,
            "period": quota.period_label,
            "used": used,
            "left": max(0, quota.limit - used),
            "window_start": window.start.isoformat(),
            "resets_at": window.end.isoformat(),
        }
    return usage


def quota_usage_lines(*, now: dt.datetime | None = None) -> list[str]:
    """``quota_usage_get`` as sentences (the admin's usage page, command output)."""
    usage = quota_usage_get(now=now)
    if not usage:
        return ["No provider quota is configured (COLLECTION_QUOTAS): nothing is metered."]
    return [
        f"{u['provider']}: {u['used']:,} used, {u['left']:,} left of {u['limit']:,} per "
        f"{u['period']}; resets at {u['resets_at']}."
        for u in usage.values()
    ]


def run_quota_wait(
    *,
    run_id: int,
    write: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 30.0,
) -> bool:
    """Foreground runs (``run_collection``): wait while the run is paused at a quota.

    True: go on executing it (its reset time passed, or another process resumed it).
    False: stop waiting (Ctrl-C, or an operator cancelled or paused it meanwhile); the run
    stays as it is, and a task worker's scheduler resumes a quota pause by itself.
    """
    run = CollectionRun.objects.get(pk=run_id)
    if run.resume_at is not None:
        write(
            f"Run {run_id} paused: {run.status_message} Waiting for the reset at "
            f"{run.resume_at.isoformat(timespec='seconds')}, then it continues "
            "(Ctrl-C stops waiting; the run stays paused)."
        )
    try:
        while True:
            if run.status in CollectionRun.ACTIVE_STATUSES:
                return True  # resumed by another process: join it
            if (
                run.status != CollectionRun.Status.PAUSED
                or run.pause_reason != CollectionRun.PauseReason.QUOTA
                or run.resume_at is None
            ):
                return False
            left = (run.resume_at - timezone.now()).total_seconds()
            if left <= 0:
                write(f"Run {run_id}: quota reset; continuing.")
                return True
            sleep(min(left, poll_seconds))
            run.refresh_from_db(fields=["status", "pause_reason", "resume_at"])
    except KeyboardInterrupt:
        write(f"Stopped waiting; run {run_id} stays paused until its quota resets.")
        return False
