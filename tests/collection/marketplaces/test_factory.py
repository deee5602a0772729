"""The factory: configuration checks, sandbox mode in-process, live mode over loopback."""

import asyncio
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from httpx_aiohttp import AiohttpTransport

from collection.marketplaces.base import (
    ConnectionFailed,
    ListingQuery,
    Marketplace,
    RequestTimeout,
)
from collection.marketplaces.ebay_browse import EbayBrowseSearch
from collection.marketplaces.factory import (
    MarketplaceConfigError,
    marketplace_check_config,
    marketplace_open,
)
from collection.marketplaces.oxylabs import OxylabsAmazonBestSellers, OxylabsEbaySearch
from collection.marketplaces.sandbox import SandboxApp, SandboxConfig
from collection.marketplaces.sandbox.server import sandbox_server

SECRETS = {
    "OXYLABS_USERNAME": "oxy_user_42",
    "OXYLABS_PASSWORD": "oxy-pass-S3CRET",
    "EBAY_CLIENT_ID": "ScoutApp-PRD-abcdef",
    "EBAY_CLIENT_SECRET": "PRD-secret-0123456789",
}


def _live(settings, base_url: str, *, ebay_provider: str = "browse", **extra) -> None:
    settings.MARKETPLACE = "live"
    settings.EBAY_PROVIDER = ebay_provider
    settings.OXYLABS_BASE_URL = base_url
    settings.EBAY_API_BASE_URL = base_url
    for name, value in {**SECRETS, **extra}.items():
        setattr(settings, name, value)


def test_sandbox_default_needs_no_credentials(settings):
    settings.MARKETPLACE = "sandbox"
    for name in SECRETS:
        setattr(settings, name, "")
    assert marketplace_check_config().mode == "sandbox"


def test_live_without_credentials_fails_clearly_before_a_run(settings):
    settings.MARKETPLACE = "live"
    settings.EBAY_PROVIDER = "browse"
    settings.OXYLABS_USERNAME = "only_the_user"
    settings.OXYLABS_PASSWORD = ""
    settings.EBAY_CLIENT_ID = ""
    settings.EBAY_CLIENT_SECRET = ""
    with pytest.raises(MarketplaceConfigError) as info:
        marketplace_check_config()
    message = str(info.value)
    for name in ("OXYLABS_PASSWORD", "EBAY_CLIENT_ID", "EBAY_CLIENT_SECRET"):
        assert name in message
    assert "only_the_user" not in message
    settings.EBAY_PROVIDER = "oxylabs"  # the eBay keyset is then not needed
    with pytest.raises(MarketplaceConfigError) as info:
        marketplace_check_config()
    assert "EBAY_CLIENT_ID" not in str(info.value)


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("MARKETPLACE", "production", "MARKETPLACE"),
        ("EBAY_PROVIDER", "scraperapi", "EBAY_PROVIDER"),
        ("AMAZON_PROVIDER", "keepa", "AMAZON_PROVIDER"),
        ("EBAY_API_BASE_URL", "https://id:secret@api.ebay.com", "must not contain credentials"),
        ("OXYLABS_BASE_URL", "ftp://realtime.oxylabs.io", "http(s)"),
    ],
)
def test_bad_settings(settings, name, value, fragment):
    _live(settings, "https://example.invalid")
    setattr(settings, name, value)
    with pytest.raises(
        MarketplaceConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")
    ):
        marketplace_check_config()


def test_live_with_credentials_is_fine(settings):
    _live(settings, "https://api.example.com")
    config = marketplace_check_config()
    assert config.mode == "live"
    assert "oxy-pass" not in repr(config) and "PRD-secret" not in repr(config)


@pytest.mark.parametrize(
    ("provider", "kind"), [("browse", EbayBrowseSearch), ("oxylabs", OxylabsEbaySearch)]
)
async def test_sandbox_mode_builds_the_same_adapters(settings, small_config, provider, kind):
    settings.MARKETPLACE = "sandbox"
    settings.EBAY_PROVIDER = provider
    settings.COLLECTION_HTTP_TIMEOUT = 12.0
    async with marketplace_open(concurrency=7, sandbox_config=small_config) as marketplace:
        assert isinstance(marketplace, Marketplace) and marketplace.name == "sandbox"
        assert isinstance(marketplace.amazon, OxylabsAmazonBestSellers)
        assert isinstance(marketplace.ebay, kind)
        client: httpx.AsyncClient = marketplace.extra["client"]
        assert client.timeout.read == 12.0 and client.timeout.connect == 10.0
        page = await marketplace.amazon.best_sellers(node_id="172282", page=1)
        product = next(p for p in page.products if p.price)
        result = await marketplace.ebay.search_listings(
            ListingQuery(
                product.title, product.price * Decimal("1.8"), product.price * Decimal("2.2")
            )
        )
        assert result.request_url
        app: SandboxApp = marketplace.extra["sandbox_app"]
        assert app.config == small_config
    assert client.is_closed


async def test_sandbox_mode_reads_sandbox_settings(settings):
    settings.MARKETPLACE = "sandbox"
    settings.SANDBOX_SEED = 42
    settings.SANDBOX_HOSTILE = True
    async with marketplace_open(concurrency=2) as marketplace:
        config = marketplace.extra["sandbox_app"].config
    assert config.seed == 42 and config.hostile is True


