"""Builders of marketplace pages and task outcomes, for tests and benchmarks.

Plain constructors over ``collection.marketplaces.base`` dataclasses; nothing here
touches the database except ``claim_all``.
"""

from __future__ import annotations

from decimal import Decimal

from collection.marketplaces.base import BestSeller, BestSellerPage, Listing, ListingPage
from collection.models import RunTask

from .types import TaskOutcome


def best_seller(asin: str, *, rank: int = 1, price="19.99", title: str | None = None,
                currency: str = "USD", rating="4.50", ratings_count: int | None = 100,
                url: str | None = None) -> BestSeller:
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


def listing(seller: str, *, item_id: str = "1", price="39.99", currency: str = "USD",
            feedback_score: int | None = 100, feedback_percent="99.5",
            title: str = "listing") -> Listing:
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
    )


def listing_page(listings, *, has_next: bool = False, skipped: int = 0) -> ListingPage:
    return ListingPage(listings=tuple(listings), has_next=has_next, skipped=skipped)


def done(task_id: int, page, *, attempts: int = 1) -> TaskOutcome:
    """A DONE outcome carrying a BestSellerPage or a ListingPage."""
    if isinstance(page, BestSellerPage):
        return TaskOutcome(task_id=task_id, status=RunTask.Status.DONE, attempts=attempts,
                           best_sellers=page)
    return TaskOutcome(task_id=task_id, status=RunTask.Status.DONE, attempts=attempts,
                       listings=page)


def failed(task_id: int, *, error_type: str = "http_5xx", message: str = "boom",
           attempts: int = 3) -> TaskOutcome:
    return TaskOutcome(task_id=task_id, status=RunTask.Status.FAILED, attempts=attempts,
                       error_type=error_type, error_message=message)


def claim_all(run_id: int, phase: str, *, executor: str = "test:1", lease_seconds: int = 60):
    """Claim every claimable task of a phase (in id order)."""
    from .tasks import tasks_claim

    return tasks_claim(run_id=run_id, phase=phase, executor=executor, limit=100_000,
                       lease_seconds=lease_seconds)
