"""The shared quota usage counter: one ``ProviderUsage`` row per (provider, window start).

Shared by every process; the tracker (``collection.quotas``) reserves requests from it in
blocks through ``sync_to_async``.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import F
from django.utils import timezone

from collection.models import ProviderUsage


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
