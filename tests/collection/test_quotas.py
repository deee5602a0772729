"""Quota windows, the shared usage counter and the tracker the engine asks before a request."""

import datetime as dt
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from collection.marketplaces.base import QuotaExhausted
from collection.models import ProviderUsage
from collection.quota_windows import Quota, quotas_configured
from collection.quotas import QuotaTracker
from collection.selectors import quota_usage_get
from config.settings import _quotas_parse

ROOT = Path(__file__).resolve().parents[2]
UTC = dt.UTC


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


class Clock:
    """A settable wall clock (epoch seconds) for the tracker."""

    def __init__(self, moment: dt.datetime) -> None:
        self.now = moment.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def used(provider: str) -> dict[dt.datetime, int]:
    return {
        row.window_start: row.requests for row in ProviderUsage.objects.filter(provider=provider)
    }


# --- Settings and windows ---------------------------------------------------------------


def test_quota_setting_syntax():
    assert _quotas_parse("ebay=5000/day@7, oxylabs=98000/month") == {
        "ebay": {"per_day": 5000, "reset_hour_utc": 7},
        "oxylabs": {"per_month": 98000, "reset_day": 1},
    }
    assert _quotas_parse("") == {}
    for bad in (
        "ebay=5000",
        "ebay=lots/day",
        "ebay=5000/week",
        "ebay=5000/day@24",
        "oxylabs=1/month@31",
        "=5/day",
    ):
        with pytest.raises(ImproperlyConfigured, match="COLLECTION_QUOTAS"):
            _quotas_parse(bad)


def test_daily_window_resets_at_the_configured_hour():
    quota = Quota("ebay", 5000, "day", reset_hour_utc=7)
    assert quota.window_at(at(2026, 3, 10, 6, 59)).start == at(2026, 3, 9, 7)
    window = quota.window_at(at(2026, 3, 10, 7, 0))
    assert (window.start, window.end) == (at(2026, 3, 10, 7), at(2026, 3, 11, 7))


def test_monthly_window_resets_on_the_configured_day():
    quota = Quota("oxylabs", 98000, "month", reset_day=15)
    window = quota.window_at(at(2026, 1, 3, 12))
    assert (window.start, window.end) == (at(2025, 12, 15), at(2026, 1, 15))
    assert quota.window_at(at(2026, 1, 31, 23)).end == at(2026, 2, 15)


def test_window_override_makes_epoch_aligned_windows_of_every_quota(settings):
    settings.COLLECTION_QUOTAS = {"ebay": {"per_day": 40}, "oxylabs": {"per_month": 9}}
    settings.COLLECTION_QUOTA_WINDOW_SECONDS = 3
    quotas = quotas_configured()
    for quota in quotas.values():
        window = quota.window_at(dt.datetime.fromtimestamp(1_000_001.5, tz=UTC))
        assert window.start.timestamp() == 999_999 and window.end.timestamp() == 1_000_002
    assert quotas["ebay"].limit == 40 and quotas["oxylabs"].limit == 9


# --- The tracker ------------------------------------------------------------------------


@pytest.fixture
async def thread_connections():
    """The tracker's queries run in asgiref's sync thread: close its connection after the
    test, or the test database cannot be dropped."""
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()


def pytestmark_db(test):
    return pytest.mark.django_db(transaction=True)(
        pytest.mark.usefixtures("thread_connections")(test)
    )


EBAY_40 = {"ebay": Quota("ebay", 40, "window", window_seconds=100)}


@pytestmark_db
async def test_tracker_lets_the_limit_through_then_raises_with_the_reset_time():
    clock = Clock(at(2026, 3, 10, 12, 0, 10))  # window [12:00:00, 12:01:40)
    tracker = QuotaTracker(EBAY_40, block=16, clock=clock)
    for _ in range(40):
        await tracker.acquire("ebay")
    with pytest.raises(QuotaExhausted) as caught:
        await tracker.acquire("ebay")
    assert caught.value.reset_at == at(2026, 3, 10, 12, 1, 40)
    assert caught.value.provider == "ebay" and caught.value.error_type == "quota"
    assert "40 requests" in caught.value.message
    assert await ProviderUsage.objects.filter(provider="ebay").acount() == 1
    assert (await ProviderUsage.objects.aget(provider="ebay")).requests == 40
    assert tracker.sent == {"ebay": 40}


