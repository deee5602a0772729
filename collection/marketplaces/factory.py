"""Build the marketplace adapters of a run from settings (the one place that reads them).

    MARKETPLACE=sandbox (default)  the emulator in-process: httpx.ASGITransport over
                                   SandboxApp, fake-but-valid credentials, base URLs
                                   http://sandbox.invalid. No network.
    MARKETPLACE=live               the same adapters over the aiohttp transport
                                   (``transport.BodyTransport``) to
                                   OXYLABS_BASE_URL / EBAY_API_BASE_URL (production, eBay's
                                   sandbox, or `manage.py sandbox_marketplace` on loopback).

    AMAZON_PROVIDER=oxylabs                      → OxylabsAmazonBestSellers
    EBAY_PROVIDER=browse (default) | oxylabs     → EbayBrowseSearch | OxylabsEbaySearch

Usage (the engine)::

    marketplace_check_config()            # before the run starts: MarketplaceConfigError
    async with marketplace_open(concurrency=workers) as marketplace:
        page = await marketplace.amazon.best_sellers(node_id="172282", page=1)
        listings = await marketplace.ebay.search_listings(ListingQuery(...))

One ``httpx.AsyncClient`` (``transport.ApiClient``: no cookie jar) per
``marketplace_open``, shared by both adapters, with
``httpx.Limits`` sized to the concurrency and ``httpx.Timeout`` from
``COLLECTION_HTTP_TIMEOUT`` (Oxylabs calls use ``COLLECTION_AMAZON_HTTP_TIMEOUT``: its
realtime jobs take up to 150 s, for the eBay page as well as for Amazon).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from django.core.exceptions import ImproperlyConfigured

from .base import EbaySource, Marketplace
from .ebay_browse import EbayAppTokens, EbayBrowseSearch
from .oxylabs import OxylabsAmazonBestSellers, OxylabsEbaySearch
from .transport import ApiClient, BodyTransport

SANDBOX_BASE_URL = "http://sandbox.invalid"
USER_AGENT = "SellerScout/0.1"
CONNECT_TIMEOUT_S = 10.0
_DEFAULT = object()


class MarketplaceConfigError(ImproperlyConfigured):
    """The marketplace settings cannot work (missing credentials, unknown provider).

    Raised before a run starts; the message names settings, never their values.
    """


@dataclass(frozen=True, slots=True)
class MarketplaceSettings:
    mode: str
    amazon_provider: str
    ebay_provider: str
    oxylabs_username: str
    oxylabs_password: str
    oxylabs_base_url: str
    ebay_client_id: str
    ebay_client_secret: str
    ebay_api_base_url: str
    ebay_marketplace_id: str
    http_timeout: float
    amazon_http_timeout: float

    def __repr__(self) -> str:  # never print credentials
        return (
            f"MarketplaceSettings(mode={self.mode!r}, amazon={self.amazon_provider!r}, "
            f"ebay={self.ebay_provider!r})"
        )

    @classmethod
    def from_settings(cls) -> MarketplaceSettings:
        from django.conf import settings

        return cls(
            mode=str(settings.MARKETPLACE).strip().lower(),
            amazon_provider=str(settings.AMAZON_PROVIDER).strip().lower(),
            ebay_provider=str(settings.EBAY_PROVIDER).strip().lower(),
            oxylabs_username=settings.OXYLABS_USERNAME,
            oxylabs_password=settings.OXYLABS_PASSWORD,
            oxylabs_base_url=settings.OXYLABS_BASE_URL,
            ebay_client_id=settings.EBAY_CLIENT_ID,
            ebay_client_secret=settings.EBAY_CLIENT_SECRET,
            ebay_api_base_url=settings.EBAY_API_BASE_URL,
            ebay_marketplace_id=settings.EBAY_MARKETPLACE_ID or "EBAY_US",
            http_timeout=float(settings.COLLECTION_HTTP_TIMEOUT),
            amazon_http_timeout=float(settings.COLLECTION_AMAZON_HTTP_TIMEOUT),
        )


def _check_base_url(name: str, url: str, problems: list[str]) -> None:
    try:
        parts = urlsplit(url)
    except ValueError:
        problems.append(f"{name} is not a URL")
        return
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(f"{name} must be an http(s) URL")
    elif "@" in parts.netloc:
        problems.append(
            f"{name} must not contain credentials (use the *_USERNAME/*_PASSWORD "
            "or *_CLIENT_ID/*_CLIENT_SECRET settings)"
        )


def marketplace_check_config(config: MarketplaceSettings | None = None) -> MarketplaceSettings:
    """Validate the marketplace settings; call it before a run starts.

    Raises ``MarketplaceConfigError`` listing every problem (missing credentials in live
    mode, unknown providers, bad base URLs). Returns the settings it checked.
    """
    config = config or MarketplaceSettings.from_settings()
    problems: list[str] = []
    if config.mode not in ("sandbox", "live"):
        problems.append(f"MARKETPLACE must be 'sandbox' or 'live', not {config.mode[:20]!r}")
    if config.amazon_provider != "oxylabs":
        problems.append("AMAZON_PROVIDER must be 'oxylabs'")
    if config.ebay_provider not in ("browse", "oxylabs"):
        problems.append("EBAY_PROVIDER must be 'browse' or 'oxylabs'")
    if config.mode == "live":
        needs_oxylabs = config.amazon_provider == "oxylabs" or config.ebay_provider == "oxylabs"
        if needs_oxylabs:
            missing = [
                name
                for name, value in (
                    ("OXYLABS_USERNAME", config.oxylabs_username),
                    ("OXYLABS_PASSWORD", config.oxylabs_password),
                )
                if not value
            ]
            if missing:
                problems.append(
                    f"MARKETPLACE=live needs {' and '.join(missing)} (Oxylabs API user)"
                )
            _check_base_url("OXYLABS_BASE_URL", config.oxylabs_base_url, problems)
        if config.ebay_provider == "browse":
            missing = [
                name
                for name, value in (
                    ("EBAY_CLIENT_ID", config.ebay_client_id),
                    ("EBAY_CLIENT_SECRET", config.ebay_client_secret),
                )
                if not value
            ]
            if missing:
                problems.append(
                    f"MARKETPLACE=live with EBAY_PROVIDER=browse needs "
                    f"{' and '.join(missing)} (eBay keyset App ID / Cert ID)"
                )
            _check_base_url("EBAY_API_BASE_URL", config.ebay_api_base_url, problems)
    if config.http_timeout <= 0 or config.amazon_http_timeout <= 0:
        problems.append("COLLECTION_HTTP_TIMEOUT and COLLECTION_AMAZON_HTTP_TIMEOUT must be > 0")
    if problems:
        raise MarketplaceConfigError("Marketplace configuration: " + "; ".join(problems) + ".")
    return config


def http_limits(concurrency: int) -> httpx.Limits:
    # A few connections beyond the workers for token mints and quota lookups.
    connections = max(1, concurrency) + 8
    return httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=30.0
    )


def http_timeout(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds, connect=min(CONNECT_TIMEOUT_S, seconds))


def _default_token_cache():
    from django.core.cache import caches

    return caches["default"]


@contextlib.asynccontextmanager
async def marketplace_open(
    *,
    concurrency: int,
    sandbox_config=None,
    sandbox_app=None,
    settings_override: MarketplaceSettings | None = None,
    http_timeout_s: float | None = None,
    amazon_http_timeout_s: float | None = None,
    token_cache=_DEFAULT,
) -> AsyncIterator[Marketplace]:
    """The adapters of one run over one shared HTTP client (closed on exit).

    ``sandbox_config`` (a ``SandboxConfig``) or ``sandbox_app`` (a ``SandboxApp`` whose
    request log a test wants to read) override the SANDBOX_* settings in sandbox mode.
    ``token_cache``: where the eBay token is shared (Django's default cache; None keeps it
    in this marketplace only). The timeouts override the COLLECTION_* settings (tests).
    """
    config = marketplace_check_config(settings_override)
    timeout_s = http_timeout_s or config.http_timeout
    oxylabs_timeout = http_timeout(amazon_http_timeout_s or config.amazon_http_timeout)
    limits = http_limits(concurrency)
    extra: dict = {"sandbox_app": None}

    if config.mode == "sandbox":
        # Imported here: the emulator (its catalogue and word lists) loads only in sandbox
        # mode, never in a process that talks to the real marketplaces.
        from .sandbox import SandboxApp, SandboxConfig, SandboxTransport
        from .sandbox import config as sandbox_defaults

        if sandbox_app is None:
            sandbox_app = SandboxApp(sandbox_config or SandboxConfig.from_settings())
        pinned = sandbox_app.config
        transport: httpx.AsyncBaseTransport = SandboxTransport(
            app=sandbox_app, client=("127.0.0.1", 40000)
        )
        oxylabs_base = ebay_base = SANDBOX_BASE_URL
        oxylabs_user = pinned.oxylabs_username or sandbox_defaults.SANDBOX_OXYLABS_USERNAME
        oxylabs_password = pinned.oxylabs_password or sandbox_defaults.SANDBOX_OXYLABS_PASSWORD
        ebay_id = pinned.ebay_client_id or sandbox_defaults.SANDBOX_EBAY_CLIENT_ID
        ebay_secret = pinned.ebay_client_secret or sandbox_defaults.SANDBOX_EBAY_CLIENT_SECRET
        extra["sandbox_app"] = sandbox_app
    else:
        transport = BodyTransport(limits=limits)
        oxylabs_base, ebay_base = config.oxylabs_base_url, config.ebay_api_base_url
        oxylabs_user, oxylabs_password = config.oxylabs_username, config.oxylabs_password
        ebay_id, ebay_secret = config.ebay_client_id, config.ebay_client_secret

    cache = _default_token_cache() if token_cache is _DEFAULT else token_cache
    async with ApiClient(
        transport=transport,
        timeout=http_timeout(timeout_s),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
        trust_env=False,
    ) as client:
        amazon = OxylabsAmazonBestSellers(
            client=client,
            base_url=oxylabs_base,
            username=oxylabs_user,
            password=oxylabs_password,
            timeout=oxylabs_timeout,
        )
        ebay: EbaySource
        if config.ebay_provider == "oxylabs":
            ebay = OxylabsEbaySearch(
                client=client,
                base_url=oxylabs_base,
                username=oxylabs_user,
                password=oxylabs_password,
                timeout=oxylabs_timeout,
            )
        else:
            tokens = EbayAppTokens(
                client=client,
                base_url=ebay_base,
                client_id=ebay_id,
                client_secret=ebay_secret,
                cache=cache,
            )
            ebay = EbayBrowseSearch(
                client=client,
                base_url=ebay_base,
                tokens=tokens,
                marketplace_id=config.ebay_marketplace_id,
            )
            extra["ebay_tokens"] = tokens
        extra["client"] = client
        yield Marketplace(amazon=amazon, ebay=ebay, name=config.mode, extra=extra)
