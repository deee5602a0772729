"""The engine over real HTTP: MARKETPLACE=live against the sandbox served on loopback."""

from __future__ import annotations

import time

import pytest

from collection.engine import run_execute
from collection.marketplaces.sandbox import SandboxConfig
from collection.marketplaces.sandbox.server import sandbox_server
from collection.models import RunTask

from .engine_helpers import SMALL, fast_settings, make_run

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def live_settings(settings, base_url: str, **overrides) -> None:
    fast_settings(
        settings,
        MARKETPLACE="live",
        OXYLABS_BASE_URL=base_url,
        EBAY_API_BASE_URL=base_url,
        OXYLABS_USERNAME="scout",
        OXYLABS_PASSWORD="oxylabs-secret",
        EBAY_CLIENT_ID="scout-app",
        EBAY_CLIENT_SECRET="ebay-secret",
        **overrides,
    )


def test_a_live_run_over_loopback_completes_and_honours_retry_after(settings):
    config = SandboxConfig(seed=5, latency_ms=5, rate_limit_rps=4, error_rate=0.05, **SMALL)
    with sandbox_server(config) as server:
        live_settings(settings, server.base_url, COLLECTION_HTTP_TIMEOUT=5.0)
        run = make_run(node_ids=["12097479011", "502394"], workers=10, ebay_pages=2)
        started = time.time()
        report = run_execute(run_id=run.pk)
        records = [r for r in server.requests() if r.time >= started]

    assert report.status == "completed", report.message
    assert report.stats.get("rate_limited", 0) > 0
    assert not RunTask.objects.filter(run=run).exclude(status="done").exists()
    # Every 429 carried Retry-After: 1 (the sandbox's bucket refills within a second): no
    # request to that provider arrived before it had passed. Requests that were already
    # on their way when the 429 was answered may still arrive (250 ms of slack on a busy
    # 2-core machine); none may arrive in the rest of the second.
    groups = {"oxylabs": "oxylabs", "ebay-browse": "ebay", "ebay-oauth": "ebay"}
    api = [r for r in records if r.provider in groups]
    refusals = [r for r in api if r.status == 429]
    assert refusals
    for refusal in refusals:
        answered = refusal.time + refusal.duration_ms / 1000
        early = [
            r
            for r in api
            if groups[r.provider] == groups[refusal.provider]
            and r.provider != "ebay-oauth"
            and answered + 0.25 < r.time < answered + 0.95
        ]
        assert not early, (refusal, early[:3])


def test_bad_credentials_fail_the_run_at_once_with_a_clear_message(settings):
    config = SandboxConfig(
        seed=5, oxylabs_username="scout", oxylabs_password="the-right-one", **SMALL
    )
    with sandbox_server(config) as server:
        live_settings(settings, server.base_url)
        run = make_run(node_ids=["12097479011", "502394", "284507"], workers=2)
        report = run_execute(run_id=run.pk)

    assert report.status == "failed"
    assert "Authentication failed at oxylabs" in report.message
    assert "credentials" in report.message
    assert "oxylabs-secret" not in report.message  # never the secret itself
    assert report.requests <= 2  # no retry storm: the first refusal stops the run
    run.refresh_from_db()
    assert run.failure_reason == report.message
    assert not RunTask.objects.filter(run=run, status__in=["running", "failed"]).exists()