@pytestmark_db
async def test_reservations_are_blocks_and_unused_ones_are_given_back_on_close():
    clock = Clock(at(2026, 3, 10, 12, 0, 10))
    tracker = QuotaTracker(EBAY_40, block=16, clock=clock)
    for _ in range(5):
        await tracker.acquire("ebay")
    assert (await ProviderUsage.objects.aget(provider="ebay")).requests == 16
    await tracker.aclose()
    assert (await ProviderUsage.objects.aget(provider="ebay")).requests == 5


@pytestmark_db
async def test_a_request_taken_but_not_sent_goes_back():
    """Workers that took the last requests of a window and then saw the run stop give
    them back: the counter holds only what was sent."""
    clock = Clock(at(2026, 3, 10, 12, 0, 10))
    tracker = QuotaTracker(EBAY_40, block=16, clock=clock)
    for _ in range(40):
        await tracker.acquire("ebay")
    for _ in range(3):
        tracker.release("ebay")
    tracker.release("oxylabs")  # unmetered: nothing to give back
    await tracker.aclose()
    assert tracker.sent == {"ebay": 37}
    assert await sync_used("ebay") == {at(2026, 3, 10, 12, 0): 37}


@pytestmark_db
async def test_unmetered_provider_costs_nothing():
    tracker = QuotaTracker(EBAY_40, block=16)
    for _ in range(100):
        await tracker.acquire("oxylabs")
    assert await ProviderUsage.objects.acount() == 0
    assert not tracker.is_metered("oxylabs")


@pytestmark_db
async def test_a_new_window_starts_a_new_counter_and_releases_the_old_block():
    clock = Clock(at(2026, 3, 10, 12, 0, 10))
    tracker = QuotaTracker(EBAY_40, block=16, clock=clock)
    for _ in range(40):
        await tracker.acquire("ebay")
    with pytest.raises(QuotaExhausted):
        await tracker.acquire("ebay")
    clock.advance(100)
    for _ in range(3):
        await tracker.acquire("ebay")
    await tracker.aclose()
    counts = await sync_used("ebay")
    assert counts == {at(2026, 3, 10, 12, 0, 0): 40, at(2026, 3, 10, 12, 1, 40): 3}


@pytestmark_db
async def test_no_request_starts_in_the_last_moments_of_a_window(monkeypatch):
    """A request sent at 11:59:59.99 could arrive after the reset and be counted in the next
    window on top of its full quota: the tracker waits for the reset instead."""
    clock = Clock(at(2026, 3, 10, 12, 1, 39, 950_000))  # 50 ms before the reset
    slept = []

    async def fake_sleep(seconds):
        slept.append(seconds)
        clock.advance(seconds)

    monkeypatch.setattr("collection.quotas.asyncio.sleep", fake_sleep)
    tracker = QuotaTracker(EBAY_40, block=16, clock=clock)
    await tracker.acquire("ebay")
    await tracker.aclose()
    assert slept and abs(slept[0] - 0.05) < 1e-6
    assert await sync_used("ebay") == {at(2026, 3, 10, 12, 1, 40): 1}


@pytestmark_db
async def test_usage_survives_a_new_tracker_and_two_trackers_share_the_limit():
    clock = Clock(at(2026, 3, 10, 12, 0, 10))
    first = QuotaTracker(EBAY_40, block=16, clock=clock)
    for _ in range(10):
        await first.acquire("ebay")
    await first.aclose()  # the process stops cleanly
    second = QuotaTracker(EBAY_40, block=7, clock=clock)  # a restarted process
    third = QuotaTracker(EBAY_40, block=5, clock=clock)  # and another one at once
    sent = 0
    for tracker in [second, third] * 30:
        try:
            await tracker.acquire("ebay")
            sent += 1
        except QuotaExhausted:
            pass
    await second.aclose()
    await third.aclose()
    assert sent == 30
    assert await sync_used("ebay") == {at(2026, 3, 10, 12, 0, 0): 40}


