"""Shared pieces of the engine tests: small runs, fast settings, and what a run produced."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings as django_settings

from collection.marketplaces.sandbox import SandboxApp, SandboxConfig
from collection.models import (
    CollectionRun,
    Product,
    RunTask,
    Seller,
    SellerChange,
    SellerSighting,
    SellerSnapshot,
)
from collection.services.lifecycle import categories_resolve, run_create

ROOT = Path(__file__).resolve().parents[2]

# Headphones, Camera & Photo, Kitchen & Dining (from the Sampler preset).
CATEGORIES = ["12097479011", "502394", "284507"]
# A small catalogue: 10 best sellers per page, eBay results of up to 60 listings.
SMALL = dict(best_sellers_per_page=10, best_seller_pages=2, max_listings=60, dropshippers=80)

COUNTERS = (
    "products_found",
    "ebay_searches",
    "sellers_found",
    "sellers_new",
    "sightings",
    "failed_tasks",
    "skipped_records",
)


def fast_settings(settings, **overrides) -> None:
    """Engine settings that keep tests quick (tiny backoff, frequent control polls)."""
    values = dict(
        COLLECTION_RETRY_BASE_DELAY=0.01,
        COLLECTION_RETRY_MAX_DELAY=0.05,
        COLLECTION_HEARTBEAT_SECONDS=0.2,
        COLLECTION_FLUSH_SECONDS=0.05,
        ACTIVITY_FRAME_SECONDS=0.05,
        COLLECTION_RATE_LIMITS={},
        COLLECTION_QUOTAS={},
        MARKETPLACE="sandbox",
    )
    values.update(overrides)
    for name, value in values.items():
        setattr(settings, name, value)


def sandbox(**changes) -> SandboxApp:
    return SandboxApp(SandboxConfig(**{"seed": 7, **SMALL, **changes}))


def make_run(*, node_ids=CATEGORIES, workers=5, amazon_pages=1, ebay_pages=3) -> CollectionRun:
    return run_create(
        categories=categories_resolve(node_ids=node_ids),
        workers=workers,
        amazon_pages=amazon_pages,
        ebay_pages=ebay_pages,
    )


def produced(run_id: int) -> dict:
    """Everything a run wrote that must not depend on timing, order or interruptions."""
    run = CollectionRun.objects.get(pk=run_id)
    snapshot = (
        SellerSnapshot.objects.filter(run_id=run_id)
        .values("total_sellers", "new_sellers", "flagged_sellers", "products_searched")
        .first()
    )
    return {
        "status": run.status,
        "phase": run.phase,
        "counters": {name: getattr(run, name) for name in COUNTERS},
        "tasks": set(RunTask.objects.filter(run_id=run_id).values_list("key", "status")),
        "products": set(Product.objects.values_list("asin", "price")),
        "sellers": set(
            Seller.objects.values_list("normalized", "times_seen", "products_matched", "runs_seen")
        ),
        "sightings": set(
            SellerSighting.objects.filter(run_id=run_id).values_list(
                "seller__normalized", "product__asin", "listing_price"
            )
        ),
        "changes": sorted(
            SellerChange.objects.filter(run_id=run_id).values_list("action", "seller__normalized")
        ),
        "snapshot": snapshot,
    }


def forget_results() -> None:
    """Remove what runs found (not the runs), so the next run starts from an empty table."""
    SellerChange.objects.all().delete()
    Seller.objects.all().delete()
    Product.objects.all().delete()


def manage(*args: str, env_extra: dict | None = None, **kwargs) -> subprocess.Popen:
    """Start ``manage.py`` on the test database (PostgreSQL) in a subprocess."""
    db = django_settings.DATABASES["default"]
    url = (
        f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )
    env = {**os.environ, "DATABASE_URL": url, "PYTHONUNBUFFERED": "1", **(env_extra or {})}
    if "REDIS_URL" not in (env_extra or {}):  # a test may hand it a Redis of its own
        env.pop("REDIS_URL", None)  # events stay in the database; no cross-process layer
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )
