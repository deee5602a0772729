"""Schedules: start a run from a preset on a cron expression, exactly once per slot.

The scheduler (``manage.py run_scheduler``, or the thread inside ``manage.py serve``)
calls ``scheduler_tick`` every ``COLLECTION_SCHEDULER_SECONDS``. Any number of schedulers
may run at once: a due schedule is claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` and its
``next_run_at`` advanced in the same transaction that creates the run, so one slot starts
one run. ``next_run_at`` is computed from *now*, not from the slot that was due, so slots
missed while everything was down start one run on the next tick, not one per slot.

Cron expressions are read in ``settings.TIME_ZONE`` (UTC by default).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
from itertools import pairwise

from croniter import croniter
from django.db import close_old_connections, transaction
from django.utils import timezone

from collection.models import Schedule
from collection.quota_windows import quotas_configured
from collection.selectors import quota_usage_get
from collection.services.dispatch import RecoveryReport, run_start, runs_recover
from collection.services.lifecycle import (
    RunError,
    run_estimate_from_options,
    run_options_validate,
)

logger = logging.getLogger(__name__)


class ScheduleError(Exception):
    """A schedule that cannot be saved, with a message fit for an operator."""


def cron_validate(expression: str) -> str:
    """A standard five-field expression (or a macro such as ``@daily``), normalized."""
    expression = " ".join((expression or "").split())
    fields = expression.split(" ")
    if (
        not expression
        or not (len(fields) == 5 or (len(fields) == 1 and expression.startswith("@")))
        or not croniter.is_valid(expression)
    ):
        raise ScheduleError(
            f"{expression!r} is not a cron expression: five fields, minute hour day-of-month "
            "month day-of-week, e.g. '0 3 * * *' for 03:00 every day, or @daily / @hourly."
        )
    # Valid syntax is not enough: "0 0 30 2 *" (30 February) never fires, and croniter
    # only finds that out when asked for the next slot (CroniterBadDateError).
    try:
        croniter(expression, timezone.now()).get_next(dt.datetime)
    except ValueError:  # CroniterBadDateError, or anything else croniter cannot follow
        raise ScheduleError(
            f"{expression!r} never fires: no date matches its day-of-month, month and "
            "day-of-week (e.g. 30 February)."
        ) from None
    return expression


def schedule_next_run(*, cron: str, after: dt.datetime) -> dt.datetime:
    """The first slot strictly after ``after`` (UTC-aware)."""
    local = timezone.localtime(after)
    return croniter(cron, local).get_next(dt.datetime).astimezone(dt.UTC)


def schedule_save(*, schedule: Schedule, now: dt.datetime | None = None) -> Schedule:
    """Validate and save a schedule; (re)compute its next slot when it is new, was
    re-enabled or its expression changed, so enabling it never fires a stale slot."""
    now = now or timezone.now()
    schedule.cron = cron_validate(schedule.cron)
    try:
        run_options_validate(
            workers=schedule.workers,
            amazon_pages=schedule.amazon_pages,
            ebay_pages=schedule.ebay_pages,
            markup_min_percent=schedule.markup_min_percent,
            markup_max_percent=schedule.markup_max_percent,
            ebay_queries=schedule.ebay_queries,
        )
    except RunError as exc:
        raise ScheduleError(str(exc)) from exc
    previous = (
        Schedule.objects.filter(pk=schedule.pk).values("cron", "enabled").first()
        if schedule.pk
        else None
    )
    if not schedule.enabled:
        schedule.next_run_at = None
    elif (
        previous is None
        or previous["cron"] != schedule.cron
        or not previous["enabled"]
        or schedule.next_run_at is None
    ):
        schedule.next_run_at = schedule_next_run(cron=schedule.cron, after=now)
    schedule.save()
    return schedule


# --- How often, and at what cost: what the schedule form shows before saving --------------

FREQUENT = dt.timedelta(hours=1)  # firing more often than this needs an explicit yes
FREQUENCY_SAMPLE = 48  # consecutive firings looked at (two days of an hourly cron)


def cron_shortest_gap(*, cron: str, now: dt.datetime | None = None) -> dt.timedelta:
    """The shortest time between two consecutive firings of ``cron`` over the next
    ``FREQUENCY_SAMPLE`` ones ("*/30 3 * * *" fires at 03:00 and 03:30: 30 minutes)."""
    moments = schedule_firings(cron=cron, count=FREQUENCY_SAMPLE, now=now)
    return min((b - a for a, b in pairwise(moments)), default=dt.timedelta.max)


def cron_is_frequent(*, cron: str, now: dt.datetime | None = None) -> bool:
    """Fires more often than hourly (an hourly cron itself is not)."""
    return cron_shortest_gap(cron=cron, now=now) < FREQUENT


def schedule_frequency_check(*, cron: str, confirmed: bool, now: dt.datetime | None = None) -> None:
    """Refuse a cron that fires more often than hourly unless the operator said yes: each
    firing is a whole run, and its requests count against the providers' quotas."""
    if confirmed:
        return
    gap = cron_shortest_gap(cron=cron, now=now)
    if gap < FREQUENT:
        minutes = max(1, round(gap.total_seconds() / 60))
        raise ScheduleError(
            f"{cron!r} starts a run as often as every {minutes} minute"
            f"{'s' if minutes != 1 else ''}: more often than hourly. Each firing is a whole "
            "run; confirm that you mean it."
        )


