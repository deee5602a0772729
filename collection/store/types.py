"""The plain data the engine and the store exchange (no ORM objects cross this line)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from collection.marketplaces.base import BestSellerPage, ListingPage


@dataclass(slots=True)
class ClaimedTask:
    """A leased task: everything a worker needs to fetch it."""

    id: int
    key: str
    phase: str
    page: int
    attempts: int
    node_id: str | None = None  # amazon
    product_id: int | None = None  # ebay
    asin: str | None = None
    title: str | None = None
    price: Decimal | None = None
    query: str = ""  # ebay: the query this task sends ('' on tasks planned before queries)


@dataclass(slots=True)
class TaskOutcome:
    """How a claimed task ended, with the page it fetched when it is DONE."""

    task_id: int
    status: str  # RunTask.Status.DONE | FAILED | SKIPPED
    attempts: int
    best_sellers: BestSellerPage | None = None  # amazon DONE
    listings: ListingPage | None = None  # ebay DONE
    error_type: str = ""
    error_message: str = ""
    # ebay DONE: how each listing was judged against the product (aligned with
    # ``listings.listings``), the query sent, the Amazon price the band came from, and the
    # query to send next when this one found too little ('' = none).
    match_scores: tuple[float, ...] = ()
    match_threshold: float = 0.0
    query: str = ""
    reference_price: Decimal | None = None
    follow_up_query: str = ""


@dataclass(slots=True)
class BatchResult:
    """Plain counts of what one ``results_store`` call committed (for events and stats).

    Only outcomes of tasks this call actually moved from running to finished count;
    a duplicate delivery of a finished task contributes nothing (``tasks_ignored``).
    """

    tasks_done: int = 0  # done + skipped
    tasks_failed: int = 0
    products_upserted: int = 0  # distinct products written
    sellers_seen: int = 0  # distinct sellers (normalized) in the batch
    sellers_new: int = 0  # sellers created (one `added` change each)
    sellers_deduped: int = 0  # seller occurrences folded into an existing or same-batch seller
    sightings_new: int = 0
    skipped_records: int = 0  # bad records dropped (by the parser or by the store)
    ebay_tasks_created: int = 0
    new_seller_names: list[str] = field(default_factory=list)  # first 20 by key, for events
    tasks_ignored: int = 0  # outcomes of tasks that were not running (already finished)
    sellers_found: int = 0  # sellers seen in this run for the first time (run counter delta)
    products_found: int = 0  # products seen in this run for the first time (run counter delta)


def ebay_task_key(asin: str, page: int, query_index: int = 0) -> str:
    """``ebay:{asin}:{page}`` for a product's first query, ``…:q{n}`` for the n-th (n ≥ 2)."""
    key = f"ebay:{asin}:{page}"
    return key if query_index == 0 else f"{key}:q{query_index + 1}"


def ebay_task_query_index(key: str) -> int:
    """Which of the product's queries (0-based) an eBay task key sends."""
    last = key.rsplit(":", 1)[-1]
    if last[:1] == "q" and last[1:].isdigit():
        return max(int(last[1:]) - 1, 0)
    return 0


def ebay_task_asin(key: str) -> str:
    """The ASIN of an eBay task key (parsed from the right: the ASIN is whatever is left)."""
    if ebay_task_query_index(key) or key.endswith(":q1"):
        key = key.rsplit(":", 1)[0]
    return key.rsplit(":", 1)[0].removeprefix("ebay:")
