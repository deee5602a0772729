"""Oxylabs Web Scraper API (realtime ``POST /v1/queries``) adapters.

- ``OxylabsAmazonBestSellers``: source ``amazon_bestsellers``, parsed JSON.
- ``OxylabsEbaySearch``: the filtered eBay search page (source ``ebay`` or ``universal``
  with a full ``/sch/i.html`` URL), HTML parsed by ``ebay_html``; Oxylabs has no eBay
  parser and ``ebay_search`` takes no filters.

Two levels of status: the HTTP status of the Oxylabs call (401 bad API user, 429 rate
limit, 5xx/524/612/613 faulted job) and ``results[0].status_code``, the status of the
target page. A target 404 is a client error (no such category page); any other non-2xx
target status (403/429/5xx: blocked or throttled by the target) is retryable.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

import httpx

from .base import (
    BestSeller,
    BestSellerPage,
    ClientError,
    ErrorContext,
    ListingPage,
    ListingQuery,
    MarketplaceError,
    ParseError,
    ServerError,
)
from .ebay_html import parse_search_page
from .values import (
    MAX_TITLE_LENGTH,
    clean_currency,
    clean_text,
    clean_url,
    currency_from_text,
    parse_count,
    parse_price,
    parse_rating,
)
from .wire import Scrubber, decode_json, error_for_status, redact_url, send, try_json

PROVIDER = "oxylabs"
AMAZON_ORIGIN = "https://www.amazon.com"
EBAY_SEARCH_URL = "https://www.ebay.com/sch/i.html"
BEST_SELLERS_PER_PAGE = 50  # Amazon shows the top 100 as 2 pages of 50
EBAY_PAGE_SIZES = (60, 120, 240)  # what eBay's _ipg accepts
MAX_KEYWORDS_LENGTH = 350

_ASIN = re.compile(r"^[A-Z0-9]{10}$")
_NODE_ID = re.compile(r"^\d{1,20}$")


def _basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


@dataclass(frozen=True, slots=True)
class _Job:
    content: object
    status_code: int | None


class _OxylabsClient:
    """One realtime query: auth header, timeouts, HTTP and job status classification."""

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        base_url: str,
        username: str,
        password: str,
        timeout: httpx.Timeout | None = None,
    ) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + "/v1/queries"
        self._headers = {"Authorization": _basic_auth(username, password)}
        self._timeout = timeout
        self._scrub = Scrubber([username, password, self._headers["Authorization"][6:]])

    async def query(self, payload: dict, *, display_url: str) -> _Job:
        kwargs: dict = {"json": payload, "headers": self._headers}
        if self._timeout is not None:
            kwargs["timeout"] = self._timeout
        response = await send(
            self._client,
            "POST",
            self._url,
            provider=PROVIDER,
            display_url=display_url,
            scrub=self._scrub,
            **kwargs,
        )
        if response.status_code != 200:
            body = try_json(response)
            detail = ""
            if isinstance(body, dict) and isinstance(body.get("message"), str):
                detail = self._scrub(body["message"])
            raise error_for_status(
                response, provider=PROVIDER, display_url=display_url, detail=detail
            )
        data = decode_json(response, provider=PROVIDER, display_url=display_url)
        common: ErrorContext = {"provider": PROVIDER, "status_code": 200, "url": display_url}
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list) or not results or not isinstance(results[0], dict):
            raise ParseError(f"{PROVIDER}: response has no results[0]", **common)
        first = results[0]
        target_status = first.get("status_code")
        if isinstance(target_status, int) and not isinstance(target_status, bool):
            if not 200 <= target_status < 300:
                raise _target_error(target_status, display_url)
        return _Job(content=first.get("content"), status_code=target_status)


def _target_error(status: int, display_url: str) -> MarketplaceError:
    message = f"{PROVIDER}: target page status {status}"
    common: ErrorContext = {"provider": PROVIDER, "status_code": status, "url": display_url}
    if status in (400, 404, 410):
        return ClientError(message, **common)
    return ServerError(message, **common)


def _rank(pos: object, index: int, page: int) -> int:
    """Overall best-seller rank. ``pos`` may be the position on the page (1–50) or the
    overall rank (51–100 on page 2); both read correctly."""
    offset = BEST_SELLERS_PER_PAGE * (page - 1)
    if isinstance(pos, int) and not isinstance(pos, bool) and pos > 0:
        return pos if pos > offset else offset + pos
    return offset + index + 1


def parse_best_seller(item: object, *, index: int, page: int) -> BestSeller | None:
    """One record of ``content.results[]``, or None when it is unusable."""
    if not isinstance(item, dict):
        return None
    asin = item.get("asin")
    if not isinstance(asin, str) or not _ASIN.match(asin.strip().upper()):
        return None
    asin = asin.strip().upper()
    title = clean_text(item.get("title"), MAX_TITLE_LENGTH)
    if not title:
        return None
    price_str = item.get("price_str")
    price = parse_price(item.get("price"))
    if price is None and isinstance(price_str, str):
        price = parse_price(price_str)
    currency_hint = price_str if isinstance(price_str, str) else item.get("price")
    currency = clean_currency(item.get("currency"), currency_from_text(currency_hint))
    # Where its parser found nothing Oxylabs writes zeros, not nulls ("ratings_count": 0
    # even beside a 4.6 rating, "rating": 0). A best seller with no rating has no stars
    # shown at all, so a zero is unknown: None, which never overwrites a known value.
    ratings_count = parse_count(item.get("ratings_count", item.get("reviews_count"))) or None
    rating = parse_rating(item.get("rating")) or None
    url = clean_url(item.get("url"), AMAZON_ORIGIN) or f"{AMAZON_ORIGIN}/dp/{asin}"
    return BestSeller(
        asin=asin,
        title=title,
        price=price,
        currency=currency,
        rating=rating,
        ratings_count=ratings_count,
        rank=_rank(item.get("pos"), index, page),
        url=url,
    )


class OxylabsAmazonBestSellers:
    """``AmazonSource`` over Oxylabs ``amazon_bestsellers`` (query = browse node id)."""

    provider = PROVIDER

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        base_url: str,
        username: str,
        password: str,
        domain: str = "com",
        render: str | None = "html",
        timeout: httpx.Timeout | None = None,
    ) -> None:
        self._oxylabs = _OxylabsClient(
            client=client,
            base_url=base_url,
            username=username,
            password=password,
            timeout=timeout,
        )
        self._base_url = base_url.rstrip("/")
        self._domain = domain
        # Amazon loads the second half of a best-seller page with JavaScript, which is
        # why Oxylabs' own example asks for a rendered page.
        self._render = render

    def request_url(self, *, node_id: str, page: int) -> str:
        query = urlencode(
            {
                "source": "amazon_bestsellers",
                "domain": self._domain,
                "query": node_id,
                "start_page": page,
            }
        )
        return redact_url(f"{self._base_url}/v1/queries?{query}")

    async def best_sellers(self, *, node_id: str, page: int) -> BestSellerPage:
        node_id = str(node_id).strip()
        display_url = self.request_url(node_id=node_id, page=page)
        if not _NODE_ID.match(node_id) or page < 1:
            raise ClientError(
                f"{PROVIDER}: invalid category node {node_id[:40]!r} / page {page}",
                provider=PROVIDER,
                url=display_url,
            )
        payload: dict = {
            "source": "amazon_bestsellers",
            "domain": self._domain,
            "query": node_id,
            "start_page": page,
            "pages": 1,
            "parse": True,
        }
        if self._render:
            payload["render"] = self._render
        job = await self._oxylabs.query(payload, display_url=display_url)
        common: ErrorContext = {
            "provider": PROVIDER,
            "status_code": job.status_code,
            "url": display_url,
        }
        content = job.content
        if isinstance(content, str):
            raise ParseError(f"{PROVIDER}: content is unparsed HTML, not best sellers", **common)
        if not isinstance(content, dict):
            raise ParseError(f"{PROVIDER}: content is not an object", **common)
        items = content.get("results")
        if not isinstance(items, list):
            code = content.get("parse_status_code")
            raise ParseError(
                f"{PROVIDER}: no best-seller list (parse_status_code {code})", **common
            )
        products: list[BestSeller] = []
        skipped = 0
        seen: set[str] = set()
        for index, item in enumerate(items):
            product = parse_best_seller(item, index=index, page=page)
            if product is None or product.asin in seen:
                skipped += 1
                continue
            seen.add(product.asin)
            products.append(product)
        return BestSellerPage(
            node_id=node_id,
            page=page,
            products=tuple(products),
            skipped=skipped,
            request_url=display_url,
        )


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def ebay_search_url(query: ListingQuery, *, origin: str = "https://www.ebay.com") -> str:
    """The filtered search page: brand new, free shipping, located in the US, Buy It Now,
    inside the price band, ``_ipg`` the smallest page size eBay accepts that holds
    ``page_size`` (eBay pages hold 60, 120 or 240: the default 200 asks 240, the site's
    largest). ``_pgn`` counts pages of that size: page N of this route is the website's
    page N, and ``has_next`` comes from the page's own pagination."""
    keywords = " ".join(query.keywords.split())[:MAX_KEYWORDS_LENGTH]
    per_page = next((size for size in EBAY_PAGE_SIZES if size >= query.page_size), 240)
    params = {
        "_nkw": keywords,
        "LH_ItemCondition": "1000",
        "LH_Free": "1",
        "LH_PrefLoc": "1",
        "LH_BIN": "1",
        "_udlo": _money(query.price_min),
        "_udhi": _money(query.price_max),
        "_ipg": str(per_page),
        "_pgn": str(query.page),
    }
    return f"{origin.rstrip('/')}/sch/i.html?{urlencode(params)}"


