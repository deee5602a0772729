"""The two phases of a run as tasks for the engine: one claimed task → one adapter call.

- Amazon task (``amazon:{node_id}:{page}``) → ``marketplace.amazon.best_sellers``.
- eBay task (``ebay:{asin}:{page}``, and ``…:q{n}`` for the n-th query) →
  ``marketplace.ebay.search_listings`` with a short query built from the product title
  (``collection.matching``) and the run's markup band turned into an absolute price band:
  ``[P × (1 + min % / 100), P × (1 + max % / 100)]``, in cents (the low end rounded up and
  the high end down, so every listing in the band really has at least the minimum markup).
  Every listing that comes back is judged against the product title (a match counts, a
  look-alike is kept as evidence only); when the first query finds too few matches, the
  outcome names the next query, which the store plans as one more task (at most
  ``ebay_queries`` calls per product page).

The engine owns retries and pacing; this module only knows what to ask and how to turn
the answer into a ``TaskOutcome`` for the store. It does no I/O besides the adapter call.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from collection.marketplaces.base import (
    BestSellerPage,
    ListingPage,
    ListingQuery,
    Marketplace,
)
from collection.matching import (
    MATCH_THRESHOLD,
    TOO_LITTLE,
    listing_match,
    page_context,
    product_terms,
    search_queries,
)
from collection.models import RunTask
from collection.store import ClaimedTask, TaskOutcome
from collection.store.types import ebay_task_query_index

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
# Event fields carry at most this much of a (scraped, untrusted) title.
EVENT_TITLE_CHARS = 120


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What the pipeline needs from the run row (read once when the engine starts)."""

    markup_min_percent: Decimal
    markup_max_percent: Decimal
    category_names: Mapping[str, str] = field(default_factory=dict)  # node_id → name
    ebay_queries: int = 2  # eBay calls per product page at most


class NotFetchable(Exception):
    """The task cannot become a request (e.g. a product without a usable price)."""


def price_band(
    *, price: Decimal, markup_min_percent: Decimal, markup_max_percent: Decimal
) -> tuple[Decimal, Decimal]:
    """The absolute eBay price band for an Amazon price and a markup band in percent."""
    low = (price * (1 + Decimal(markup_min_percent) / HUNDRED)).quantize(CENT, ROUND_CEILING)
    high = (price * (1 + Decimal(markup_max_percent) / HUNDRED)).quantize(CENT, ROUND_FLOOR)
    return low, max(low, high)


@functools.lru_cache(maxsize=256)
def product_queries(title: str, limit: int) -> tuple[str, ...]:
    """The eBay queries of a product title (memoised: events, the request URL and the
    fetch each ask for the task's query, within a few tasks of each other; 256 covers the
    tasks claimed ahead and in flight, and the memo does not grow with the run)."""
    return search_queries(title, limit=limit)


def task_search_query(task: ClaimedTask, options: RunOptions) -> str:
    """The query a task sends: the one planned on the task row, else (a task planned
    before queries were stored) the one its key's position names."""
    if task.query:
        return task.query
    index = ebay_task_query_index(task.key)
    queries = product_queries(task.title or "", max(options.ebay_queries, index + 1))
    if index >= len(queries):
        raise NotFetchable("no eBay query can be built from the product title")
    return queries[index]


def listing_query(task: ClaimedTask, options: RunOptions) -> ListingQuery:
    if task.price is None or task.price <= 0 or not (task.title or "").strip():
        raise NotFetchable("the product has no usable price or title")
    low, high = price_band(
        price=task.price,
        markup_min_percent=options.markup_min_percent,
        markup_max_percent=options.markup_max_percent,
    )
    return ListingQuery(
        keywords=task_search_query(task, options),
        price_min=low,
        price_max=high,
        page=task.page,
    )


def task_provider(task: ClaimedTask, marketplace: Marketplace) -> str:
    """The provider a task's request goes to (the rate-limit and Retry-After bucket)."""
    source = marketplace.amazon if task.phase == RunTask.Phase.AMAZON else marketplace.ebay
    return getattr(source, "provider", "") or task.phase