@pytestmark_db
async def test_provider_saying_exhausted_stops_every_tracker_until_the_reset():
    clock = Clock(at(2026, 3, 10, 12, 0, 10))
    one = QuotaTracker(EBAY_40, block=16, clock=clock)
    other = QuotaTracker(EBAY_40, block=16, clock=clock)
    await one.acquire("ebay")
    resume_at = await one.exhausted("ebay")
    assert resume_at == at(2026, 3, 10, 12, 1, 40)
    later = at(2026, 3, 10, 13)
    assert await one.exhausted("ebay", reset_at=later) == later  # the provider's reset wins
    for tracker in (one, other):
        with pytest.raises(QuotaExhausted):
            await tracker.acquire("ebay")


@pytestmark_db
async def test_align_adopts_the_providers_usage_reset_time_and_lower_limit():
    quotas = {"ebay": Quota("ebay", 5000, "day", reset_hour_utc=0)}
    clock = Clock(at(2026, 3, 10, 12, 0))
    tracker = QuotaTracker(quotas, block=16, clock=clock)
    # What eBay's rate_limit endpoint says: 4,990 a day, 12 left, reset 06:59:58.731Z.
    await tracker.align(
        "ebay",
        limit=4990,
        remaining=12,
        reset_at=dt.datetime(2026, 3, 11, 6, 59, 58, 731000, tzinfo=UTC),
    )
    # The day now runs from 07:00 UTC (rounded to the minute so every process agrees).
    assert await sync_used("ebay") == {at(2026, 3, 10, 7): 4990 - 12}
    assert tracker.quotas["ebay"].limit == 4990
    for _ in range(12):
        await tracker.acquire("ebay")
    with pytest.raises(QuotaExhausted) as caught:
        await tracker.acquire("ebay")
    assert caught.value.reset_at == at(2026, 3, 11, 7)


class _Source:
    def __init__(self, provider, status=None):
        self.provider = provider
        if status is not None:

            async def rate_limits():
                return status

            self.rate_limits = rate_limits


@pytestmark_db
async def test_align_with_reads_the_sources_that_report_their_quota():
    from types import SimpleNamespace

    clock = Clock(at(2026, 3, 10, 12, 0, 10))
    status = SimpleNamespace(limit=40, remaining=30, reset_at=at(2026, 3, 10, 12, 1, 40))
    marketplace = SimpleNamespace(amazon=_Source("oxylabs"), ebay=_Source("ebay", status))
    tracker = QuotaTracker(EBAY_40, block=16, clock=clock)
    await tracker.align_with(marketplace)
    assert await sync_used("ebay") == {at(2026, 3, 10, 12, 0): 10}
    unmetered = QuotaTracker({}, clock=clock)
    await unmetered.align_with(marketplace)  # nothing metered: nothing asked, nothing written
    assert await sync_used("ebay") == {at(2026, 3, 10, 12, 0): 10}


@pytestmark_db
async def test_align_start_holds_the_reporting_providers_first_request_not_the_others():
    """The quota read overlaps the Amazon phase: Amazon requests go at once, eBay's first
    request waits for what eBay reports and counts against it."""
    import asyncio
    from types import SimpleNamespace

    clock = Clock(at(2026, 3, 10, 12, 0, 10))
    reported = asyncio.Event()
    status = SimpleNamespace(limit=40, remaining=1, reset_at=at(2026, 3, 10, 12, 1, 40))

    class Ebay:
        provider = "ebay"

        async def rate_limits(self):
            await reported.wait()
            return status

    quotas = {**EBAY_40, "oxylabs": Quota("oxylabs", 1000, "window", window_seconds=100)}
    tracker = QuotaTracker(quotas, block=1, clock=clock)
    tracker.align_start(SimpleNamespace(amazon=_Source("oxylabs"), ebay=Ebay()))
    await asyncio.wait_for(tracker.acquire("oxylabs"), 5)  # not held by eBay's report
    ebay_first = asyncio.ensure_future(tracker.acquire("ebay"))
    await asyncio.sleep(0.05)
    assert not ebay_first.done()  # waits for the report
    reported.set()
    await asyncio.wait_for(ebay_first, 5)
    # eBay said 39 of 40 were used: the one request left was this one.
    with pytest.raises(QuotaExhausted):
        await tracker.acquire("ebay")
    await tracker.aclose()


