"""Builders of marketplace pages and task outcomes, for tests (and bench/ingest.py).

Plain constructors over ``collection.marketplaces.base`` dataclasses; nothing here
touches the database except ``claim_all``.
"""

from __future__ import annotations

from decimal import Decimal

from collection.marketplaces.base import BestSeller, BestSellerPage, Listing, ListingPage
from collection.models import RunTask
from collection.store.tasks import tasks_claim
from collection.store.types import TaskOutcome


def best_seller(
    asin: str,
    *,
    rank: int = 1,
    price="19.99",
    title: str | None = None,
    currency: str = "USD",
    rating="4.50",
    ratings_count: int | None = 100,
    url: str | None = None,
) -> BestSeller:
    return BestSeller(
        asin=asin,
        title=title if title is not None else f"Product {asin}",
        price=None if price is None else Decimal(str(price)),
        currency=currency,
        rating=None if rating is None else Decimal(str(rating)),
        ratings_count=ratings_count,
        rank=rank,
        url=url if url is not None else f"https://www.amazon.com/dp/{asin}",
    )


def best_seller_page(node_id: str, products, *, page: int = 1, skipped: int = 0) -> BestSellerPage:
    return BestSellerPage(node_id=node_id, page=page, products=tuple(products), skipped=skipped)


def listing(
    seller: str,
    *,
    item_id: str = "1",
    price="39.99",
    currency: str = "USD",
    feedback_score: int | None = 100,
    feedback_percent="99.5",
    title: str = "listing",
    url: str = "",
    shipping_cost="0",
    location: str = "US",
    user_id: str = "",
) -> Listing:
    return Listing(
        item_id=item_id,
        title=title,
        price=None if price is None else Decimal(str(price)),
        currency=currency,
        seller_username=seller,
        seller_feedback_score=feedback_score,
        seller_feedback_percent=(
            None if feedback_percent is None else Decimal(str(feedback_percent))
        ),
        url=url or f"https://www.ebay.com/itm/{item_id}",
        shipping_cost=None if shipping_cost is None else Decimal(str(shipping_cost)),
        location=location,
        seller_user_id=user_id,
    )


def listing_page(listings, *, has_next: bool = False, skipped: int = 0) -> ListingPage:
    return ListingPage(listings=tuple(listings), has_next=has_next, skipped=skipped)


TEST_THRESHOLD = 50.0


def done(
    task_id: int,
    page,
    *,
    attempts: int = 1,
    scores=None,
    reference_price=None,
    query: str = "test query",
    follow_up_query: str = "",
) -> TaskOutcome:
    """A DONE outcome carrying a BestSellerPage or a ListingPage; listings are judged
    matches (score 100) unless ``scores`` says otherwise (threshold 50)."""
    if isinstance(page, BestSellerPage):
        return TaskOutcome(
            task_id=task_id, status=RunTask.Status.DONE, attempts=attempts, best_sellers=page
        )
    return TaskOutcome(
        task_id=task_id,
        status=RunTask.Status.DONE,
        attempts=attempts,
        listings=page,
        match_scores=tuple(scores) if scores is not None else (100.0,) * len(page.listings),
        match_threshold=TEST_THRESHOLD,
        query=query,
        reference_price=None if reference_price is None else Decimal(str(reference_price)),
        follow_up_query=follow_up_query,
    )


def failed(
    task_id: int, *, error_type: str = "http_5xx", message: str = "boom", attempts: int = 3
) -> TaskOutcome:
    return TaskOutcome(
        task_id=task_id,
        status=RunTask.Status.FAILED,
        attempts=attempts,
        error_type=error_type,
        error_message=message,
    )


def claim_all(run_id: int, phase: str, *, executor: str = "test:1", lease_seconds: int = 60):
    """Claim every claimable task of a phase (in id order)."""
    return tasks_claim(
        run_id=run_id, phase=phase, executor=executor, limit=100_000, lease_seconds=lease_seconds
    )
