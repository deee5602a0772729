"""Runs across processes on PostgreSQL: SIGKILL and resume, two processes on one run."""

from __future__ import annotations

import json
import signal
import time

import pytest

from collection.engine import run_execute
from collection.models import RunTask

from .engine_helpers import fast_settings, forget_results, make_run, manage, produced

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ENV = {
    # Short leases: a killed process's tasks are claimable again after 3 s.
    "COLLECTION_LEASE_SECONDS": "3",
    "COLLECTION_HEARTBEAT_SECONDS": "0.5",
    "COLLECTION_FLUSH_SECONDS": "0.1",
    "COLLECTION_RATE_LIMITS": "",
    "COLLECTION_QUOTAS": "",
    "MARKETPLACE": "sandbox",
    "SANDBOX_SEED": "3",
    "COLLECTION_LOG_LEVEL": "WARNING",
}
NODES = ["12097479011"]  # 50 best sellers in the default sandbox catalogue


def _wait_until(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _reference(settings) -> dict:
    """The same run, uninterrupted, in this process (same seed, same options)."""
    fast_settings(settings, SANDBOX_SEED=3)
    run = make_run(node_ids=NODES, workers=5, ebay_pages=2)
    assert run_execute(run_id=run.pk).status == "completed"
    result = produced(run.pk)
    forget_results()
    return result


def _finish(process, timeout=120) -> dict:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    assert "Traceback" not in err
    return json.loads(out.strip().splitlines()[-1])


def test_sigkill_in_the_ebay_phase_then_resume_gives_the_uninterrupted_result(settings):
    expected = _reference(settings)

    run = make_run(node_ids=NODES, workers=5, ebay_pages=2)
    process = manage(
        "run_collection",
        "--resume",
        str(run.pk),
        "--json",
        env_extra={**ENV, "SANDBOX_LATENCY_MS": "25"},
    )
    _wait_until(lambda: RunTask.objects.filter(run=run, phase="ebay", status="done").count() >= 15)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL

    run.refresh_from_db()
    assert run.status == "running" and run.phase == "ebay"  # as the killed process left it
    unfinished = RunTask.objects.filter(run=run, status__in=["pending", "running"]).count()
    assert unfinished > 0

    result = _finish(manage("run_collection", "--resume", str(run.pk), "--json", env_extra=ENV))
    assert result["status"] == "completed"
    assert produced(run.pk) == expected


def test_two_processes_share_one_run_without_duplicates_or_deadlocks(settings):
    expected = _reference(settings)

    run = make_run(node_ids=NODES, workers=5, ebay_pages=2)
    env = {**ENV, "SANDBOX_LATENCY_MS": "150"}  # about 3 s of eBay requests for one process
    # Both start together: one takes the queued run, the other finds it running and joins.
    first = manage(
        "run_collection", "--resume", str(run.pk), "--json", "--workers", "3", env_extra=env
    )
    second = manage(
        "run_collection", "--resume", str(run.pk), "--json", "--workers", "3", env_extra=env
    )
    results = [_finish(first), _finish(second)]

    assert {r["status"] for r in results} == {"completed"}
    assert sorted(r["mode"] for r in results) == ["joined", "started"]
    assert produced(run.pk) == expected
    executors = {r["executor"] for r in results}
    done_by = {
        executor: RunTask.objects.filter(run=run, leased_by=executor, status="done").count()
        for executor in executors
    }
    assert all(count > 0 for count in done_by.values()), done_by
    assert sum(done_by.values()) == RunTask.objects.filter(run=run).count()
