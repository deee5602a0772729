"""The marketplace interface the pipeline talks to.

Two questions are asked of the outside world, each answered by one adapter:

- ``AmazonSource.best_sellers(node_id=..., page=...)`` → ``BestSellerPage``
- ``EbaySource.search_listings(query)`` → ``ListingPage``

Adapters perform exactly one logical request per call and never retry: retries, backoff
and rate limiting live in the engine (one layer only). What goes wrong is raised as a
``MarketplaceError`` subclass whose ``error_type`` the engine uses to decide:

    MarketplaceError                     error_type     engine decision
    ├── RateLimited                      rate_limited   wait retry_after (or backoff), retry
    ├── QuotaExhausted                   quota          pause the run until reset_at
    ├── TransientError                                  backoff, retry
    │   ├── RequestTimeout               timeout
    │   ├── ConnectionFailed             connection
    │   └── ServerError                  http_5xx
    ├── AuthFailed                       auth           fail the run at once
    ├── ClientError                      http_4xx       fail the task
    ├── ParseError                       parse_error    fail the task
    └── CaptchaError                     captcha        fail the task (retryable later)

Messages never contain credentials: adapters build them from status codes, error ids
and redacted URLs only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple, Protocol, TypedDict, Unpack


@dataclass(frozen=True, slots=True)
class BestSeller:
    asin: str
    title: str
    price: Decimal | None  # None when missing, zero, negative or unparseable
    currency: str
    rating: Decimal | None
    ratings_count: int | None
    rank: int
    url: str


@dataclass(frozen=True, slots=True)
class BestSellerPage:
    node_id: str
    page: int
    products: tuple[BestSeller, ...]
    skipped: int = 0  # malformed records dropped while parsing
    request_url: str = ""  # redacted, safe to store and show


@dataclass(frozen=True, slots=True)
class ListingQuery:
    """One page of the dropshipper search for one product.

    The fixed filters (brand new, free shipping, located in the US) are implied; the
    price band is absolute (already multiplied out from the markup band).
    """

    keywords: str
    price_min: Decimal
    price_max: Decimal
    page: int = 1  # 1-based
    page_size: int = 200  # Browse's largest page: one call does what four of 50 did
    currency: str = "USD"


class Listing(NamedTuple):
    """One listing of a search page. Immutable like the other records here, but a
    NamedTuple: a page builds up to 240, and a frozen dataclass costs ~2 µs each
    (~0.4 ms of CPU per search), a NamedTuple a fifth of that.

    ``price`` is in ``currency``, the code the marketplace gave: a non-USD price keeps its
    own code and is never read as dollars; when a page shows a price whose currency cannot
    be told, ``price`` is None. ``shipping_cost`` 0 is free shipping, None unknown (eBay
    omits the shipping container on some items: that proves nothing). ``location`` is an
    ISO country code where the marketplace gives one ("US"), else the page's own words
    ("China"), "" when not shown. ``seller_user_id`` is Browse's immutable seller id where
    the response has one (since 2025-09 some items carry it in place of the username, too).
    """

    item_id: str
    title: str
    price: Decimal | None
    currency: str  # ISO code as parsed ("" when a page's price had no currency we know)
    seller_username: str
    seller_feedback_score: int | None = None
    seller_feedback_percent: Decimal | None = None
    url: str = ""  # https://www.ebay.com/itm/<id>
    shipping_cost: Decimal | None = None  # 0 = free, None = unknown
    location: str = ""  # "US" where known, else the page's text
    seller_user_id: str = ""


@dataclass(frozen=True, slots=True)
class ListingPage:
    listings: tuple[Listing, ...]
    has_next: bool
    skipped: int = 0
    total: int | None = None
    request_url: str = ""  # redacted, safe to store and show


class ErrorContext(TypedDict, total=False):
    """Where a ``MarketplaceError`` came from: its keyword arguments, passed on as ``**``."""

    provider: str
    status_code: int | None
    url: str


class MarketplaceError(Exception):
    error_type = "error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        status_code: int | None = None,
        url: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status_code = status_code
        self.url = url  # redacted

    def __str__(self) -> str:
        return self.message


class RateLimited(MarketplaceError):
    error_type = "rate_limited"
    retryable = True

    def __init__(
        self, message: str, *, retry_after: float | None = None, **kwargs: Unpack[ErrorContext]
    ) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after  # seconds, from Retry-After when the provider sent it


class QuotaExhausted(MarketplaceError):
    error_type = "quota"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        reset_at: dt.datetime | None = None,
        **kwargs: Unpack[ErrorContext],
    ) -> None:
        super().__init__(message, **kwargs)
        self.reset_at = reset_at


class TransientError(MarketplaceError):
    retryable = True


class RequestTimeout(TransientError):
    error_type = "timeout"


class ConnectionFailed(TransientError):
    error_type = "connection"


class ServerError(TransientError):
    error_type = "http_5xx"


class AuthFailed(MarketplaceError):
    error_type = "auth"


class ClientError(MarketplaceError):
    error_type = "http_4xx"


class ParseError(MarketplaceError):
    error_type = "parse_error"


class CaptchaError(MarketplaceError):
    error_type = "captcha"


class AmazonSource(Protocol):
    provider: str  # rate-limit / quota bucket, e.g. "oxylabs"

    async def best_sellers(self, *, node_id: str, page: int) -> BestSellerPage: ...


class EbaySource(Protocol):
    provider: str  # e.g. "ebay" (Browse API) or "oxylabs"

    async def search_listings(self, query: ListingQuery) -> ListingPage: ...


@dataclass(slots=True)
class Marketplace:
    """The adapters of one run, sharing one HTTP client (see ``factory.marketplace_open``)."""

    amazon: AmazonSource
    ebay: EbaySource
    name: str = "sandbox"
    extra: dict[str, Any] = field(default_factory=dict)  # the client, the sandbox app…
