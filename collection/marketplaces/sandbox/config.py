"""The sandbox marketplace's knobs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

# Fake-but-valid credentials the factory uses in sandbox mode (the emulator accepts any
# non-empty credentials unless a config pins them).
SANDBOX_OXYLABS_USERNAME = "sandbox-oxylabs-user"
SANDBOX_OXYLABS_PASSWORD = "sandbox-oxylabs-password"
SANDBOX_EBAY_CLIENT_ID = "SandboxS-SellerSc-SBX-0000000000-00000000"
SANDBOX_EBAY_CLIENT_SECRET = "SBX-0000000000000-0000-0000-0000-0000"


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Everything that changes what the emulator answers.

    Catalogue fields (``seed``, ``hostile``, sizes) decide the data: the same values give
    byte-identical responses whatever the request order. Fault fields decide, through a
    RNG seeded from ``seed``, which requests fail; a given config and request sequence
    fails the same way every time.
    """

    seed: int = 1
    # Latency added to every API response: latency_ms ± jitter_ms (uniform, never < 0).
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    # Requests per second per provider (oxylabs, ebay-oauth, ebay-browse, ebay-analytics)
    # before 429 with Retry-After. 0 = unlimited.
    rate_limit_rps: float = 0.0
    error_rate: float = 0.0  # transient 5xx (Oxylabs 500/502/503/524/612/613, eBay 500/503)
    # A storm of throttling whatever the request rate: 429 with Retry-After: retry_after_s.
    rate_limited_rate: float = 0.0
    retry_after_s: int = 1
    timeout_rate: float = 0.0  # the response is held for timeout_sleep_s
    timeout_sleep_s: float = 200.0  # past every client timeout (Oxylabs' is 165 s)
    malformed_rate: float = 0.0  # truncated JSON, HTML for JSON, captcha or empty pages
    hostile: bool = False  # markup, look-alike sellers, absurd prices, 100 KB titles, NUL
    # Browse daily call quota (0 = unlimited) over a day of day_seconds (a fast clock for
    # tests): past it, 429 errorId 2001 without Retry-After.
    daily_quota: int = 0
    day_seconds: float = 86400.0
    # Where day 0 starts, in epoch seconds. None: when the app starts; 0.0: days
    # aligned on the Unix epoch, like COLLECTION_QUOTA_WINDOW_SECONDS (collection.quota_windows).
    quota_epoch: float | None = None
    token_ttl_s: int = 7200
    # Catalogue sizes (small values keep tests fast).
    best_sellers_per_page: int = 50
    best_seller_pages: int = 2
    dropshippers: int = 300
    max_listings: int = 150  # the most listings that pass the dropshipper filters
    request_log_size: int = 10_000
    # None: accept any non-empty credentials. A string: require exactly it.
    oxylabs_username: str | None = None
    oxylabs_password: str | None = None
    ebay_client_id: str | None = None
    ebay_client_secret: str | None = None

    @classmethod
    def from_settings(cls, **overrides) -> SandboxConfig:
        """Defaults from the SANDBOX_* settings, then ``overrides``."""
        from django.conf import settings

        values = {
            "seed": settings.SANDBOX_SEED,
            "latency_ms": settings.SANDBOX_LATENCY_MS,
            "jitter_ms": settings.SANDBOX_LATENCY_JITTER_MS,
            "rate_limit_rps": settings.SANDBOX_RATE_LIMIT_RPS,
            "error_rate": settings.SANDBOX_ERROR_RATE,
            "timeout_rate": settings.SANDBOX_TIMEOUT_RATE,
            "malformed_rate": settings.SANDBOX_MALFORMED_RATE,
            "hostile": settings.SANDBOX_HOSTILE,
            # Not (yet) in config/settings.py: read when present.
            "daily_quota": getattr(settings, "SANDBOX_DAILY_QUOTA", 0),
            "day_seconds": getattr(settings, "SANDBOX_DAY_SECONDS", 86400.0),
            "quota_epoch": 0.0,  # days on the epoch, like the quota windows
            "timeout_sleep_s": getattr(settings, "SANDBOX_TIMEOUT_SLEEP_S", 200.0),
        }
        values.update(overrides)
        return cls(**values)

    def replace(self, **changes) -> SandboxConfig:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)
