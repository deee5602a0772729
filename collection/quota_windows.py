"""Provider quotas as arithmetic: what each provider allows per window, and the windows.

A provider meters us per window (eBay Browse: calls per day, reset at a fixed hour;
Oxylabs: results per month). ``COLLECTION_QUOTAS`` says how many requests each provider
allows per window; ``COLLECTION_QUOTA_WINDOW_SECONDS`` replaces every window by an
epoch-aligned interval of that many seconds (a fast emulated day). Requests per second are
a different limit, paced by the engine's ``ProviderGate`` (``COLLECTION_RATE_LIMITS``).

Pure: no database. The usage counter is ``collection.store.usage``, the tracker the engine
asks is ``collection.quotas``, the usage report ``collection.selectors.quota_usage_get``.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings

from collection.marketplaces.base import QuotaExhausted

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
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
            quota = Quota(
                provider,
                int(rule["per_day"]),
                "day",
                reset_hour_utc=int(rule.get("reset_hour_utc", 0)),
            )
        elif "per_month" in rule:
            quota = Quota(
                provider, int(rule["per_month"]), "month", reset_day=int(rule.get("reset_day", 1))
            )
        else:
            raise ValueError(f"quota for {provider!r} needs per_day or per_month: {rule!r}")
        if window_seconds and window_seconds > 0:
            quota = dataclasses.replace(quota, period="window", window_seconds=window_seconds)
        quotas[provider] = quota
    return quotas


def quota_guard_seconds(window: Window) -> float:
    """No request starts this close to a window's end: it could reach the provider in the
    next window and be counted there, on top of that window's full quota."""
    return min(2.0, 0.05 * window.seconds)


def quota_exhausted_error(quota: Quota, window: Window) -> QuotaExhausted:
    return QuotaExhausted(
        f"The {quota.provider} quota of {quota.limit} requests per {quota.period_label} is "
        f"spent; it resets at {window.end.isoformat(timespec='seconds')}",
        reset_at=window.end,
        provider=quota.provider,
    )
