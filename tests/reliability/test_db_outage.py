"""The database goes away in the middle of a run for longer than the engine's retries.

(A short drop — connections killed, reconnect, go on — is in tests/collection/test_engine.py.)
``run_collection`` executes the run in its own process; mid eBay phase the test database
stops accepting connections and the process's connections are terminated. The engine
retries, then pauses with the reason: it cannot write it down (the database is gone), so
the command says it — exit status 1, the reason and the command that resumes — and
nothing goes on in the dark. Once the database is back, that command resumes the run and
completes it with exactly the rows of an uninterrupted run: nothing lost, nothing twice.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings as django_settings
from django.db import connection

from activity.models import RunEvent
from collection.engine import run_execute
from collection.models import RunTask
from tests.collection.engine_helpers import (
    fast_settings,
    forget_results,
    make_run,
    manage,
    produced,
)

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

NODES = ["12097479011"]
ENV = {
    "MARKETPLACE": "sandbox",
    "SANDBOX_SEED": "5",
    "SANDBOX_LATENCY_MS": "40",
    "COLLECTION_LEASE_SECONDS": "2",
    "COLLECTION_HEARTBEAT_SECONDS": "0.3",
    "COLLECTION_FLUSH_SECONDS": "0.1",
    "COLLECTION_RATE_LIMITS": "",
    "COLLECTION_QUOTAS": "",
    "COLLECTION_LOG_LEVEL": "WARNING",
}


def _admin_connection():
    import psycopg

    db = django_settings.DATABASES["default"]
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    )


def test_database_gone_longer_than_the_retries_pauses_with_the_reason_and_resume_completes(
    settings,
):
    fast_settings(settings, SANDBOX_SEED=5)  # the same catalogue as the run's process
    reference = make_run(node_ids=NODES, workers=3, ebay_pages=1)
    assert run_execute(run_id=reference.pk).status == "completed"
    expected = produced(reference.pk)
    forget_results()

    run = make_run(node_ids=NODES, workers=3, ebay_pages=1)
    name = django_settings.DATABASES["default"]["NAME"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        own = cursor.fetchone()[0]  # the test's own connection survives the outage
    process = manage("run_collection", "--resume", str(run.pk), env_extra=ENV)
    try:
        with _admin_connection() as admin:
            deadline = time.monotonic() + 60
            while RunTask.objects.filter(run=run, phase="ebay", status="done").count() < 10:
                assert process.poll() is None and time.monotonic() < deadline, "too late"
                time.sleep(0.05)
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            try:
                killed = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> %s",
                    [name, own],
                ).fetchone()[0]
                assert killed >= 1
                _, err = process.communicate(timeout=60)
                # Nothing goes on in the dark: no process holds the run any more.
                time.sleep(0.5)
                assert (
                    admin.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
                        [name, own],
                    ).fetchone()[0]
                    == 0
                )
            finally:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1, err[-3000:]
    # Its last word is the reason (warnings, with tracebacks, may come before it in the log).
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"CommandError: Run {run.pk} is paused (database)"), err[-3000:]
    assert "The database stopped answering" in last and "resume when it is back" in last
    assert last.endswith(f"Resume with: python manage.py run_collection --resume {run.pk}")

    # The database is back: the same command takes the run over and completes it, exactly.
    process = manage("run_collection", "--resume", str(run.pk), "--json", env_extra=ENV)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-3000:]
    assert produced(run.pk) == expected
    seqs = list(RunEvent.objects.filter(run_id=run.pk).values_list("seq", flat=True))
    assert len(seqs) == len(set(seqs))  # no event stored twice either