# --- What the admin and the live page show ----------------------------------------------


@pytest.mark.django_db
def test_quota_usage_get_reports_used_left_and_reset(settings):
    settings.COLLECTION_QUOTAS = {
        "ebay": {"per_day": 5000, "reset_hour_utc": 0},
        "oxylabs": {"per_month": 98000, "reset_day": 1},
    }
    settings.COLLECTION_QUOTA_WINDOW_SECONDS = 0
    ProviderUsage.objects.create(provider="ebay", window_start=at(2026, 3, 10), requests=1234)
    ProviderUsage.objects.create(provider="ebay", window_start=at(2026, 3, 9), requests=5000)
    usage = quota_usage_get(now=at(2026, 3, 10, 15))
    assert usage["ebay"] == {
        "provider": "ebay",
        "limit": 5000,
        "period": "day",
        "used": 1234,
        "left": 3766,
        "window_start": "2026-03-10T00:00:00+00:00",
        "resets_at": "2026-03-11T00:00:00+00:00",
    }
    assert usage["oxylabs"]["used"] == 0 and usage["oxylabs"]["left"] == 98000
    assert usage["oxylabs"]["resets_at"] == "2026-04-01T00:00:00+00:00"
    import json

    assert json.loads(json.dumps(usage)) == usage


# --- Several processes on PostgreSQL -----------------------------------------------------

WORKER = textwrap.dedent(
    """
    import asyncio, os, sys, time
    import django
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    django.setup()
    from collection.marketplaces.base import QuotaExhausted
    from collection.quota_windows import Quota
    from collection.quotas import QuotaTracker

    print("ready", flush=True)  # then wait for the others: all start at once
    while not os.path.exists(sys.argv[3]):
        time.sleep(0.001)

    async def main():
        quota = Quota("ebay", int(sys.argv[1]), "window", window_seconds=3600)
        tracker = QuotaTracker({"ebay": quota}, block=int(sys.argv[2]))
        sent = 0
        try:
            while True:
                await tracker.acquire("ebay")
                sent += 1
        except QuotaExhausted:
            pass
        finally:
            await tracker.aclose()
        print(sent)

    asyncio.run(main())
    """
)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_processes_never_pass_the_quota(tmp_path):
    database = connection.settings_dict
    password = f":{database['PASSWORD']}" if database["PASSWORD"] else ""
    url = (
        f"postgres://{database['USER']}{password}@{database['HOST']}:{database['PORT']}"
        f"/{database['NAME']}"
    )
    env = {**os.environ, "DATABASE_URL": url}
    limit = 200
    start = tmp_path / "start"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(limit), str(block), str(start)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for block in (1, 3, 16, 16)
    ]
    # Django's setup takes a process ~0.5 s: the first one ready would otherwise spend the
    # whole quota before the others ask for any.
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready", worker.communicate(timeout=60)[1]
    start.touch()
    results = [worker.communicate(timeout=120) for worker in workers]
    for worker, (_out, err) in zip(workers, results, strict=True):
        assert worker.returncode == 0, err
    sent = [int(out.strip()) for out, _ in results]
    assert sum(sent) == limit, sent
    assert sum(1 for n in sent if n) >= 2, sent  # they really ran side by side
    assert list(ProviderUsage.objects.values_list("requests", flat=True)) == [limit]


async def sync_used(provider):
    from asgiref.sync import sync_to_async

    return await sync_to_async(used)(provider)


# --- Resuming runs paused at a quota ------------------------------------------------------


