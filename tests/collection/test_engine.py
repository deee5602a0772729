"""The engine against the in-process sandbox: completion, faults, determinism, stops."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async

from activity.models import RunEvent
from collection.engine import arun_execute, run_execute
from collection.engine.db import connection_reset as _connection_reset
from collection.models import CollectionRun, RunTask
from collection.services.lifecycle import InvalidTransition, run_cancel, run_pause

from .engine_helpers import fast_settings, forget_results, make_run, produced, sandbox

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def execute(run, app, **kwargs):
    return run_execute(run_id=run.pk, marketplace_options={"sandbox_app": app}, **kwargs)


def test_a_run_completes_both_phases_with_every_task_done(settings):
    fast_settings(settings)
    app = sandbox()
    run = make_run(workers=5)
    report = execute(run, app)

    assert report.status == "completed", report.message
    result = produced(run.pk)
    assert result["phase"] == "done"
    assert {status for _, status in result["tasks"]} == {"done"}
    amazon = [key for key, _ in result["tasks"] if key.startswith("amazon:")]
    ebay = [key for key, _ in result["tasks"] if key.startswith("ebay:")]
    assert len(amazon) == 3
    assert len(ebay) > 20  # the first query of every priced product, fallbacks where needed
    assert any(key.endswith(":q2") for key in ebay)  # a first query that found too little
    assert len(ebay) <= 2 * len({key.split(":")[1] for key in ebay})  # ≤ 2 calls a product
    assert report.products == result["counters"]["products_found"] > 0
    assert report.ebay_searches == len(ebay)
    assert report.sellers_found > 0 and report.sellers_new == report.sellers_found
    assert report.sightings == len(result["sightings"]) > 0
    assert report.requests == len(app.requests(path="/v1/queries")) + len(
        app.requests(path="/buy/browse/v1/item_summary/search")
    )
    assert result["snapshot"]["new_sellers"] == report.sellers_new
    # Stats as data, on the run.
    stats = CollectionRun.objects.get(pk=run.pk).stats
    assert stats["requests/ok"] == report.requests
    assert stats["duration_s"] > 0
    per_worker = [
        value
        for key, value in stats.items()
        if key.startswith("workers/") and key.endswith("/requests")
    ]
    assert sum(per_worker) == report.requests
    # Events: the run's story, in order.
    actions = list(RunEvent.objects.filter(run_id=run.pk).values_list("action", flat=True))
    assert actions[0] == "run_started"
    assert actions[-1] == "completed"
    for action in ("phase_started", "phase_finished", "fetching", "found", "stored", "inserted"):
        assert action in actions
    assert actions.count("fetching") == report.requests


def test_same_seed_same_result_at_1_5_and_50_workers(settings):
    fast_settings(settings)
    results = {}
    for workers in (1, 5, 50):
        forget_results()
        run = make_run(workers=workers, node_ids=["12097479011", "502394"])
        report = execute(run, sandbox())
        assert report.status == "completed"
        assert report.session["workers/1/requests"] > 0
        if workers == 50:
            busy = [
                k for k in report.session if k.startswith("workers/") and k.endswith("/requests")
            ]
            assert len(busy) > 10  # the work really spread over the workers
        results[workers] = produced(run.pk)
    assert results[1] == results[5] == results[50]


def test_faults_are_retried_and_retry_after_holds_the_provider(settings):
    fast_settings(settings, COLLECTION_RETRY_MAX=6)
    app = sandbox(
        latency_ms=2,
        error_rate=0.1,
        timeout_rate=0.06,
        timeout_sleep_s=3.0,
        rate_limit_rps=10,
    )
    run = make_run(workers=8, node_ids=["12097479011", "502394"], ebay_pages=2)
    started = time.time()
    report = run_execute(
        run_id=run.pk,
        marketplace_options={
            "sandbox_app": app,
            "http_timeout_s": 0.3,
            "amazon_http_timeout_s": 0.3,
        },
    )
    assert report.status == "completed", report.message
    stats = report.stats
    assert stats.get("requests/failed/http_5xx", 0) > 0
    assert stats.get("requests/failed/timeout", 0) > 0
    assert stats.get("rate_limited", 0) > 0
    assert report.retries >= stats["retries/http_5xx"] + stats["retries/timeout"] > 0
    assert report.failed_tasks == RunTask.objects.filter(run=run, status="failed").count()
    assert len(report.failed) == report.failed_tasks

    # Retry-After honoured: after a 429 from a provider (Retry-After is 1 s here), no request
    # to that provider arrives before it has passed (except requests already on their way
    # when the 429 was answered: 200 ms of slack on a busy machine).
    providers = {"oxylabs": "oxylabs", "ebay-browse": "ebay"}
    records = [r for r in app.requests() if r.provider in providers and r.time >= started]
    limited = [r for r in records if r.status == 429]
    assert limited
    for refusal in limited:
        answered = refusal.time + refusal.duration_ms / 1000
        too_early = [
            r
            for r in records
            if providers[r.provider] == providers[refusal.provider]
            and answered + 0.2 < r.time < answered + 0.95
        ]
        assert not too_early, (refusal, too_early[:3])


def test_failed_tasks_are_counted_and_listed_with_their_error_type(settings):
    fast_settings(settings, COLLECTION_MAX_CONSECUTIVE_FAILURES=0)
    app = sandbox(malformed_rate=0.25)
    run = make_run(workers=1, node_ids=["12097479011", "502394"], ebay_pages=1)
    report = execute(run, app)

    assert report.status == "completed"
    failed = RunTask.objects.filter(run=run, status="failed")
    assert report.failed_tasks == failed.count() > 0
    assert {row["key"] for row in report.failed} == set(failed.values_list("key", flat=True))
    assert {row["error_type"] for row in report.failed} <= {"parse_error", "captcha"}
    assert all(row["error_message"] for row in report.failed)
    assert RunEvent.objects.filter(run_id=run.pk, action="error").count() == failed.count()


def test_consecutive_failures_pause_the_run_and_a_resume_finishes_it(settings):
    fast_settings(settings, COLLECTION_MAX_CONSECUTIVE_FAILURES=3, COLLECTION_RETRY_MAX=2)
    reference = make_run(workers=3, ebay_pages=1)
    assert execute(reference, sandbox()).status == "completed"
    expected = produced(reference.pk)
    forget_results()

    run = make_run(workers=3, ebay_pages=1)
    outage = sandbox(error_rate=1.0)
    report = execute(run, outage)
    assert report.status == "paused"
    assert report.pause_reason == "failures"
    assert "3 tasks failed in a row" in report.message and "http_5xx" in report.message
    # The outage's victims are not marked failed: they wait for the resume.
    assert RunTask.objects.filter(run=run, status__in=["failed", "running"]).count() == 0
    paused = RunEvent.objects.filter(run_id=run.pk, action="paused").get()
    assert paused.data["reason"] == "failures"

    report = execute(run, sandbox())
    assert report.status == "completed"
    assert report.mode == "resumed"
    assert produced(run.pk) == {**expected, "tasks": expected["tasks"]}


@pytest.fixture
async def close_thread_connection():
    """Async tests reach the database through asgiref's thread: close its connection after
    the test, or dropping the test database finds it still open."""
    yield
    await sync_to_async(_connection_reset)()


async def _wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_cancel_stops_new_requests_promptly(settings, close_thread_connection):
    fast_settings(settings)
    app = sandbox(latency_ms=60)
    run = await sync_to_async(make_run)(workers=2, ebay_pages=3)  # ~2 s of eBay requests
    execution = asyncio.create_task(
        arun_execute(run_id=run.pk, marketplace_options={"sandbox_app": app})
    )
    await _wait_for(lambda: len(app.requests(path="/buy/browse/v1/item_summary/search")) >= 6)
    await sync_to_async(run_cancel)(run_id=run.pk)
    cancelled_at = time.time()
    report = await asyncio.wait_for(execution, 15)

    assert report.status == "cancelled"
    # Seen at the next control poll (every 0.2 s here; on SQLite the poll can wait behind
    # the batch being stored); once seen, no request starts.
    assert report.stop_seen_at - cancelled_at < 3.0
    late = [r for r in app.requests() if r.time > report.stop_seen_at + 0.1]
    assert late == []
    assert await sync_to_async(RunTask.objects.filter(run=run, status="running").count)() == 0
    actions = await sync_to_async(list)(
        RunEvent.objects.filter(run_id=run.pk).values_list("action", flat=True)
    )
    assert actions[-1] == "cancelled"
    with pytest.raises(InvalidTransition):
        await arun_execute(run_id=run.pk)


async def test_requests_in_flight_are_abandoned_after_the_grace_period(
    settings, close_thread_connection
):
    fast_settings(settings)
    app = sandbox(latency_ms=6000)  # every answer takes 6 s
    run = await sync_to_async(make_run)(workers=3)
    execution = asyncio.create_task(
        arun_execute(run_id=run.pk, marketplace_options={"sandbox_app": app})
    )
    fetching = RunEvent.objects.filter(run_id=run.pk, action="fetching")
    deadline = time.monotonic() + 10
    while await sync_to_async(fetching.count)() < 3:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await sync_to_async(run_cancel)(run_id=run.pk)
    cancelled_at = time.monotonic()
    report = await asyncio.wait_for(execution, 15)

    # Seen within a poll, then 2 s of grace: well before the 6 s answers.
    assert time.monotonic() - cancelled_at < 4.5
    assert report.status == "cancelled"
    assert report.session["requests/abandoned"] == 3
    statuses = await sync_to_async(set)(
        RunTask.objects.filter(run=run).values_list("status", flat=True)
    )
    assert statuses == {"pending"}


async def test_operator_pause_then_resume_matches_an_uninterrupted_run(
    settings, close_thread_connection
):
    fast_settings(settings)
    reference = await sync_to_async(make_run)(workers=4)
    report = await arun_execute(run_id=reference.pk, marketplace_options={"sandbox_app": sandbox()})
    assert report.status == "completed"
    expected = await sync_to_async(produced)(reference.pk)
    await sync_to_async(forget_results)()

    app = sandbox(latency_ms=60)
    run = await sync_to_async(make_run)(workers=2)  # ~2 s of eBay requests
    execution = asyncio.create_task(
        arun_execute(run_id=run.pk, marketplace_options={"sandbox_app": app})
    )
    await _wait_for(lambda: len(app.requests(path="/buy/browse/v1/item_summary/search")) >= 6)
    await sync_to_async(run_pause)(run_id=run.pk)
    report = await asyncio.wait_for(execution, 15)
    assert report.status == "paused" and report.pause_reason == "operator"
    assert 0 < report.ebay_searches < expected["counters"]["ebay_searches"]

    report = await arun_execute(run_id=run.pk, marketplace_options={"sandbox_app": sandbox()})
    assert report.status == "completed"
    assert await sync_to_async(produced)(run.pk) == expected


def test_a_spent_quota_pauses_the_run_until_the_reset(settings):
    fast_settings(settings)
    app = sandbox(daily_quota=6, day_seconds=3600)
    run = make_run(workers=2, node_ids=["12097479011"], ebay_pages=1)
    report = execute(run, app)

    assert report.status == "paused"
    assert report.pause_reason == "quota"
    assert report.resume_at is not None
    assert "quota" in report.message
    assert RunTask.objects.filter(run=run, status="running").count() == 0
    assert RunTask.objects.filter(run=run, phase="ebay", status="pending").exists()


def test_resuming_a_finished_run_is_refused(settings):
    fast_settings(settings)
    run = make_run(workers=2, node_ids=["12097479011"], ebay_pages=1)
    assert execute(run, sandbox()).status == "completed"
    with pytest.raises(InvalidTransition, match="completed"):
        execute(run, sandbox())


@pytest.mark.postgres_only
async def test_lost_database_connections_are_reopened_and_the_run_completes(
    settings, close_thread_connection
):
    import psycopg
    from django.conf import settings as django_settings

    fast_settings(settings)
    reference = await sync_to_async(make_run)(workers=3)
    report = await arun_execute(run_id=reference.pk, marketplace_options={"sandbox_app": sandbox()})
    expected = await sync_to_async(produced)(reference.pk)
    await sync_to_async(forget_results)()

    db = django_settings.DATABASES["default"]
    killed = 0
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        dbname=db["NAME"],
        autocommit=True,
    ) as admin:
        await sync_to_async(_connection_reset)()
        since = admin.execute("SELECT now()").fetchone()[0]  # the engine connects after this
        app = sandbox(latency_ms=40)
        run = await sync_to_async(make_run)(workers=3)
        execution = asyncio.create_task(
            arun_execute(run_id=run.pk, marketplace_options={"sandbox_app": app})
        )
        for wanted in (6, 20):  # twice: in the Amazon→eBay handover and mid-eBay
            await _wait_for(
                lambda wanted=wanted: (
                    len(app.requests(path="/buy/browse/v1/item_summary/search")) >= wanted
                )
            )
            killed += admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_start > %s",
                [since],
            ).fetchone()[0]
        report = await asyncio.wait_for(execution, 60)

    assert killed >= 2
    assert report.status == "completed", report.message
    assert await sync_to_async(produced)(run.pk) == expected
