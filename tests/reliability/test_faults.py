"""Provider faults over real loopback HTTP: a throttling storm, and a provider outage.

The sandbox marketplace runs as its own process (``sandbox_server(subprocess=True)``), the
engine talks to it with the live adapters (``MARKETPLACE=live``), and what the providers
saw is read from the sandbox's own request log.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from activity.models import RunEvent
from collection.engine import run_execute
from collection.marketplaces.sandbox import SandboxConfig
from collection.marketplaces.sandbox.server import sandbox_server
from collection.models import RunTask
from tests.collection.engine_helpers import forget_results, make_run, produced
from tests.collection.test_engine_loopback import live_settings

transactional = pytest.mark.django_db(transaction=True, serialized_rollback=True)

CATEGORIES = ["12097479011", "502394", "284507"]
# 15 best sellers per category, eBay results of up to 60 listings (a page 2 for some).
CATALOGUE = dict(
    seed=21, best_sellers_per_page=15, best_seller_pages=2, max_listings=60, dropshippers=80
)
# Requests to one provider share one Retry-After gate (the eBay token and the searches).
PROVIDER_OF = {"oxylabs": "oxylabs", "ebay-browse": "ebay", "ebay-oauth": "ebay"}
# Requests already on their way when a 429 was answered may still arrive after it: on a
# busy 2-core machine a burst of 20 requests takes up to ~0.5 s to reach the server.
IN_FLIGHT_SLACK_S = 0.5


@transactional
def test_a_storm_of_429s_5xx_and_timeouts_completes_and_honours_every_retry_after(settings):
    storm = SandboxConfig(
        **CATALOGUE,
        rate_limited_rate=0.30,
        error_rate=0.05,
        timeout_rate=0.02,
        timeout_sleep_s=3.0,
        retry_after_s=1,
    )
    with sandbox_server(storm, subprocess=True) as server:
        live_settings(
            settings,
            server.base_url,
            COLLECTION_HTTP_TIMEOUT=0.8,
            COLLECTION_AMAZON_HTTP_TIMEOUT=0.8,
        )
        run = make_run(node_ids=CATEGORIES, workers=20, ebay_pages=2)
        started = time.time()
        report = run_execute(run_id=run.pk)
        log = [r for r in server.requests() if r.time >= started and r.provider in PROVIDER_OF]

    assert report.status == "completed", report.message
    # It was a storm: about 30 % of what the providers answered was 429, 5 % 5xx, and
    # some requests were held past the client's timeout (those never reach the log).
    refusals = [r for r in log if r.status == 429]
    assert 0.2 < len(refusals) / len(log) < 0.4, (len(refusals), len(log))
    assert any(r.status >= 500 for r in log)
    assert report.stats["requests/failed/timeout"] >= 1
    assert report.stats["requests/failed/http_5xx"] >= 1
    assert report.stats["rate_limited"] == len(refusals)

    # No request reached a provider before the Retry-After of a 429 it had sent had passed,
    # beyond those already on their way: seen from the provider (its request log)...
    early = []
    for refusal in refusals:
        answered = refusal.time + refusal.duration_ms / 1000
        group = PROVIDER_OF[refusal.provider]
        early += [
            (refusal, r)
            for r in log
            if PROVIDER_OF[r.provider] == group
            and answered + IN_FLIGHT_SLACK_S < r.time < answered + 1.0 - 0.02
        ]
    assert early == [], early[:3]
    # ...and from the engine: once it has seen a 429, it starts no request to that provider
    # (``fetching`` is emitted right before a request is sent) until Retry-After has passed.
    events = list(
        RunEvent.objects.filter(run_id=run.pk, action__in=["fetching", "rate_limited"]).order_by(
            "seq"
        )
    )
    provider = {"amazon": "oxylabs", "ebay": "ebay"}
    for gate in (e for e in events if e.action == "rate_limited"):
        closed_until = gate.ts.timestamp() + gate.data["retry_after_s"]
        started = [
            e
            for e in events
            if e.action == "fetching"
            and provider[e.phase] == gate.data["provider"]
            and gate.ts.timestamp() < e.ts.timestamp() < closed_until - 0.005
        ]
        assert started == [], (gate.ts, gate.data, [(e.ts, e.worker) for e in started])
    # Token mints are one at a time (single flight), so none is ever in flight when a mint
    # is refused: the next mint must wait the whole Retry-After.
    mints = [r for r in log if r.provider == "ebay-oauth"]
    for refused in (r for r in mints if r.status == 429):
        answered = refused.time + refused.duration_ms / 1000
        assert not [r for r in mints if answered < r.time < answered + 1.0 - 0.02], mints

    # Fewer than 1 % of the tasks failed, and every failed one is listed with its error type.
    tasks = RunTask.objects.filter(run=run)
    failed = {t.key: t.error_type for t in tasks.filter(status="failed")}
    assert len(failed) < 0.01 * tasks.count(), failed
    assert {row["key"]: row["error_type"] for row in report.failed} == failed
    assert all(row["error_type"] and row["error_message"] for row in report.failed)
    assert not tasks.exclude(status__in=["done", "failed"]).exists()
    assert tasks.count() > 30


def _outage_run(settings, *, oxylabs_url: str, ebay_url: str, categories, **run_options):
    live_settings(
        settings,
        oxylabs_url,
        COLLECTION_MAX_CONSECUTIVE_FAILURES=5,
        COLLECTION_RETRY_MAX=3,
        COLLECTION_HTTP_TIMEOUT=2.0,
    )
    settings.EBAY_API_BASE_URL = ebay_url
    run = make_run(node_ids=categories, **run_options)
    return run, run_execute(run_id=run.pk)


@transactional
def test_a_provider_outage_pauses_after_the_failure_limit_not_after_every_task(settings):
    healthy = SandboxConfig(**CATALOGUE)
    down = SandboxConfig(**CATALOGUE, error_rate=1.0)
    workers, limit, attempts = 3, 5, 3
    with sandbox_server(healthy) as good, sandbox_server(down) as bad:
        # The reference: the same run with both providers up.
        reference, report = _outage_run(
            settings,
            oxylabs_url=good.base_url,
            ebay_url=good.base_url,
            categories=CATEGORIES,
            workers=workers,
            ebay_pages=1,
        )
        assert report.status == "completed"
        expected = produced(reference.pk)
        forget_results()

        # eBay goes down for good once the Amazon phase is done.
        run, report = _outage_run(
            settings,
            oxylabs_url=good.base_url,
            ebay_url=bad.base_url,
            categories=CATEGORIES,
            workers=workers,
            ebay_pages=1,
        )
        assert report.status == "paused" and report.pause_reason == "failures"
        assert f"{limit} tasks failed in a row" in report.message
        assert "http_5xx" in report.message
        ebay = RunTask.objects.filter(run=run, phase="ebay")
        # Not burnt through: the streak and the tasks in flight, nothing more.
        tried = len(bad.requests())
        assert tried <= (limit + workers) * attempts, tried
        assert ebay.count() > 3 * (limit + workers)
        assert not ebay.exclude(status="pending").exists()  # nothing failed for good
        paused = RunEvent.objects.get(run_id=run.pk, action="paused")
        assert paused.data["reason"] == "failures" and "in a row" in paused.data["message"]

        # The provider is back: the resume finishes the run, exactly as the reference.
        live_settings(settings, good.base_url)
        report = run_execute(run_id=run.pk)
        assert report.status == "completed" and report.mode == "resumed"
        assert produced(run.pk) == expected
        forget_results()

        # Everything down from the first request: the Amazon phase stops the same way.
        many = [
            "12097479011",
            "502394",
            "284507",
            "172282",
            "1055398",
            "3760911",
            "165796011",
            "7141123011",
            "16310101",
            "2619533011",
        ]
        run, report = _outage_run(
            settings,
            oxylabs_url=bad.base_url,
            ebay_url=bad.base_url,
            categories=many,
            workers=workers,
            amazon_pages=2,
        )
        assert report.status == "paused" and report.pause_reason == "failures"
        amazon = RunTask.objects.filter(run=run, phase="amazon")
        assert amazon.count() == 20 and not amazon.exclude(status="pending").exists()
        assert len([r for r in bad.requests() if r.provider == "oxylabs"]) <= (
            (limit + workers) * attempts
        )


@pytest.mark.parametrize(
    "fault, error_type",
    [
        (dict(rate_limited_rate=1.0), "rate_limited"),
        (dict(error_rate=1.0), "http_5xx"),
        (dict(ebay_client_secret="not-what-the-run-sends"), "auth"),
    ],
)
async def test_workers_waiting_for_a_token_share_a_refused_mint(fault, error_type):
    """Twenty workers need the eBay token at once and the mint is refused: the refusal is
    everyone's answer. Minting again straight away, once per waiting worker, would ignore
    the Retry-After (429), hammer a failing endpoint past the engine's backoff (5xx), or
    send bad credentials twenty times (auth)."""
    import httpx

    from collection.marketplaces.base import MarketplaceError
    from collection.marketplaces.ebay_browse import EbayAppTokens
    from collection.marketplaces.sandbox import SandboxApp, SandboxTransport

    # 20 ms of latency: the workers really wait while the mint is in flight.
    app = SandboxApp(SandboxConfig(**CATALOGUE, latency_ms=20, ebay_client_id="scout", **fault))
    async with httpx.AsyncClient(transport=SandboxTransport(app=app)) as client:
        tokens = EbayAppTokens(
            client=client,
            base_url="http://sandbox.invalid",
            client_id="scout",
            client_secret="scout-secret",
        )
        results = await asyncio.gather(*(tokens.get() for _ in range(20)), return_exceptions=True)
    assert all(isinstance(r, MarketplaceError) for r in results), results
    assert {r.error_type for r in results} == {error_type}
    assert len(app.requests(provider="ebay-oauth")) == 1
    if error_type == "rate_limited":
        assert {r.retry_after for r in results} == {1.0}
        # A worker that asks later, while the Retry-After runs, gets the refusal as well.
        with pytest.raises(MarketplaceError) as later:
            await tokens.get()
        assert later.value.error_type == "rate_limited" and 0 < later.value.retry_after < 1
        assert len(app.requests(provider="ebay-oauth")) == 1