def schedule_firings(*, cron: str, count: int, now: dt.datetime | None = None) -> list[dt.datetime]:
    """The next ``count`` slots after ``now`` (UTC-aware), read in ``settings.TIME_ZONE``."""
    moment = now or timezone.now()
    moments = []
    for _ in range(count):
        moment = schedule_next_run(cron=cron, after=moment)
        moments.append(moment)
    return moments


@dataclasses.dataclass(frozen=True, slots=True)
class FiringPreview:
    """One coming firing: when, what its run would send, and the quota that would use."""

    at: dt.datetime
    requests: dict[str, int]
    quota: list[str]  # one line per metered provider


def schedule_preview(
    *,
    cron: str,
    categories,
    amazon_pages: int,
    ebay_pages: int,
    markup_min_percent,
    markup_max_percent,
    ebay_queries: int | None = None,
    count: int = 3,
    now: dt.datetime | None = None,
) -> list[FiringPreview]:
    """The next ``count`` firings with their estimated requests and quota use.

    Firings that fall in the same quota window add up (with what is already used when
    that window is the current one), so three runs a day against a daily quota show
    the third one running out. Raises RunError for bad options, ScheduleError for a bad cron.
    """
    now = now or timezone.now()
    cron = cron_validate(cron)
    estimate = run_estimate_from_options(
        categories=categories,
        amazon_pages=amazon_pages,
        ebay_pages=ebay_pages,
        markup_min_percent=markup_min_percent,
        markup_max_percent=markup_max_percent,
        ebay_queries=ebay_queries,
    )
    requests = estimate.requests
    quotas = quotas_configured()
    usage = quota_usage_get(now=now) if set(quotas) & set(requests) else {}
    spent: dict[tuple[str, dt.datetime], int] = {}
    previews = []
    for at in schedule_firings(cron=cron, count=count, now=now):
        lines = []
        for provider, needed in sorted(requests.items()):
            quota = quotas.get(provider)
            if quota is None:
                continue
            window = quota.window_at(at)
            key = (provider, window.start)
            if key not in spent:
                current = provider in usage and window.start <= now < window.end
                spent[key] = usage[provider]["used"] if current else 0
            spent[key] += needed
            used = spent[key]
            line = (
                f"{provider}: about {needed:,} requests; {used:,} of {quota.limit:,} per "
                f"{quota.period_label} used by then (window resets "
                f"{window.end.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC)"
            )
            if used > quota.limit:
                line += " — over the quota: the run pauses until the reset"
            lines.append(line)
        previews.append(FiringPreview(at=at, requests=dict(requests), quota=lines))
    return previews