class OxylabsEbaySearch:
    """``EbaySource`` that fetches the filtered eBay search page through Oxylabs."""

    provider = PROVIDER

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        base_url: str,
        username: str,
        password: str,
        source: str = "ebay",
        timeout: httpx.Timeout | None = None,
    ) -> None:
        if source not in ("ebay", "universal"):
            raise ValueError("source must be 'ebay' or 'universal' (ebay_search has no filters)")
        self._oxylabs = _OxylabsClient(
            client=client,
            base_url=base_url,
            username=username,
            password=password,
            timeout=timeout,
        )
        self._source = source

    async def search_listings(self, query: ListingQuery) -> ListingPage:
        url = ebay_search_url(query)
        display_url = redact_url(url)
        if query.page < 1 or not query.keywords.strip():
            raise ClientError(
                f"{PROVIDER}: invalid eBay query (page {query.page})",
                provider=PROVIDER,
                url=display_url,
            )
        job = await self._oxylabs.query(
            {"source": self._source, "url": url}, display_url=display_url
        )
        if not isinstance(job.content, str):
            raise ParseError(
                f"{PROVIDER}: eBay page content is not HTML",
                provider=PROVIDER,
                status_code=job.status_code,
                url=display_url,
            )
        page = parse_search_page(
            job.content, currency=query.currency, provider=PROVIDER, url=display_url
        )
        return ListingPage(
            listings=page.listings,
            has_next=page.has_next,
            skipped=page.skipped,
            total=page.total,
            request_url=display_url,
        )
