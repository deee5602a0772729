"""Real `db_worker` processes against PostgreSQL: an admin-started run completes, and a
run whose worker is killed mid-run is finished by another worker, nothing doubled or lost."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.tasks import TaskResultStatus
from django.test import Client
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from activity.models import RunEvent
from collection.models import (
    Category,
    CollectionRun,
    RunTask,
    Seller,
    SellerChange,
    SellerSighting,
    SellerSnapshot,
)
from collection.services.dispatch import run_start
from collection.services.lifecycle import run_create

ROOT = Path(__file__).resolve().parents[2]
SMALL_CATEGORY = "3741261"  # 50 best sellers on one page

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{db['USER']}{password}@{host}/{db['NAME']}"


def _env(**extra) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=_database_url(),
        MARKETPLACE="sandbox",
        COLLECTION_QUOTAS="",
        COLLECTION_RATE_LIMITS="oxylabs=0,ebay=0",
        COLLECTION_RETRY_BASE_DELAY="0.01",
        COLLECTION_RETRY_MAX_DELAY="0.05",
        COLLECTION_FLUSH_SECONDS="0.1",
        LOG_LEVEL="WARNING",
        **{k: str(v) for k, v in extra.items()},
    )
    return env


def _manage(*args, env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _worker(env, *extra) -> subprocess.Popen:
    return _manage(
        "db_worker", "--no-reload", "--no-startup-delay", "--interval", "0.2", *extra, env=env
    )


def _stop(*processes) -> str:
    """Stop the processes; their output is printed (pytest shows it when a test fails)."""
    output = []
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            out, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        output.append(out or "")
    joined = "\n".join(output)
    print(joined[-6000:])  # noqa: T201 -- the workers' logs, shown when the test fails
    return joined


def _wait_for(predicate, *, timeout: float, what: str, processes=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        for process in processes:
            if process.poll() is not None and process.returncode not in (None, 0):
                raise AssertionError(f"{what}: a process exited with {process.returncode}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_an_admin_started_run_is_completed_by_a_real_db_worker():
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", None)
    client = Client()
    client.force_login(user)
    category = Category.objects.get(node_id=SMALL_CATEGORY)
    response = client.post(
        reverse("admin:collection_category_changelist"),
        {
            "action": "start_run",
            "_selected_action": [category.pk],
            "apply": "1",
            "workers": "5",
            "amazon_pages": "1",
            "ebay_pages": "1",
            "markup_min_percent": "80",
            "markup_max_percent": "120",
        },
    )
    assert response.status_code == 302  # the admin answered at once
    run = CollectionRun.objects.get()
    assert run.status == CollectionRun.Status.QUEUED
    (task,) = DBTaskResult.objects.all()

    worker = _worker(_env(), "--batch")  # executes what is queued, then exits
    try:
        worker.wait(timeout=240)
    finally:
        output = _stop(worker)
    assert worker.returncode == 0, output[-3000:]

    run.refresh_from_db()
    task.refresh_from_db()
    assert run.status == CollectionRun.Status.COMPLETED, (run.status_message, output[-3000:])
    assert task.status == TaskResultStatus.SUCCESSFUL
    assert task.return_value["run_id"] == run.pk and task.return_value["status"] == "completed"
    assert run.products_found > 0 and run.sellers_new > 0
    assert SellerSnapshot.objects.get(run=run).new_sellers == run.sellers_new
    assert SellerChange.objects.filter(run=run, action="added").count() == run.sellers_new
    assert SellerSighting.objects.filter(run=run).count() == run.sightings


def _sightings(run_id):
    return set(
        SellerSighting.objects.filter(run_id=run_id).values_list(
            "seller__normalized", "product__asin"
        )
    )


def test_a_killed_worker_run_is_finished_by_another_worker_without_duplicates(settings):
    lease = 2
    env = _env(
        COLLECTION_LEASE_SECONDS=lease,
        COLLECTION_HEARTBEAT_SECONDS=0.3,
        COLLECTION_SCHEDULER_SECONDS=0.3,
        SANDBOX_LATENCY_MS=60,
    )
    category = Category.objects.get(node_id=SMALL_CATEGORY)
    sellers_before = Seller.objects.count()
    run = run_start(categories=[category], workers=2, amazon_pages=1, ebay_pages=2)

    first = _worker(env)
    ebay_done = RunTask.objects.filter(run=run, phase="ebay", status="done")
    try:
        _wait_for(
            lambda: ebay_done.count() >= 10, timeout=120, what="eBay tasks", processes=[first]
        )
        first.send_signal(signal.SIGKILL)  # no clean-up at all: OOM killer, power cut
        first.wait(timeout=10)
    finally:
        _stop(first)
    done_at_kill = ebay_done.count()
    run.refresh_from_db()
    assert run.status == CollectionRun.Status.RUNNING  # nobody knows yet
    assert RunTask.objects.filter(run=run).exclude(status__in=RunTask.FINISHED_STATUSES).exists()

    # A live worker and the scheduler (it notices the stale heartbeat and re-queues).
    second = _worker(env)
    scheduler = _manage("run_scheduler", env=env)
    try:
        _wait_for(
            lambda: CollectionRun.objects.get(pk=run.pk).status == CollectionRun.Status.COMPLETED,
            timeout=180,
            what="the run to complete",
            processes=[second, scheduler],
        )
    finally:
        output = _stop(second, scheduler)

    run.refresh_from_db()
    assert run.status == CollectionRun.Status.COMPLETED, output[-3000:]
    orphaned = RunEvent.objects.get(run=run, action="paused", data__reason="orphaned")
    assert "stopped responding" in orphaned.data["message"]
    assert not RunTask.objects.filter(run=run).exclude(status="done").exists()
    assert ebay_done.count() > done_at_kill

    # Nothing doubled: every row the run wrote matches its counters and the snapshot.
    killed = _sightings(run.pk)
    assert SellerSighting.objects.filter(run=run).count() == len(killed) == run.sightings
    added = SellerChange.objects.filter(run=run, action="added")
    assert added.count() == run.sellers_new == SellerSnapshot.objects.get(run=run).new_sellers
    assert added.values("seller").distinct().count() == added.count()
    assert Seller.objects.count() - sellers_before == run.sellers_new

    # Nothing lost: an uninterrupted run of the same selection sees exactly the same.
    from collection.engine import run_execute

    settings.COLLECTION_RATE_LIMITS = {}
    settings.COLLECTION_QUOTAS = {}
    reference = run_create(categories=[category], workers=5, amazon_pages=1, ebay_pages=2)
    report = run_execute(run_id=reference.pk)
    assert report.status == "completed"
    assert _sightings(reference.pk) == killed
    assert Seller.objects.count() - sellers_before == run.sellers_new  # nobody new


def _ready(process) -> None:
    """Wait until a db_worker polls its queue (it logs "Starting worker")."""
    for line in process.stdout:
        if "Starting worker" in line:
            return
    raise AssertionError(f"db_worker exited with {process.wait()}")


def test_one_run_spreads_over_two_worker_processes():
    """ "Add a worker process" enqueues a second task: two db_workers share one run."""
    from collection.services.dispatch import run_worker_add

    # A process prefetches up to COLLECTION_BATCH_SIZE tasks: keep it below the run's size
    # so there is work left for the second process to claim.
    env = _env(SANDBOX_LATENCY_MS=40, COLLECTION_BATCH_SIZE=10)
    # Both workers poll before the run exists, so both get one of its two tasks at once.
    workers = [_worker(env, "--max-tasks", "1") for _ in range(2)]
    try:
        for worker in workers:
            _ready(worker)
        category = Category.objects.get(node_id=SMALL_CATEGORY)
        run = run_start(categories=[category], workers=2, amazon_pages=1, ebay_pages=2)
        run_worker_add(run_id=run.pk)
        for worker in workers:
            worker.wait(timeout=240)
    finally:
        output = _stop(*workers)
    assert [w.returncode for w in workers] == [0, 0], output[-3000:]

    run.refresh_from_db()
    assert run.status == CollectionRun.Status.COMPLETED
    statuses = set(DBTaskResult.objects.values_list("status", flat=True))
    assert statuses == {TaskResultStatus.SUCCESSFUL}
    executors = set(
        RunTask.objects.filter(run=run, phase="ebay").values_list("leased_by", flat=True)
    )
    assert len({e.rsplit(":", 1)[0] for e in executors}) == 2  # two processes (host:pid)
    assert SellerSighting.objects.filter(run=run).count() == run.sightings
    assert SellerChange.objects.filter(run=run, action="added").count() == run.sellers_new