async def task_fetch(
    task: ClaimedTask, *, marketplace: Marketplace, options: RunOptions
) -> BestSellerPage | ListingPage:
    """Perform the task's one request. Raises ``MarketplaceError`` or ``NotFetchable``."""
    if task.phase == RunTask.Phase.AMAZON:
        if not task.node_id:
            raise NotFetchable("the task has no category")
        return await marketplace.amazon.best_sellers(node_id=task.node_id, page=task.page)
    return await marketplace.ebay.search_listings(listing_query(task, options))


def outcome_done(
    task: ClaimedTask,
    result: BestSellerPage | ListingPage,
    *,
    attempts: int,
    options: RunOptions,
) -> TaskOutcome:
    if isinstance(result, BestSellerPage):
        return TaskOutcome(
            task_id=task.id, status=RunTask.Status.DONE, attempts=attempts, best_sellers=result
        )
    terms = product_terms(task.title or "")
    # The page is a sample of the product's kind: words many other products' listings on
    # it share are no evidence that a listing copies this one.
    titles = [listing.title for listing in result.listings]
    context = page_context(terms, titles)
    scores = tuple(listing_match(terms, title, context=context) for title in titles)
    query = task_search_query(task, options)
    follow_up = ""
    index = ebay_task_query_index(task.key)
    if (
        task.page == 1
        and index + 1 < options.ebay_queries
        and sum(score >= MATCH_THRESHOLD for score in scores) < TOO_LITTLE
    ):
        queries = product_queries(task.title or "", options.ebay_queries)
        if index + 1 < len(queries):
            follow_up = queries[index + 1]
    return TaskOutcome(
        task_id=task.id,
        status=RunTask.Status.DONE,
        attempts=attempts,
        listings=result,
        match_scores=scores,
        match_threshold=MATCH_THRESHOLD,
        query=query,
        reference_price=task.price,
        follow_up_query=follow_up,
    )


def outcome_failed(
    task: ClaimedTask, *, error_type: str, message: str, attempts: int
) -> TaskOutcome:
    return TaskOutcome(
        task_id=task.id,
        status=RunTask.Status.FAILED,
        attempts=attempts,
        error_type=error_type,
        error_message=message[:2000],
    )


def outcome_skipped(task: ClaimedTask, *, reason: str) -> TaskOutcome:
    return TaskOutcome(
        task_id=task.id,
        status=RunTask.Status.SKIPPED,
        attempts=task.attempts,
        error_type="not_fetchable",
        error_message=reason,
    )


def _short(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= EVENT_TITLE_CHARS else text[: EVENT_TITLE_CHARS - 1] + "…"


def task_event_fields(task: ClaimedTask, options: RunOptions) -> dict:
    """Plain-JSON fields describing a task for ``fetching`` and ``error`` events."""
    if task.phase == RunTask.Phase.AMAZON:
        return {
            "page": task.page,
            "category": options.category_names.get(task.node_id or "", task.node_id or ""),
            "params": {"node_id": task.node_id, "page": task.page},
        }
    fields: dict = {"page": task.page, "product": _short(task.title), "asin": task.asin}
    if task.price is not None and task.price > 0:
        low, high = price_band(
            price=task.price,
            markup_min_percent=options.markup_min_percent,
            markup_max_percent=options.markup_max_percent,
        )
        try:
            keywords = task_search_query(task, options)
        except NotFetchable:
            keywords = ""
        fields["params"] = {
            "keywords": _short(keywords),
            "price_min": str(low),
            "price_max": str(high),
            "page": task.page,
        }
    return fields


def result_event_fields(result: BestSellerPage | ListingPage) -> dict:
    """Plain-JSON fields for a ``found`` event."""
    if isinstance(result, BestSellerPage):
        return {
            "count": len(result.products),
            "skipped": result.skipped,
            "has_next": None,
            "url": result.request_url,
        }
    return {
        "count": len(result.listings),
        "skipped": result.skipped,
        "has_next": result.has_next,
        "url": result.request_url,
    }