@dataclasses.dataclass(slots=True)
class Firing:
    """One due slot of one schedule: the run it started, or why it started none."""

    schedule_id: int
    slot: dt.datetime
    run_id: int | None
    next_run_at: dt.datetime
    error: str = ""


def schedules_run_due(*, now: dt.datetime | None = None) -> list[Firing]:
    """Start one run for every enabled schedule whose next slot has come."""
    now = now or timezone.now()
    firings: list[Firing] = []
    seen: set[int] = set()

    # Enabled schedules written without the service (shell, fixtures) get their first slot.
    for unslotted in Schedule.objects.filter(enabled=True, next_run_at__isnull=True):
        Schedule.objects.filter(pk=unslotted.pk, next_run_at__isnull=True).update(
            next_run_at=schedule_next_run(cron=unslotted.cron, after=now)
        )

    while True:
        with transaction.atomic():
            schedule = (
                Schedule.objects.select_for_update(skip_locked=True)
                .select_related("preset")
                .filter(enabled=True, next_run_at__lte=now)
                .exclude(pk__in=seen)
                .order_by("next_run_at", "pk")
                .first()
            )
            if schedule is None:
                break
            seen.add(schedule.pk)
            slot = schedule.next_run_at
            assert slot is not None  # filtered on next_run_at__lte
            firing = Firing(
                schedule_id=schedule.pk,
                slot=slot,
                run_id=None,
                next_run_at=schedule_next_run(cron=schedule.cron, after=now),
            )
            try:
                with transaction.atomic():
                    run = run_start(
                        categories=schedule.preset.categories.all(),
                        preset=schedule.preset,
                        workers=schedule.workers,
                        amazon_pages=schedule.amazon_pages,
                        ebay_pages=schedule.ebay_pages,
                        ebay_queries=schedule.ebay_queries,
                        markup_min_percent=schedule.markup_min_percent,
                        markup_max_percent=schedule.markup_max_percent,
                        schedule=schedule,
                    )
                firing.run_id = run.pk
                schedule.last_run_at = now
            except RunError as exc:
                # The slot is spent either way: a refused start is not retried every tick.
                firing.error = str(exc)
                logger.warning(
                    "schedule %r: the slot of %s started no run: %s",
                    schedule.name,
                    slot.isoformat(),
                    exc,
                )
            schedule.next_run_at = firing.next_run_at
            schedule.save(update_fields=["last_run_at", "next_run_at"])
        if firing.run_id:
            logger.info(
                "schedule %r started run %s (slot %s, next %s)",
                schedule.name,
                firing.run_id,
                slot.isoformat(),
                firing.next_run_at.isoformat(),
            )
        firings.append(firing)
    return firings


@dataclasses.dataclass(slots=True)
class TickReport:
    firings: list[Firing]
    recovery: RecoveryReport


def scheduler_tick(*, now: dt.datetime | None = None) -> TickReport:
    """One pass of the scheduler: due schedules, then runs that nobody executes."""
    return TickReport(firings=schedules_run_due(now=now), recovery=runs_recover(now=now))


def scheduler_loop(*, stop: threading.Event, interval: float) -> None:
    """Tick every ``interval`` seconds until ``stop`` is set (command and serve thread).

    A failed tick (database restarting, …) is logged and retried on the next one: the
    scheduler outlives the outages it is meant to recover from.
    """
    logger.info("scheduler started (every %.1f s)", interval)
    while not stop.is_set():
        close_old_connections()
        try:
            report = scheduler_tick()
        except Exception:  # noqa: BLE001 - logged with the traceback, retried next tick
            logger.exception("scheduler tick failed; retrying in %.1f s", interval)
        else:
            if report.recovery:
                logger.info("recovery: %s", report.recovery)
        close_old_connections()
        stop.wait(interval)
    logger.info("scheduler stopped")
