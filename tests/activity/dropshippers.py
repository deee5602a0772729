"""Rows for the operator pages' tests: sellers with sightings as the store would leave them
(the tests create them directly; the store fills the same fields)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from collection.models import (
    Category,
    CollectionRun,
    Product,
    ProductCategory,
    Seller,
    SellerSighting,
)
from collection.normalize import seller_key
from collection.services.lifecycle import run_create

HOSTILE_SELLER = '<script>alert("seller")</script>deal"><img src=x onerror=alert(2)>'
HOSTILE_TITLE = "Lamp <img src=x onerror=alert(1)> <script>window.__pwned=1</script>"
JAVASCRIPT_URL = "javascript:alert(5)"


def category(node_id: str = "172282", name: str = "Electronics", department: str = "Electronics"):
    found, _ = Category.objects.get_or_create(
        node_id=node_id, defaults={"name": name, "department": department}
    )
    return found


def run(*, categories=None, status: str = "completed") -> CollectionRun:
    made = run_create(categories=categories or [category()], workers=2)
    now = timezone.now()
    CollectionRun.objects.filter(pk=made.pk).update(
        status=status,
        started_at=now - dt.timedelta(minutes=5),
        finished_at=now if status == "completed" else None,
        phase="done" if status == "completed" else "ebay",
    )
    return CollectionRun.objects.get(pk=made.pk)


def product(asin: str, *, price: str = "20.00", title: str | None = None, in_category=None):
    made = Product.objects.create(
        asin=asin, title=title or f"Best seller {asin}", price=Decimal(price)
    )
    if in_category is not None:
        ProductCategory.objects.create(product=made, category=in_category, rank=1)
    return made


def seller(
    username: str,
    *,
    score: float = 0.0,
    products_matched: int = 0,
    median_price_ratio: float | None = None,
    feedback_score: int | None = 100,
    flagged: bool = False,
    first_seen_run=None,
    **extra,
) -> Seller:
    now = timezone.now()
    return Seller.objects.create(
        username=username,
        normalized=seller_key(username),
        score=score,
        products_matched=products_matched,
        median_price_ratio=median_price_ratio,
        feedback_score=feedback_score,
        feedback_percent=Decimal("99.1"),
        flagged=flagged,
        first_seen_run=first_seen_run,
        first_seen_at=now - dt.timedelta(days=3),
        last_seen_at=now,
        runs_seen=1,
        **extra,
    )


def sighting(
    *,
    seller,
    product,
    run,
    item_id: str = "",
    price: str | None = None,
    ratio: float | None = 1.9,
    match_score: float = 92.0,
    is_match: bool = True,
    title: str | None = None,
    item_url: str = "",
    **extra,
) -> SellerSighting:
    if price is None and ratio is not None and product.price is not None:
        price = str((product.price * Decimal(str(ratio))).quantize(Decimal("0.01")))
    return SellerSighting.objects.create(
        seller=seller,
        product=product,
        run=run,
        item_id=item_id or f"{seller.pk}{product.pk}{run.pk}",
        listing_price=Decimal(price) if price is not None else None,
        currency="USD",
        title=title if title is not None else f"Copy of {product.title}",
        item_url=item_url,
        match_score=match_score,
        is_match=is_match,
        price_ratio=ratio,
        **{"shipping_cost": Decimal(0), "location": "US", **extra},
    )
