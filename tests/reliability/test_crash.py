"""SIGKILL of the process executing a run, again and again, in both phases.

``run_collection`` runs in a subprocess on the test database (PostgreSQL) against the
sandbox served on loopback; the test kills it at points drawn from a seeded RNG (a
random moment after start, then after a random number of stored tasks in the Amazon
phase and twice in the eBay phase), starts it again each time, and lets the last one
finish. Sellers, sightings, changes, snapshot, counters and task states must then be
exactly those of an uninterrupted run with the same seed. The single-kill case lives in
tests/collection/test_engine_processes.py.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time

import pytest

from collection.engine import run_execute
from collection.marketplaces.sandbox import SandboxConfig
from collection.marketplaces.sandbox.server import sandbox_server
from collection.models import CollectionRun, RunTask
from tests.collection.engine_helpers import forget_results, make_run, manage, produced
from tests.collection.test_engine_loopback import live_settings

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

CATEGORIES = ["12097479011", "502394", "284507"]
CATALOGUE = SandboxConfig(
    seed=9,
    latency_ms=60,
    best_sellers_per_page=10,
    best_seller_pages=2,
    max_listings=60,
    dropshippers=80,
)
RUN = dict(node_ids=CATEGORIES, workers=3, amazon_pages=2, ebay_pages=2)


def _env(base_url: str) -> dict:
    return {
        "MARKETPLACE": "live",
        "OXYLABS_BASE_URL": base_url,
        "EBAY_API_BASE_URL": base_url,
        "OXYLABS_USERNAME": "scout",
        "OXYLABS_PASSWORD": "crash-test-password",
        "EBAY_CLIENT_ID": "scout-app",
        "EBAY_CLIENT_SECRET": "crash-test-secret",
        # A killed process's tasks are claimable again 2 s later.
        "COLLECTION_LEASE_SECONDS": "2",
        "COLLECTION_HEARTBEAT_SECONDS": "0.3",
        "COLLECTION_FLUSH_SECONDS": "0.1",
        "ACTIVITY_FRAME_SECONDS": "0.1",
        # 4 Amazon requests a second: the Amazon phase (6 pages) lasts long enough to be hit.
        "COLLECTION_RATE_LIMITS": "oxylabs=4",
        "COLLECTION_QUOTAS": "",
        "COLLECTION_RETRY_BASE_DELAY": "0.05",
        "COLLECTION_LOG_LEVEL": "WARNING",
    }


def _done(run_id: int, phase: str) -> int:
    return RunTask.objects.filter(run_id=run_id, phase=phase, status="done").count()


def _kill_when(process, predicate, *, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            _, err = process.communicate()
            raise AssertionError(f"the run ended before the kill point:\n{err[-3000:]}")
        assert time.monotonic() < deadline, "kill point never reached"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL


def test_repeated_sigkills_in_both_phases_then_resume_equal_an_uninterrupted_run(settings):
    seed = int(os.environ.get("SCOUT_CRASH_SEED", random.randrange(10**6)))
    rng = random.Random(seed)
    with sandbox_server(CATALOGUE, subprocess=True) as server:
        live_settings(settings, server.base_url)
        reference = make_run(**RUN)
        assert run_execute(run_id=reference.pk).status == "completed"
        expected = produced(reference.pk)
        forget_results()
        amazon_tasks = len(CATEGORIES) * RUN["amazon_pages"]
        ebay_tasks = len([k for k, _ in expected["tasks"] if k.startswith("ebay:")])

        run = make_run(**RUN)
        env = _env(server.base_url)
        kills = []

        def start():
            return manage("run_collection", "--resume", str(run.pk), "--json", env_extra=env)

        # 1. Anywhere in the first seconds: starting up, planning or fetching best sellers.
        process = start()
        # (At most ~1.8 s: the process starts in ~1 s, then fetches 4 pages a second, and
        # kill 2 needs at least two of the six Amazon pages still to come.)
        delay = rng.uniform(0.3, 1.8)
        started = time.monotonic()
        _kill_when(process, lambda: time.monotonic() - started >= delay)
        kills.append(("any", delay, CollectionRun.objects.get(pk=run.pk).phase))

        # 2. In the Amazon phase, after a random number of its pages were stored.
        process = start()
        threshold = rng.randint(_done(run.pk, "amazon") + 1, amazon_tasks - 2)
        _kill_when(process, lambda: _done(run.pk, "amazon") >= threshold)
        kills.append(("amazon", threshold, CollectionRun.objects.get(pk=run.pk).phase))

        # 3, 4. Twice in the eBay phase, each after a random number of stored searches.
        for _ in range(2):
            process = start()
            threshold = _done(run.pk, "ebay") + rng.randint(3, max(4, ebay_tasks // 4))
            _kill_when(process, lambda at=threshold: _done(run.pk, "ebay") >= at)
            kills.append(("ebay", threshold, CollectionRun.objects.get(pk=run.pk).phase))

        context = f"seed {seed} (SCOUT_CRASH_SEED), kills {kills}"
        assert [phase for _, _, phase in kills[1:]] == ["amazon", "ebay", "ebay"], context
        run.refresh_from_db()
        assert run.status == "running", context  # as the last killed process left it
        assert RunTask.objects.filter(run=run, status__in=["pending", "running"]).exists()

        final = start()
        out, err = final.communicate(timeout=120)
        assert final.returncode == 0, f"{context}\n{err[-3000:]}"
        assert "Traceback" not in err, context
        result = json.loads(out.strip().splitlines()[-1])

    assert result["status"] == "completed", context
    assert produced(run.pk) == expected, context