async def _run_live(concurrency: int = 30) -> tuple[int, int]:
    async with marketplace_open(concurrency=concurrency) as marketplace:
        transport = marketplace.extra["client"]._transport
        assert isinstance(transport, AiohttpTransport)
        assert transport.limits.max_connections == concurrency + 8
        assert marketplace.name == "live"
        page = await marketplace.amazon.best_sellers(node_id="1055398", page=1)
        products = [p for p in page.products if p.price]
        results = await asyncio.gather(
            *(
                marketplace.ebay.search_listings(
                    ListingQuery(p.title, p.price * Decimal("1.8"), p.price * Decimal("2.2"))
                )
                for p in products
            )
        )
        for product, result in zip(products, results, strict=True):
            for listing in result.listings:
                assert (
                    product.price * Decimal("1.8")
                    <= listing.price
                    <= product.price * Decimal("2.2")
                )
        return len(products), sum(len(r.listings) for r in results)


@pytest.mark.parametrize("provider", ["browse", "oxylabs"])
async def test_live_mode_over_a_real_loopback_server(settings, small_config, provider):
    with sandbox_server(small_config.replace(latency_ms=5)) as server:
        _live(settings, server.base_url, ebay_provider=provider)
        products, listings = await _run_live()
        log = server.requests()
    assert products > 3 and listings > 0
    paths = [record.path for record in log]
    if provider == "browse":
        assert paths.count("/identity/v1/oauth2/token") == 1  # one mint for every search
        assert paths.count("/buy/browse/v1/item_summary/search") == products
    else:
        assert paths.count("/v1/queries") == products + 1
    assert all(record.status == 200 for record in log)


async def test_live_mode_matches_in_process_sandbox(settings, small_config):
    """The same adapters return the same data in-process and over HTTP."""
    settings.MARKETPLACE = "sandbox"
    async with marketplace_open(concurrency=4, sandbox_config=small_config) as marketplace:
        local = await marketplace.amazon.best_sellers(node_id="3760911", page=2)
    with sandbox_server(small_config) as server:
        _live(settings, server.base_url)
        async with marketplace_open(concurrency=4) as marketplace:
            remote = await marketplace.amazon.best_sellers(node_id="3760911", page=2)
    assert local.products == remote.products and local.skipped == remote.skipped


async def test_live_timeout_over_http(settings, small_config):
    with sandbox_server(small_config.replace(timeout_rate=1.0, timeout_sleep_s=10)) as server:
        _live(settings, server.base_url)
        async with marketplace_open(concurrency=2, amazon_http_timeout_s=0.3) as marketplace:
            with pytest.raises(RequestTimeout):
                await marketplace.amazon.best_sellers(node_id="172282", page=1)


async def test_live_connection_refused(settings, unused_tcp_port):
    _live(settings, f"http://127.0.0.1:{unused_tcp_port}")
    async with marketplace_open(concurrency=2) as marketplace:
        with pytest.raises(ConnectionFailed) as info:
            await marketplace.amazon.best_sellers(node_id="172282", page=1)
    assert SECRETS["OXYLABS_PASSWORD"] not in str(info.value)
    assert info.value.error_type == "connection"


async def test_live_wrong_credentials_against_pinned_sandbox(settings, small_config):
    pinned = small_config.replace(ebay_client_id="right-id", ebay_client_secret="right-secret")
    with sandbox_server(pinned) as server:
        _live(settings, server.base_url)
        async with marketplace_open(concurrency=2) as marketplace:
            with pytest.raises(Exception) as info:
                await marketplace.ebay.search_listings(
                    ListingQuery("x y z", Decimal(1), Decimal(9))
                )
    assert info.value.error_type == "auth"
    for secret in SECRETS.values():
        assert secret not in str(info.value)


def test_subprocess_server(small_config):
    with sandbox_server(small_config, subprocess=True) as server:
        response = httpx.post(
            f"{server.base_url}/v1/queries",
            auth=("u", "p"),
            json={"source": "amazon_bestsellers", "query": "172282", "parse": True},
        )
        log = server.requests()
    assert response.status_code == 200
    assert [(r.path, r.status) for r in log] == [("/v1/queries", 200)]


def test_management_command_serves_over_http():
    root = Path(__file__).resolve().parents[3]
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "sandbox_marketplace",
            "--port",
            "0",
            "--seed",
            "5",
            "--latency-ms",
            "1",
            "--hostile",
        ],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("Sandbox marketplace listening on http://127.0.0.1:"), line
        base_url = line.split()[4]
        config = httpx.get(f"{base_url}/__sandbox__/config").json()
        assert config["seed"] == 5 and config["hostile"] is True and config["latency_ms"] == 1
        token = httpx.post(
            f"{base_url}/identity/v1/oauth2/token",
            auth=("id", "secret"),
            data={"grant_type": "client_credentials"},
        )
        assert token.status_code == 200
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()
        process.stderr.close()
    assert process.returncode == 0


def test_sandbox_config_from_settings(settings):
    settings.SANDBOX_SEED = 9
    settings.SANDBOX_LATENCY_MS = 12.5
    settings.SANDBOX_ERROR_RATE = 0.1
    config = SandboxConfig.from_settings(jitter_ms=3)
    assert (config.seed, config.latency_ms, config.error_rate, config.jitter_ms) == (
        9,
        12.5,
        0.1,
        3,
    )
