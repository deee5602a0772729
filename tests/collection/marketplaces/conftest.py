"""Fixtures for the marketplace adapter and sandbox tests (no database needed)."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from collection.marketplaces.sandbox import SandboxApp, SandboxConfig

# Small catalogue sizes keep the suite fast; the shapes are the same as the defaults.
SMALL = SandboxConfig(
    seed=7, best_sellers_per_page=12, best_seller_pages=2, dropshippers=60, max_listings=120
)


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    """The eBay token is shared through Django's cache: every test starts without one."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def small_config() -> SandboxConfig:
    return SMALL


@pytest.fixture
def sandbox_app(small_config) -> SandboxApp:
    return SandboxApp(small_config)
