"""The database goes away in the middle of a run for longer than the engine's retries.

(A short drop — connections killed, reconnect, go on — is in tests/collection/test_engine.py.)
Here the test database refuses new connections and the run's connections are terminated,
mid eBay phase: the engine retries, then pauses with the reason (it cannot write it down,
the database is gone, so it says it in its report and its log), releases nothing it
cannot, and a resume once the database is back completes the run with exactly the rows of
an uninterrupted run: nothing lost, nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings

from activity.models import RunEvent
from collection.models import RunTask
from collection.engine import arun_execute
from collection.engine.runner import _connection_reset
from tests.collection.engine_helpers import (
    fast_settings,
    forget_results,
    make_run,
    produced,
    sandbox,
)

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
async def close_thread_connection():
    yield
    await sync_to_async(_connection_reset)()


def _admin_connection():
    import psycopg

    db = django_settings.DATABASES["default"]
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
        password=db.get("PASSWORD") or None, dbname="postgres", autocommit=True,
    )


async def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.mark.usefixtures("close_thread_connection")
async def test_database_gone_longer_than_the_retries_pauses_and_a_resume_completes(
    settings, caplog
):
    fast_settings(settings, COLLECTION_LEASE_SECONDS=2)
    reference = await sync_to_async(make_run)(workers=3)
    report = await arun_execute(run_id=reference.pk, marketplace_options={"sandbox_app": sandbox()})
    assert report.status == "completed"
    expected = await sync_to_async(produced)(reference.pk)
    await sync_to_async(forget_results)()

    name = django_settings.DATABASES["default"]["NAME"]
    app = sandbox(latency_ms=40)
    run = await sync_to_async(make_run)(workers=3)
    with _admin_connection() as admin:
        await sync_to_async(_connection_reset)()
        since = admin.execute("SELECT now()").fetchone()[0]  # the run connects after this
        execution = asyncio.create_task(
            arun_execute(run_id=run.pk, marketplace_options={"sandbox_app": app})
        )
        await _wait_for(lambda: len(app.requests(path="/buy/browse/v1/item_summary/search")) >= 10)
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND backend_start > %s", [name, since],
            ).fetchone()[0]
            assert killed >= 1
            with caplog.at_level(logging.WARNING, logger="collection"):
                report = await asyncio.wait_for(execution, 60)
            requests_when_paused = len(app.requests())
            await asyncio.sleep(0.5)
            assert len(app.requests()) == requests_when_paused  # nothing goes on in the dark
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

    assert report.status == "paused" and report.pause_reason == "database", report
    assert "The database stopped answering" in report.message
    assert "resume when it is back" in report.message
    assert any("database" in r.getMessage() and r.levelno >= logging.WARNING
               for r in caplog.records)

    # The database is back: a resume takes the run over and completes it, exactly.
    report = await arun_execute(run_id=run.pk, marketplace_options={"sandbox_app": sandbox()})
    assert report.status == "completed", report.message
    assert await sync_to_async(produced)(run.pk) == expected
    seqs = await sync_to_async(list)(
        RunEvent.objects.filter(run_id=run.pk).values_list("seq", flat=True)
    )
    assert len(seqs) == len(set(seqs))  # no event stored twice either


def test_run_collection_says_why_it_stopped_while_the_database_is_still_down(settings):
    """The operator's view of the same outage: ``run_collection`` (its own process) ends
    with exit status 1 and one clear line — paused, the database, how to resume — even
    though the database is still gone when it reports. Then the database is back and the
    same command resumes the run to completion."""
    from django.db import connection

    from tests.collection.engine_helpers import manage

    fast_settings(settings)
    run = make_run(workers=3)
    name = django_settings.DATABASES["default"]["NAME"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        own = cursor.fetchone()[0]  # the test's connection survives the outage
    env = {"MARKETPLACE": "sandbox", "SANDBOX_LATENCY_MS": "40", "SANDBOX_SEED": "1",
           "COLLECTION_LEASE_SECONDS": "2", "COLLECTION_HEARTBEAT_SECONDS": "0.3",
           "COLLECTION_FLUSH_SECONDS": "0.1", "COLLECTION_RATE_LIMITS": "",
           "COLLECTION_QUOTAS": "", "COLLECTION_LOG_LEVEL": "WARNING"}
    process = manage("run_collection", "--resume", str(run.pk), env_extra=env)
    try:
        with _admin_connection() as admin:
            deadline = time.monotonic() + 60
            while RunTask.objects.filter(run=run, phase="ebay", status="done").count() < 10:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            try:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> %s", [name, own],
                )
                out, err = process.communicate(timeout=60)
            finally:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1, err[-3000:]
    # Its last word is the reason (warnings with tracebacks may come before it, in the log).
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"CommandError: Run {run.pk} is paused (database)"), err[-3000:]
    assert "The database stopped answering" in last
    assert f"run_collection --resume {run.pk}" in last

    process = manage("run_collection", "--resume", str(run.pk), "--json", env_extra=env)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-3000:]
    run.refresh_from_db()
    assert run.status == "completed"