@pytest.mark.django_db
def test_runs_resume_due_queues_only_quota_paused_runs_whose_reset_passed(
    django_capture_on_commit_callbacks,
):
    from django_tasks_db.models import DBTaskResult

    from collection.models import Category, CollectionRun
    from collection.services.dispatch import runs_resume_due
    from collection.services.lifecycle import run_create

    categories = list(Category.objects.order_by("node_id")[:1])
    now = at(2026, 3, 10, 12)
    due, later, by_operator = (run_create(categories=categories) for _ in range(3))
    paused = {"status": CollectionRun.Status.PAUSED}
    CollectionRun.objects.filter(pk=due.pk).update(
        **paused, pause_reason="quota", resume_at=now - dt.timedelta(seconds=1)
    )
    CollectionRun.objects.filter(pk=later.pk).update(
        **paused, pause_reason="quota", resume_at=now + dt.timedelta(seconds=1)
    )
    CollectionRun.objects.filter(pk=by_operator.pk).update(
        **paused, pause_reason="operator", resume_at=now - dt.timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert runs_resume_due(now=now) == [due.pk]
    statuses = dict(CollectionRun.objects.values_list("pk", "status"))
    assert statuses == {due.pk: "queued", later.pk: "paused", by_operator.pk: "paused"}
    assert [r.args_kwargs["kwargs"]["run_id"] for r in DBTaskResult.objects.all()] == [due.pk]
    with django_capture_on_commit_callbacks(execute=True):
        assert runs_resume_due(now=now) == []  # already queued: not twice


@pytest.mark.django_db
def test_run_quota_wait_sleeps_until_the_reset_and_stops_on_cancel_or_ctrl_c():
    from django.utils import timezone

    from collection.models import CollectionRun
    from collection.services.foreground import run_quota_wait

    resume_at = timezone.now() + dt.timedelta(seconds=90)
    run = CollectionRun.objects.create(
        status="paused",
        pause_reason="quota",
        resume_at=resume_at,
        status_message="The ebay quota is exhausted.",
    )
    slept, lines = [], []

    def fake_sleep(seconds):  # time passes: the reset comes
        slept.append(seconds)
        CollectionRun.objects.filter(pk=run.pk).update(resume_at=timezone.now())

    assert run_quota_wait(run_id=run.pk, write=lines.append, sleep=fake_sleep, poll_seconds=30)
    assert slept == [30]  # polls, so an operator's cancel is seen while waiting
    assert "Waiting for the reset at" in lines[0] and "quota reset; continuing" in lines[-1]

    def cancelled(seconds):
        CollectionRun.objects.filter(pk=run.pk).update(status="cancelled")

    CollectionRun.objects.filter(pk=run.pk).update(resume_at=resume_at)
    assert not run_quota_wait(run_id=run.pk, write=lines.append, sleep=cancelled)

    def ctrl_c(seconds):
        raise KeyboardInterrupt

    CollectionRun.objects.filter(pk=run.pk).update(status="paused")
    assert not run_quota_wait(run_id=run.pk, write=lines.append, sleep=ctrl_c)
    assert "stays paused" in lines[-1]


@pytest.mark.django_db
def test_the_admin_shows_usage_left_and_reset(settings, admin_client):
    from django.utils import timezone

    settings.COLLECTION_QUOTAS = {"ebay": {"per_day": 5000, "reset_hour_utc": 0}}
    settings.COLLECTION_QUOTA_WINDOW_SECONDS = 0
    window = quotas_configured()["ebay"].window_at(timezone.now())
    ProviderUsage.objects.create(provider="ebay", window_start=window.start, requests=1234)
    response = admin_client.get("/admin/collection/providerusage/")
    assert response.status_code == 200
    text = response.content.decode()
    assert (
        f"bay: 1,234 used, 3,766 left of 5,000 per day; resets at {window.end.isoformat()}." in text
    )
    settings.COLLECTION_QUOTAS = {}
    text = admin_client.get("/admin/collection/providerusage/").content.decode()
    assert "No provider quota is configured" in text


@pytest.mark.django_db
def test_the_live_page_shows_the_quotas(settings, admin_client):
    from django.urls import reverse
    from django.utils import timezone

    from collection.models import CollectionRun

    settings.COLLECTION_QUOTAS = {"ebay": {"per_day": 5000, "reset_hour_utc": 0}}
    settings.COLLECTION_QUOTA_WINDOW_SECONDS = 0
    window = quotas_configured()["ebay"].window_at(timezone.now())
    ProviderUsage.objects.create(provider="ebay", window_start=window.start, requests=4990)
    run = CollectionRun.objects.create()
    page = admin_client.get(reverse("activity:run_detail", args=[run.pk])).content.decode()
    assert 'id="quotas"' in page
    assert '<td class="num">4990</td>' in page and "10 of 5000 per day" in page
    assert window.end.isoformat()[:19] in page
