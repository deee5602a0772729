"""Quotas end to end: the estimate against a real run, a run three emulated days long, and
usage that survives a worker restart."""

from __future__ import annotations

import json
import math
import signal
import time
from collections import Counter
from io import StringIO

import pytest
from django.core.management import call_command

from collection.engine import run_execute
from collection.marketplaces.sandbox import SandboxConfig
from collection.marketplaces.sandbox.server import sandbox_server
from collection.models import CollectionRun, ProviderUsage, RunTask
from collection.services.estimates import run_estimate_compare

from .engine_helpers import (
    SMALL,
    fast_settings,
    forget_results,
    make_run,
    manage,
    produced,
    sandbox,
)

SEARCH_PATH = "/buy/browse/v1/item_summary/search"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_estimate_is_within_ten_percent_on_the_default_seed(settings):
    """A first run, no history: the stated defaults against the sandbox's default catalogue."""
    fast_settings(settings, SANDBOX_SEED=1, EBAY_PROVIDER="browse")
    # Half the Sampler preset (Headphones, Kitchen & Dining, Exercise & Fitness): ~180 requests.
    run = make_run(node_ids=["12097479011", "284507", "3407731"], workers=10, ebay_pages=3)
    assert run.estimate["learned"] is False
    report = run_execute(run_id=run.pk)
    assert report.status == "completed"
    run.refresh_from_db()
    compare = run_estimate_compare(run=run)
    estimated = sum(c["estimated"] for c in compare.values())
    actual = sum(c["actual"] for c in compare.values())
    assert abs(estimated - actual) <= 0.10 * actual, compare
    for provider in ("oxylabs", "ebay"):
        c = compare[provider]
        assert abs(c["estimated"] - c["actual"]) <= 0.10 * c["actual"], compare


def _quota_settings(settings, *, base_url: str, per_window: int, window_seconds: float) -> None:
    """The live clients against a loopback sandbox, eBay metered per emulated day."""
    fast_settings(
        settings,
        MARKETPLACE="live",
        OXYLABS_BASE_URL=base_url,
        OXYLABS_USERNAME="user",
        OXYLABS_PASSWORD="pw",
        EBAY_API_BASE_URL=base_url,
        EBAY_CLIENT_ID="id",
        EBAY_CLIENT_SECRET="secret",
        EBAY_PROVIDER="browse",
        COLLECTION_QUOTAS={"ebay": {"per_day": per_window, "reset_hour_utc": 0}},
        COLLECTION_QUOTA_WINDOW_SECONDS=window_seconds,
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_run_of_three_emulated_days_completes_with_the_unlimited_result(settings):
    # The reference: the same selection, no quota, in-process sandbox.
    fast_settings(settings)
    nodes = ["12097479011", "502394", "284507", "2975312011", "3407731", "166220011"]
    config = SandboxConfig(seed=7, **SMALL)
    reference = make_run(node_ids=nodes, workers=5, ebay_pages=2)
    unlimited = run_execute(run_id=reference.pk, marketplace_options={"sandbox_app": sandbox()})
    assert unlimited.status == "completed"
    expected = produced(reference.pk)
    searches = expected["counters"]["ebay_searches"]
    forget_results()

    # A daily quota a third of the eBay searches (rounded up, plus one): three days' worth.
    day = 3.0
    per_day = math.ceil(searches / 3) + 1
    assert 2 * per_day < searches <= 3 * per_day
    quota_config = config.replace(daily_quota=per_day, day_seconds=day, quota_epoch=0.0)
    with sandbox_server(quota_config, subprocess=True) as server:
        _quota_settings(settings, base_url=server.base_url, per_window=per_day, window_seconds=day)
        out = StringIO()
        started = time.time()
        call_command(
            "run_collection",
            "--categories",
            ",".join(nodes),
            "--workers",
            "5",
            "--ebay-pages",
            "2",
            "--json",
            stdout=out,
            stderr=StringIO(),
        )
        log = server.requests()
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    assert result["status"] == "completed"

    # Exactly the unlimited run's result.
    got = produced(result["run_id"])
    assert got == expected

    # Never over the quota in any emulated day, as the provider saw it; no 429 at all.
    searches_log = [r for r in log if r.path == SEARCH_PATH and r.time >= started]
    assert all(r.status == 200 for r in searches_log), Counter(r.status for r in searches_log)
    per_window = Counter(int(r.time // day) for r in searches_log)
    assert max(per_window.values()) <= per_day, per_window
    assert len(per_window) >= 3, per_window  # it spanned three emulated days
    assert sum(per_window.values()) == searches
    # Our own counter agrees with the provider, window by window.
    usage = {
        int(row.window_start.timestamp() // day): row.requests
        for row in ProviderUsage.objects.filter(provider="ebay", requests__gt=0)
    }
    assert usage == dict(per_window)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_usage_survives_a_restart_of_the_worker_process(settings):
    """A process paused at the quota is killed; a fresh one does not start the count again."""
    fast_settings(settings)
    run = make_run(node_ids=["12097479011", "502394"], workers=3, ebay_pages=2)
    env = {
        "MARKETPLACE": "sandbox",
        "SANDBOX_SEED": "3",
        "COLLECTION_RATE_LIMITS": "",
        "COLLECTION_LOG_LEVEL": "WARNING",
        # 15 eBay searches per window; a window of ~3 years (no reset during the test).
        "COLLECTION_QUOTAS": "ebay=15/day",
        "COLLECTION_QUOTA_WINDOW_SECONDS": "100000000",
    }
    first = manage("run_collection", "--resume", str(run.pk), env_extra=env)
    deadline = time.monotonic() + 90
    while not CollectionRun.objects.filter(
        pk=run.pk, status="paused", pause_reason="quota"
    ).exists():
        assert first.poll() is None, first.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the run never paused at the quota"
        time.sleep(0.05)
    # It waits in the foreground for the reset: kill it there, like a restarted worker.
    time.sleep(0.3)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)

    def ebay_attempts() -> int:
        return sum(RunTask.objects.filter(run=run, phase="ebay").values_list("attempts", flat=True))

    assert ebay_attempts() == 15
    assert list(ProviderUsage.objects.values_list("provider", "requests")) == [("ebay", 15)]

    # A fresh worker process takes the run: it pauses again at once, sending nothing.
    second = manage(
        "shell",
        "-c",
        "from collection.engine import run_execute; import json; "
        f"r = run_execute(run_id={run.pk}); print(json.dumps([r.status, r.pause_reason]))",
        env_extra=env,
    )
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err[-3000:]
    assert json.loads(out.strip().splitlines()[-1]) == ["paused", "quota"]
    assert ebay_attempts() == 15
    assert list(ProviderUsage.objects.values_list("provider", "requests")) == [("ebay", 15)]
    run.refresh_from_db()
    assert run.resume_at is not None and run.pause_reason == "quota"
    assert not RunTask.objects.filter(run=run, status="running").exists()
