"""Turn a batch of task outcomes into clean, deduplicated rows (pure Python, no database).

Everything from a marketplace is untrusted: strings may hold NUL bytes (PostgreSQL rejects
them), lone surrogates (not encodable as UTF-8) or be megabytes long; numbers may be out
of the columns' range. Each value is cleaned to fit its column; a record that cannot be
stored (no ASIN, no seller name) is skipped and counted, never fails the batch.

Every choice made here is *deterministic whatever the order of the records*, so that a
run's rows do not depend on how its results were split into batches:

- a seller seen several times keeps the smallest username (code-point order) and the
  largest (feedback score, feedback percent) pair;
- a (seller, product) sighting keeps a match over a look-alike, then the lowest listing
  price (a missing price counts as highest), ties broken by the smallest item id, then the
  smallest query;
- a product seen on several pages keeps the record of the first task (by task key), the
  lowest positive price of all its records and the best (lowest) rank per category.

The database side applies the same rules across batches (see ``store.results``).

Past 400 lines: every untrusted field's cleaning and the order-independent dedupe rules
that make a run's rows independent of batching; they are read together.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from collection.models import RunTask
from collection.normalize import seller_key

from .types import ebay_task_asin, ebay_task_key, ebay_task_query_index

logger = logging.getLogger(__name__)

# Column limits (models.py) and sanity caps for unbounded text columns.
ASIN_MAX = 20
TITLE_MAX = 1000  # Product.title is a TextField; a best-seller title is ~200 characters.
URL_MAX = 2000
CURRENCY_MAX = 3
USERNAME_MAX = 255
ITEM_ID_MAX = 100
LISTING_TITLE_MAX = 300
ITEM_URL_MAX = 500
LOCATION_MAX = 64
QUERY_MAX = 300
USER_ID_MAX = 100
ERROR_TYPE_MAX = 32
ERROR_MESSAGE_MAX = 2000
INT_MAX = 2**31 - 1
INT_MIN = -(2**31)
SMALLINT_MAX = 2**15 - 1

_MISSING = object()
_CENT = Decimal("0.01")
_PRICE_LIMIT = Decimal(10) ** 10  # DecimalField(max_digits=12, decimal_places=2)
_RATING_LIMIT = Decimal(10)  # DecimalField(max_digits=3, decimal_places=2)
_PERCENT_LIMIT = Decimal(1000)  # DecimalField(max_digits=5, decimal_places=2)

_DROP_CONTROLS = {0x00: None, 0x1E: None, 0x1F: None}

# Sentinels for "no feedback" when comparing feedback pairs (the SQL uses the same).
FEEDBACK_SCORE_NONE = INT_MIN
FEEDBACK_PERCENT_NONE = Decimal(-1)


def column_text(value, limit: int) -> str:
    """A string that PostgreSQL and SQLite accept, at most ``limit`` characters.

    Unlike ``marketplaces.values.clean_text`` (which the adapters apply to scraped text),
    whitespace and other characters are kept as they are: only what a column cannot hold
    (NUL, the SQL path's array separators, lone surrogates, the excess length) goes.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value)
    if not value.isprintable() and ("\x00" in value or "\x1e" in value or "\x1f" in value):
        # NUL (PostgreSQL rejects it) and the two separators the SQL path encodes arrays
        # with (``_postgres``) never mean anything in scraped text. Bound the work on a
        # huge hostile string first.
        value = value[: limit * 4].translate(_DROP_CONTROLS)
    if len(value) > limit:
        value = value[:limit]
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates
            value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def clean_decimal(value, *, limit: Decimal, allow_negative: bool = False) -> Decimal | None:
    """A Decimal with 2 places strictly inside ±limit, or None."""
    if value is None:
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        if not number.is_finite():
            return None
        number = number.quantize(_CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError, TypeError):
        return None
    if abs(number) >= limit or (number < 0 and not allow_negative):
        return None
    return number


def clean_int(value, *, low: int, high: int) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (ValueError, TypeError, OverflowError):
        return None
    return number if low <= number <= high else None


@dataclass(slots=True)
class MarkRow:
    """How a task row is finished (cleaned from a TaskOutcome)."""

    status: str
    attempts: int
    error_type: str
    error_message: str
    result_count: int


_FINISHED = {str(s) for s in RunTask.FINISHED_STATUSES}


def mark_from_outcome(outcome) -> MarkRow:
    """Clean a TaskOutcome's bookkeeping; an unknown status is a programming error."""
    status = str(outcome.status)
    if status not in _FINISHED:
        raise ValueError(f"task {outcome.task_id}: outcome status {status!r} is not finished")
    result_count = 0
    if status == RunTask.Status.DONE:
        page = outcome.best_sellers if outcome.best_sellers is not None else outcome.listings
        if page is not None:
            records = page.products if outcome.best_sellers is not None else page.listings
            result_count = min(len(records), INT_MAX)
    return MarkRow(
        status=status,
        attempts=max(0, min(int(outcome.attempts or 0), SMALLINT_MAX)),
        error_type=column_text(outcome.error_type, ERROR_TYPE_MAX),
        error_message=column_text(outcome.error_message, ERROR_MESSAGE_MAX),
        result_count=result_count,
    )


@dataclass(slots=True)
class TaskRow:
    """A task this transaction moved from running to finished."""

    id: int
    phase: str
    key: str
    page: int
    category_id: int | None
    product_id: int | None
    query: str = ""


@dataclass(slots=True)
class ProductRow:
    asin: str
    title: str
    price: Decimal | None
    currency: str
    rating: Decimal | None
    ratings_count: int | None
    url: str
    needs_search: bool = False  # some record had a usable price > 0 → eBay page-1 task


@dataclass(slots=True)
class SellerRow:
    key: str
    username: str
    feedback_score: int | None
    feedback_percent: Decimal | None
    user_id: str = ""


@dataclass(slots=True)
class SightingRow:
    """One (seller, product) sighting of a run, with what the listing was."""

    key: str  # seller key
    product_id: int
    item_id: str
    price: Decimal | None
    currency: str
    title: str = ""
    url: str = ""
    shipping_cost: Decimal | None = None
    location: str = ""
    query: str = ""
    match_score: float | None = None
    is_match: bool = False
    price_ratio: float | None = None

    def rank(self) -> tuple:
        """Smaller wins (see the module docstring)."""
        return (
            not self.is_match,
            self.price is None,
            self.price if self.price is not None else Decimal(0),
            self.item_id,
            self.query,
        )


@dataclass(slots=True)
class NextTask:
    key: str
    product_id: int
    page: int
    query: str = ""


@dataclass(slots=True)
class PreparedBatch:
    products: dict[str, ProductRow] = field(default_factory=dict)  # by ASIN
    # (asin, category id) → best rank
    links: dict[tuple[str, int], int | None] = field(default_factory=dict)
    sellers: dict[str, SellerRow] = field(default_factory=dict)  # by key
    sightings: dict[tuple[str, int], SightingRow] = field(default_factory=dict)
    next_tasks: list[NextTask] = field(default_factory=list)
    seller_occurrences: int = 0
    skipped: int = 0
    amazon_done: int = 0
    ebay_done: int = 0
    # Per-batch memos of cleaned values (bounded by the batch, dropped with it).
    memo_prices: dict = field(default_factory=dict)
    memo_percents: dict = field(default_factory=dict)
    memo_currencies: dict = field(default_factory=dict)

    def sorted_products(self) -> list[ProductRow]:
        return [self.products[asin] for asin in sorted(self.products)]

    def sorted_sellers(self) -> list[SellerRow]:
        return [self.sellers[key] for key in sorted(self.sellers)]


def _feedback_rank(score: int | None, percent: Decimal | None) -> tuple[int, Decimal]:
    return (
        FEEDBACK_SCORE_NONE if score is None else score,
        FEEDBACK_PERCENT_NONE if percent is None else percent,
    )


def prepare_batch(*, tasks: list[TaskRow], outcomes: dict, ebay_pages: int) -> PreparedBatch:
    """Clean and dedupe the pages of the DONE tasks in ``tasks`` (ordered by key)."""
    batch = PreparedBatch()
    for task in sorted(tasks, key=lambda t: t.key):
        outcome = outcomes[task.id]
        if outcome.status != RunTask.Status.DONE:
            continue
        if task.phase == RunTask.Phase.AMAZON and outcome.best_sellers is not None:
            batch.amazon_done += 1
            _prepare_best_sellers(batch, task, outcome.best_sellers)
        elif task.phase == RunTask.Phase.EBAY:
            batch.ebay_done += 1
            if outcome.listings is not None:
                _prepare_listings(batch, task, outcome, ebay_pages)
    return batch


def _prepare_best_sellers(batch: PreparedBatch, task: TaskRow, page) -> None:
    batch.skipped += max(int(page.skipped or 0), 0)
    for record in page.products:
        try:
            asin = column_text(record.asin, 64).strip().upper()
            if not asin or len(asin) > ASIN_MAX:
                batch.skipped += 1
                continue
            price = clean_decimal(record.price, limit=_PRICE_LIMIT)
            row = batch.products.get(asin)
            if row is None:
                row = ProductRow(
                    asin=asin,
                    title=column_text(record.title, TITLE_MAX).strip(),
                    price=price,
                    currency=column_text(record.currency, CURRENCY_MAX).strip().upper(),
                    rating=clean_decimal(record.rating, limit=_RATING_LIMIT),
                    ratings_count=clean_int(record.ratings_count, low=0, high=INT_MAX),
                    url=column_text(record.url, URL_MAX).strip(),
                )
                batch.products[asin] = row
            if price is not None and price > 0:
                row.needs_search = True
                if row.price is None or row.price <= 0 or price < row.price:
                    row.price = price  # the lowest positive price, whatever the order
            if task.category_id is not None:
                rank = clean_int(record.rank, low=1, high=INT_MAX)
                link = (asin, task.category_id)
                if link not in batch.links:
                    batch.links[link] = rank
                elif rank is not None:
                    old = batch.links[link]
                    batch.links[link] = rank if old is None else min(old, rank)
        except Exception:  # noqa: BLE001 - one hostile record never fails a batch
            logger.debug("skipped a best seller of task %s", task.key, exc_info=True)
            batch.skipped += 1


# Cleaned seller names across batches (raw → (username, key)): a run's sellers recur in
# many batches (a dropshipper lists many best sellers), and a batch sees most names once.
# Bounded: emptied when full. Only plain str keys; values depend on nothing else.
_NAMES_MAX = 200_000
_names: dict[str, tuple[str, str]] = {}


def _clean_name(raw) -> tuple[str, str]:
    """(username, key) of a raw seller name; ('', '') when nothing is left of it."""
    if raw.__class__ is str:
        cleaned = _names.get(raw)
        if cleaned is not None:
            return cleaned
        if len(raw) <= USERNAME_MAX and raw.isascii() and raw.isprintable():
            # What column_text does to a short printable ASCII name, without the call.
            username = raw.strip()
            cleaned = (username, seller_key(username))
        else:
            username = column_text(raw, USERNAME_MAX).strip()
            cleaned = (username, seller_key(username)[:USERNAME_MAX] if username else "")
        if len(_names) >= _NAMES_MAX:
            _names.clear()
        _names[raw] = cleaned
        return cleaned
    username = column_text(raw, USERNAME_MAX).strip()
    return (username, seller_key(username)[:USERNAME_MAX] if username else "")


def _plain(value, limit: int) -> str:
    """``column_text(value, limit).strip()``, with the common case (short printable ASCII)
    taken without the call."""
    if value.__class__ is str and len(value) <= limit and value.isascii() and value.isprintable():
        return value.strip()
    return column_text(value, limit).strip()


def _memo_decimal(memo: dict, raw, limit: Decimal) -> Decimal | None:
    """``clean_decimal`` of a value that repeats across a batch, cleaned once."""
    try:
        return memo[raw]
    except KeyError:
        value = memo[raw] = clean_decimal(raw, limit=limit)
        return value
    except TypeError:  # unhashable, or a signalling NaN: no memo for it
        return clean_decimal(raw, limit=limit)


def _prepare_listings(batch: PreparedBatch, task: TaskRow, outcome, ebay_pages: int) -> None:
    page = outcome.listings
    batch.skipped += max(int(page.skipped or 0), 0)
    if task.product_id is None:  # the product was deleted since the task was planned
        batch.skipped += len(page.listings)
        return
    asin = ebay_task_asin(task.key)
    index = ebay_task_query_index(task.key)
    query = column_text(outcome.query or task.query, QUERY_MAX)
    if page.has_next and task.page < ebay_pages:
        batch.next_tasks.append(
            NextTask(
                key=ebay_task_key(asin, task.page + 1, index),
                product_id=task.product_id,
                page=task.page + 1,
                query=query,
            )
        )
    follow_up = column_text(outcome.follow_up_query, QUERY_MAX).strip()
    if follow_up and task.page == 1:
        batch.next_tasks.append(
            NextTask(
                key=ebay_task_key(asin, 1, index + 1),
                product_id=task.product_id,
                page=1,
                query=follow_up,
            )
        )
    scores = outcome.match_scores
    if len(scores) != len(page.listings):  # not judged (an old caller): all look-alikes
        scores = (None,) * len(page.listings)
    threshold = outcome.match_threshold
    reference = outcome.reference_price
    if reference is not None and not (reference.is_finite() and reference > 0):
        reference = None
    product_id = task.product_id
    sellers, sightings = batch.sellers, batch.sightings
    prices, percents, currencies = (
        batch.memo_prices,
        batch.memo_percents,
        batch.memo_currencies,
    )
    occurrences = 0
    for listing, score in zip(page.listings, scores, strict=True):
        try:
            # Sellers, prices and currencies repeat: clean each value once.
            username, key = _clean_name(listing.seller_username)
            if not key:
                batch.skipped += 1
                continue
            occurrences += 1
            feedback = listing.seller_feedback_score
            if feedback is not None and not (
                feedback.__class__ is int and INT_MIN <= feedback <= INT_MAX
            ):
                feedback = clean_int(feedback, low=INT_MIN, high=INT_MAX)
            raw = listing.seller_feedback_percent
            try:
                percent = percents[raw]
            except (KeyError, TypeError):
                percent = _memo_decimal(percents, raw, _PERCENT_LIMIT)
            user_id = listing.seller_user_id
            if user_id:
                user_id = column_text(user_id, USER_ID_MAX).strip()
            seller = sellers.get(key)
            if seller is None:
                sellers[key] = SellerRow(key, username, feedback, percent, user_id)
            else:
                if user_id > seller.user_id:
                    seller.user_id = user_id
                if username < seller.username:
                    seller.username = username
                if (
                    (feedback is not None or percent is not None)
                    and (feedback != seller.feedback_score or percent != seller.feedback_percent)
                    and _feedback_rank(feedback, percent)
                    > _feedback_rank(seller.feedback_score, seller.feedback_percent)
                ):
                    seller.feedback_score, seller.feedback_percent = feedback, percent
            raw = listing.item_id
            if raw.__class__ is str and len(raw) <= ITEM_ID_MAX and raw.isprintable():
                item_id = raw.strip()
            else:
                item_id = column_text(raw, ITEM_ID_MAX).strip()
            raw = listing.price
            try:
                price = prices[raw]
            except (KeyError, TypeError):
                price = _memo_decimal(prices, raw, _PRICE_LIMIT)
            raw = listing.currency
            currency = currencies.get(raw)
            if currency is None:
                currency = currencies[raw] = column_text(raw, CURRENCY_MAX).strip().upper()
            is_match = score is not None and score >= threshold
            row = SightingRow(
                key,
                product_id,
                item_id,
                price,
                currency,
                query=query,
                match_score=None if score is None else round(float(score), 2),
                is_match=is_match,
            )
            old = sightings.get((key, product_id))
            if old is None or row.rank() < old.rank():
                _listing_evidence(row, listing, reference)
                sightings[(key, product_id)] = row
        except Exception:  # noqa: BLE001 - one hostile record never fails a batch
            logger.debug("skipped a listing of task %s", task.key, exc_info=True)
            batch.skipped += 1
    batch.seller_occurrences += occurrences


_USD = ("USD", "")


def _listing_evidence(row: SightingRow, listing, reference: Decimal | None) -> None:
    """Fill what the listing was (only for the sighting that wins its (seller, product))."""
    row.title = _plain(listing.title, LISTING_TITLE_MAX * 4)[:LISTING_TITLE_MAX]
    url = _plain(listing.url, ITEM_URL_MAX)
    row.url = url if url.startswith(("https://", "http://")) else ""
    shipping = listing.shipping_cost
    row.shipping_cost = None if shipping is None else clean_decimal(shipping, limit=_PRICE_LIMIT)
    row.location = _plain(listing.location, LOCATION_MAX)
    if reference is not None and row.price is not None and row.currency in _USD:
        row.price_ratio = round(float(row.price / reference), 4)
