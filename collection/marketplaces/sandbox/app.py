"""The sandbox marketplace: a plain ASGI app that speaks the provider APIs.

    POST /v1/queries                                Oxylabs realtime (Basic auth)
         source amazon_bestsellers                  parsed best sellers (JSON content)
         source ebay | universal (url=/sch/i.html)  filtered eBay search page (HTML content)
         source ebay_search (query)                 unfiltered eBay search page
    POST /identity/v1/oauth2/token                  eBay client-credentials grant
    GET  /buy/browse/v1/item_summary/search         eBay Browse search (Bearer)
    GET  /developer/analytics/v1_beta/rate_limit/   eBay quota of the Browse API
    GET  /__sandbox__/requests                      the request log (JSON), for tests/benches
    GET  /__sandbox__/config                        the active SandboxConfig
    GET  /__sandbox__/cpu                           CPU seconds of the process serving it

Every API request goes through the same steps: the per-provider rate limit (429 +
Retry-After), injected faults (hold past the client timeout, transient 5xx), the handler
(auth, validation as documented, data), an injected malformed body, then the latency (±
jitter): the answer leaves latency_ms after the request arrived, the emulator's own work
included.
Fault decisions come from one RNG seeded by the config, drawn a fixed number of times per
request, so a config replays the same faults for the same request sequence. Data never
depends on that RNG (see ``catalogue``). ``rate_limited_rate`` answers a share of requests
429 with ``Retry-After: retry_after_s`` whatever the request rate (a throttling storm).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import datetime as dt
import hashlib
import hmac
import json
import math
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from . import catalogue, ebay_pages
from .catalogue import CatalogueParams, ListingFilter, h64
from .config import SandboxConfig

MAX_BODY = 1_000_000
TOKEN_PREFIX = "v^1.1#i^1#p^1#r^0#I^3#t^"
OXYLABS_DOMAINS = frozenset({"com", "co.uk", "de", "ca", "com.au", "it", "pl", "fr", "es"})
OXYLABS_SOURCES = ("amazon_bestsellers", "ebay", "universal", "ebay_search")
BROWSE_MAX_WINDOW = 10_000
EBAY_SCOPE = "https://api.ebay.com/oauth/api_scope"
_FAKE_TIME = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    524: "Timeout",
    612: "Undefined Internal Error",
    613: "Faulted After Too Many Retries",
}


def reason_phrase(status: int) -> str:
    return _REASONS.get(status, "Unknown")


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def _json(status: int, data: object, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(status, body, "application/json", headers)


def _html(status: int, text: str) -> Response:
    return Response(status, text.encode(), "text/html; charset=utf-8")


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    origin: str  # scheme://host of the request, for absolute links (Browse next/prev)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    time: float  # epoch seconds when the request arrived
    method: str
    path: str
    provider: str
    status: int
    duration_ms: float


@dataclass(frozen=True, slots=True)
class _Route:
    provider: str
    handler: Callable[[SandboxApp, Request], Awaitable[Response]]
    kind: str  # "oxylabs", "oauth", "browse" (decides fault bodies)


class _TokenBucket:
    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def take(self) -> float | None:
        """None when the request may go, else the seconds until a token is free."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return None
        return (1.0 - self.tokens) / self.rate


def _basic_credentials(headers: dict[str, str]) -> tuple[str, str] | None:
    value = headers.get("authorization", "")
    if not value.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(value[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep or not user or not password:
        return None
    return user, password


def _browse_error(
    status: int,
    error_id: int,
    message: str,
    *,
    domain: str = "API_BROWSE",
    category: str = "REQUEST",
    parameters: list | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Response:
    error: dict = {
        "errorId": error_id,
        "domain": domain,
        "category": category,
        "message": message,
        "longMessage": message,
    }
    if parameters:
        error["parameters"] = parameters
    return _json(status, {"errors": [error]}, headers)


def _stamp(*parts: object) -> str:
    moment = _FAKE_TIME + dt.timedelta(seconds=h64(*parts) % 86_400)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _job(params: CatalogueParams, payload_key: tuple, source: str, extra: dict) -> tuple[str, dict]:
    job_id = str(7_000_000_000_000_000_000 + h64(params.seed, "job", payload_key) % 10**18)
    stamp = _stamp(params.seed, "job", payload_key)
    job = {
        "callback_url": None,
        "created_at": stamp,
        "domain": extra.get("domain", "com"),
        "geo_location": None,
        "id": job_id,
        "limit": 10,
        "locale": None,
        "pages": extra.get("pages", 1),
        "parse": extra.get("parse", False),
        "parser_type": None,
        "render": extra.get("render"),
        "url": extra.get("url"),
        "query": extra.get("query", ""),
        "source": source,
        "start_page": extra.get("start_page", 1),
        "status": "done",
        "storage_type": None,
        "storage_url": None,
        "subdomain": "www",
        "content_encoding": "utf-8",
        "updated_at": stamp,
        "user_agent_type": "desktop",
        "session_info": None,
        "statuses": [],
        "client_notes": None,
    }
    return job_id, job


@lru_cache(maxsize=1024)
def _amazon_body(
    params: CatalogueParams,
    node: str,
    domain: str,
    start_page: int,
    pages: int,
    parse: bool,
    render: str | None,
) -> bytes:
    key = ("amazon_bestsellers", node, domain, start_page, pages, parse)
    job_id, job = _job(
        params,
        key,
        "amazon_bestsellers",
        {
            "domain": domain,
            "pages": pages,
            "parse": parse,
            "query": node,
            "start_page": start_page,
            "render": render,
        },
    )
    results = []
    for page in range(start_page, start_page + pages):
        records = catalogue.best_sellers_page(params, node, page)
        url = f"https://www.amazon.{domain}/gp/bestsellers/{node}?pg={page}"
        content: object
        if records is None:
            status = 404
            content = {
                "url": url,
                "page": page,
                "pages": params.pages,
                "query": node,
                "results": [],
                "parse_status_code": 12000,
            }
        elif parse:
            status = 200
            content = {
                "url": url,
                "page": page,
                "pages": params.pages,
                "query": node,
                "results": records,
                "parse_status_code": 12000,
            }
        else:
            status = 200
            content = (
                f"<!doctype html><html><head><title>Amazon Best Sellers</title></head>"
                f'<body><div id="zg">{len(records)} best sellers</div></body></html>'
            )
        stamp = _stamp(params.seed, "result", key, page)
        results.append(
            {
                "content": content,
                "created_at": stamp,
                "updated_at": stamp,
                "page": page,
                "url": url,
                "job_id": job_id,
                "status_code": status,
                "parser_type": "amazon_bestsellers" if parse else "",
            }
        )
    return json.dumps(
        {"results": results, "job": job}, separators=(",", ":"), ensure_ascii=False
    ).encode()


@dataclass(frozen=True, slots=True)
class _EbaySearch:
    keywords: str
    listing_filter: ListingFilter
    per_page: int
    page: int
    params: tuple[tuple[str, str], ...]  # the URL's query, for pagination links


def _cents(text: str | None, *, upper: bool) -> int | None:
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return ListingFilter.cents(value, upper=upper) if value.is_finite() and value >= 0 else None


def _int(text: str | None, default: int) -> int | None:
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        return None


def _parse_ebay_url(url: str) -> _EbaySearch | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if host not in ("www.ebay.com", "ebay.com") or parts.path != "/sch/i.html":
        return None
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = dict(pairs)
    conditions = None
    if query.get("LH_ItemCondition"):
        try:
            conditions = frozenset(
                int(v) for v in query["LH_ItemCondition"].replace(",", "|").split("|") if v
            )
        except ValueError:
            conditions = None
    per_page = _int(query.get("_ipg"), 60) or 60
    page = _int(query.get("_pgn"), 1) or 1
    listing_filter = ListingFilter(
        condition_ids=conditions,
        free_shipping=query.get("LH_Free") == "1",
        country="US" if query.get("LH_PrefLoc") == "1" else None,
        buying_options=frozenset({"FIXED_PRICE"}) if query.get("LH_BIN") == "1" else None,
        price_min_cents=_cents(query.get("_udlo"), upper=False),
        price_max_cents=_cents(query.get("_udhi"), upper=True),
    )
    return _EbaySearch(
        keywords=query.get("_nkw", ""),
        listing_filter=listing_filter,
        per_page=min(max(per_page, 1), 240),
        page=max(page, 1),
        params=tuple((k, v) for k, v in pairs if k != "_pgn"),
    )


@lru_cache(maxsize=2048)
def _ebay_page_body(params: CatalogueParams, source: str, url: str, search: _EbaySearch) -> bytes:
    listings = (
        catalogue.search(params, search.keywords, search.listing_filter)
        if search.keywords.strip()
        else ()
    )
    start = (search.page - 1) * search.per_page
    page_listings = listings[start : start + search.per_page]
    key = catalogue.product_key(search.keywords)
    choice = h64(params.seed, "generation", key, search.page) % 10
    generation = "s-card" if choice < 5 else "s-item" if choice < 8 else "s-item-split"
    html = ebay_pages.search_page(
        keywords=search.keywords,
        listings=page_listings,
        total=len(listings),
        page=search.page,
        has_next=start + search.per_page < len(listings),
        generation=generation,
        params=dict(search.params),
    )
    payload_key = (source, url)
    job_id, job = _job(params, payload_key, source, {"url": url})
    stamp = _stamp(params.seed, "result", payload_key)
    result = {
        "content": html,
        "created_at": stamp,
        "updated_at": stamp,
        "page": 1,
        "url": url,
        "job_id": job_id,
        "status_code": 200,
        "parser_type": "",
    }
    return json.dumps(
        {"results": [result], "job": job}, separators=(",", ":"), ensure_ascii=False
    ).encode()


# --- Browse ------------------------------------------------------------------------------

_CONDITION_NAMES = {1000: "New", 1500: "Open box", 2500: "Seller refurbished", 3000: "Used"}


def _split_filter(value: str) -> list[str]:
    """Split on commas that are not inside {...} or [...]."""
    terms, depth, current = [], 0, []
    for ch in value:
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(ch)
    if current:
        terms.append("".join(current))
    return [term.strip() for term in terms if term.strip()]


def _set_values(value: str) -> list[str] | None:
    if value.startswith("{") and value.endswith("}"):
        return [v.strip() for v in value[1:-1].split("|") if v.strip()]
    return None


def _warning(error_id: int, message: str, name: str, value: str) -> dict:
    return {
        "errorId": error_id,
        "domain": "API_BROWSE",
        "category": "REQUEST",
        "message": message,
        "parameters": [{"name": name, "value": value}],
    }


@lru_cache(maxsize=1024)
def parse_browse_filter(raw: str) -> tuple[ListingFilter, tuple[dict, ...], Response | None]:
    """The filter, the warnings eBay would return with a 200, or an error response.

    Memoised (every search sends its filter); the warning dicts must not be mutated.
    """
    warnings: list[dict] = []
    conditions = None
    free = False
    country = None
    buying: frozenset[str] | None = frozenset({"FIXED_PRICE"})  # Browse's default
    price_min = price_max = None
    price_currency = None
    price_term = None
    delivery_country = None
    location_filters = 0
    for term in _split_filter(raw):
        name, sep, value = term.partition(":")
        name, value = name.strip(), value.strip()
        if not sep:
            warnings.append(_warning(12002, "Invalid filter.", "filter", term))
            continue
        if name == "conditionIds":
            values = _set_values(value)
            try:
                conditions = frozenset(int(v) for v in values) if values else None
            except ValueError:
                conditions = None
            if conditions is None:
                warnings.append(_warning(12002, "Invalid filter value.", name, value))
        elif name == "conditions":
            values = _set_values(value) or []
            mapped: set[int] = set()
            for v in values:
                if v == "NEW":
                    mapped |= {1000, 1500}
                elif v == "USED":
                    mapped |= {2500, 3000}
            conditions = frozenset(mapped) if mapped else None
        elif name == "maxDeliveryCost":
            try:
                free = Decimal(value) == 0
            except InvalidOperation:
                warnings.append(_warning(12002, "Invalid filter value.", name, value))
        elif name == "deliveryCountry":
            delivery_country = value
        elif name in ("itemLocationCountry", "itemLocationRegion"):
            location_filters += 1
            if name == "itemLocationCountry":
                country = value.upper()
        elif name == "buyingOptions":
            values = _set_values(value)
            if values:
                buying = frozenset(values)
            else:
                warnings.append(_warning(12002, "Invalid filter value.", name, value))
        elif name == "price":
            price_term = value
        elif name == "priceCurrency":
            price_currency = value
        else:
            warnings.append(_warning(12002, "Invalid filter name.", "filter", name))
    if location_filters > 1:
        return (
            ListingFilter(),
            (),
            _browse_error(
                400,
                12517,
                "Only one item location filter can be used in a call.",
                parameters=[{"name": "filter", "value": raw[:200]}],
            ),
        )
    if free and not delivery_country:
        warnings.append(
            _warning(
                12011,
                "The 'deliveryCountry' filter is required with "
                "'maxDeliveryCost'. The filter was ignored.",
                "filter",
                "maxDeliveryCost",
            )
        )
        free = False
    if price_term is not None:
        low, high = _price_range(price_term)
        if price_currency is None:
            warnings.append(
                _warning(
                    12012,
                    "The 'priceCurrency' filter must be used with the "
                    "'price' filter. The price filter was ignored.",
                    "filter",
                    "price",
                )
            )
        elif low is False:
            warnings.append(_warning(12002, "Invalid filter value.", "price", price_term))
        else:
            price_min = ListingFilter.cents(low) if low is not None else None
            price_max = ListingFilter.cents(high, upper=True) if high is not None else None
    return (
        ListingFilter(
            condition_ids=conditions,
            free_shipping=free,
            country=country,
            buying_options=buying,
            price_min_cents=price_min,
            price_max_cents=price_max,
        ),
        tuple(warnings),
        None,
    )


def _price_range(term: str):
    """[lo..hi], [lo], [..hi] → (lo, hi) Decimals/None, or (False, False) when invalid."""
    if not (term.startswith("[") and term.endswith("]")):
        return False, False
    inner = term[1:-1]
    low_text, sep, high_text = inner.partition("..")
    try:
        low = Decimal(low_text) if low_text.strip() else None
        high = Decimal(high_text) if sep and high_text.strip() else (None if sep else low)
    except InvalidOperation:
        return False, False
    if (low is not None and not low.is_finite()) or (high is not None and not high.is_finite()):
        return False, False
    return low, high


def _browse_item(listing: catalogue.SandboxListing) -> dict:
    seller = listing.seller
    item: dict = {
        "itemId": f"v1|{listing.item_id}|0",
        "title": listing.title,
        "leafCategoryIds": ["112529"],
        "categories": [{"categoryId": "112529", "categoryName": "Headphones"}],
        "image": {"imageUrl": f"https://i.ebayimg.com/images/g/{listing.item_id}/s-l225.jpg"},
        "price": {"value": listing.price_text, "currency": "USD"},
        "itemHref": f"https://api.ebay.com/buy/browse/v1/item/v1%7C{listing.item_id}%7C0",
        "seller": {
            "username": seller.username,
            "feedbackPercentage": seller.feedback_percent,
            "feedbackScore": seller.feedback_score,
        },
        "condition": _CONDITION_NAMES.get(listing.condition_id, "New"),
        "conditionId": str(listing.condition_id),
    }
    if not listing.omit_shipping_options:
        item["shippingOptions"] = [
            {
                "shippingCostType": "FIXED",
                "shippingCost": {"value": listing.shipping_text, "currency": "USD"},
            }
        ]
    item.update(
        {
            "buyingOptions": [listing.buying_option],
            "itemWebUrl": f"https://www.ebay.com/itm/{listing.item_id}",
            "itemLocation": {"postalCode": listing.postal_code, "country": listing.country},
            "adultOnly": False,
            "legacyItemId": listing.item_id,
            "availableCoupons": False,
            "itemCreationDate": "2026-10-" + f"{1 + int(listing.item_id) % 28:02d}T08:15:00.000Z",
            "topRatedBuyingExperience": int(listing.item_id) % 7 == 0,
            "priorityListing": int(listing.item_id) % 11 == 0,
            "listingMarketplaceId": "EBAY_US",
        }
    )
    return item


@lru_cache(maxsize=2048)
def _browse_body(
    params: CatalogueParams, origin: str, q: str, raw_filter: str, limit: int, offset: int
) -> bytes:
    listing_filter, warnings, _ = parse_browse_filter(raw_filter)
    listings = catalogue.search(params, q, listing_filter)
    total = len(listings)
    page = listings[offset : offset + limit]

    def link(at: int) -> str:
        query = {"q": q, "limit": str(limit), "offset": str(at)}
        if raw_filter:
            query["filter"] = raw_filter
        return f"{origin}/buy/browse/v1/item_summary/search?{urlencode(query)}"

    data: dict = {"href": link(offset), "total": total}
    if offset + limit < total and offset + limit < BROWSE_MAX_WINDOW:
        data["next"] = link(offset + limit)
    if offset > 0:
        data["prev"] = link(max(0, offset - limit))
    data["limit"] = limit
    data["offset"] = offset
    if page:
        data["itemSummaries"] = [_browse_item(listing) for listing in page]
    if warnings:
        data["warnings"] = list(warnings)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


# --- The app -------------------------------------------------------------------------------


class SandboxApp:
    """ASGI app; one instance holds the request log, rate-limit buckets, quota and the
    token signing key of one emulated marketplace."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.params = CatalogueParams.from_config(self.config)
        self.request_log: collections.deque[RequestRecord] = collections.deque(
            maxlen=self.config.request_log_size
        )
        self._faults = random.Random(h64(self.config.seed, "faults"))
        self._buckets: dict[str, _TokenBucket] = {}
        self._token_key = hashlib.sha256(f"sandbox-token-key:{self.config.seed}".encode()).digest()
        self._token_generation = 0
        self._quota_epoch = (  # quota hook: see SandboxConfig.quota_epoch
            time.time() if self.config.quota_epoch is None else self.config.quota_epoch
        )
        self._quota_used: dict[int, int] = {}

    # -- helpers tests use ----------------------------------------------------------------

    def requests(
        self, *, provider: str | None = None, path: str | None = None, status: int | None = None
    ) -> list[RequestRecord]:
        return [
            record
            for record in list(self.request_log)
            if (provider is None or record.provider == provider)
            and (path is None or record.path == path)
            and (status is None or record.status == status)
        ]

    def revoke_tokens(self) -> None:
        """Invalidate every token issued so far (the next search gets 401 / 1001)."""
        self._token_generation += 1

    def quota_state(self) -> dict:
        cfg = self.config
        now = time.time()
        day = int((now - self._quota_epoch) // cfg.day_seconds)
        used = self._quota_used.get(day, 0)
        limit = cfg.daily_quota or 5000
        reset = self._quota_epoch + (day + 1) * cfg.day_seconds
        return {
            "limit": limit,
            "used": used,
            "remaining": max(0, limit - used),
            "reset": dt.datetime.fromtimestamp(reset, dt.UTC),
            "window": cfg.day_seconds,
            "enforced": bool(cfg.daily_quota),
        }

    # -- ASGI -----------------------------------------------------------------------------

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        arrived = time.time()
        started = time.monotonic()
        body = bytearray()
        too_large = False
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                too_large = True
            if not message.get("more_body"):
                break
        headers: dict[str, str] = {}
        for name, value in scope.get("headers") or ():
            headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        query = {
            k: v[0]
            for k, v in parse_qs(
                scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True
            ).items()
        }
        host = headers.get("host") or "sandbox.invalid"
        request = Request(
            method=scope["method"],
            path=scope["path"],
            query=query,
            headers=headers,
            body=bytes(body),
            origin=f"{scope.get('scheme', 'http')}://{host}",
        )
        route = ROUTES.get(request.path.rstrip("/") or "/")
        provider = route.provider if route else "sandbox"
        if too_large:
            response = _json(413, {"message": "Payload too large"})
        elif request.path.startswith("/__sandbox__/"):
            response = self._admin(request)
        elif route is None:
            response = _json(404, {"message": f"No route for {request.path[:100]}"})
        elif request.method != route_method(request.path):
            response = _json(405, {"message": "Method not allowed"})
        else:
            response = await self._serve(route, request, started)
        headers_out = [
            (b"content-type", response.content_type.encode()),
            (b"content-length", str(len(response.body)).encode()),
        ]
        headers_out += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
        await send(
            {"type": "http.response.start", "status": response.status, "headers": headers_out}
        )
        await send({"type": "http.response.body", "body": response.body})
        self.request_log.append(
            RequestRecord(
                time=arrived,
                method=request.method,
                path=request.path,
                provider=provider,
                status=response.status,
                duration_ms=(time.monotonic() - started) * 1000,
            )
        )

    async def _serve(self, route: _Route, request: Request, started: float) -> Response:
        cfg = self.config
        draw = self._faults.random
        jitter_u, fault_u, malformed_u, variant_u = draw(), draw(), draw(), draw()
        delay_ms = cfg.latency_ms + (2 * jitter_u - 1) * cfg.jitter_ms
        response = await self._answer(route, request, fault_u, malformed_u, variant_u)
        # The latency is the whole response time, as a remote API's is: the emulator's own
        # work (building and encoding a page, a few ms) happens within it, not on top.
        remaining = delay_ms / 1000 - (time.monotonic() - started)
        if remaining > 0:
            await asyncio.sleep(remaining)
        return response

    async def _answer(self, route: _Route, request: Request, fault_u: float,
                      malformed_u: float, variant_u: float) -> Response:
        cfg = self.config
        if cfg.rate_limit_rps > 0:
            bucket = self._buckets.get(route.provider)
            if bucket is None:
                bucket = self._buckets[route.provider] = _TokenBucket(cfg.rate_limit_rps)
            wait = bucket.take()
            if wait is not None:
                return _rate_limited(route.kind, wait)
        if fault_u < cfg.timeout_rate:
            await asyncio.sleep(cfg.timeout_sleep_s)
            return _json(504, {"message": "Gateway timeout"})
        if fault_u < cfg.timeout_rate + cfg.error_rate:
            return _server_error(route.kind, variant_u)
        if fault_u < cfg.timeout_rate + cfg.error_rate + cfg.rate_limited_rate:
            return _rate_limited(route.kind, cfg.retry_after_s)
        response = await route.handler(self, request)
        if response.status == 200 and malformed_u < cfg.malformed_rate:
            return _malformed(route.kind, response, variant_u)
        return response

    def _admin(self, request: Request) -> Response:
        if request.path == "/__sandbox__/requests":
            records = self.requests(provider=request.query.get("provider") or None)
            return _json(200, {"requests": [asdict(record) for record in records]})
        if request.path == "/__sandbox__/config":
            return _json(200, self.config.as_dict())
        if request.path == "/__sandbox__/cpu":  # what the emulator costs its machine
            return _json(200, {"process_time_s": time.process_time(), "pid": os.getpid()})
        return _json(404, {"message": "Unknown sandbox endpoint"})

    # -- tokens ---------------------------------------------------------------------------

    def _issue_token(self, client_id: str) -> str:
        expires = int(time.time()) + self.config.token_ttl_s
        client = hashlib.sha256(client_id.encode()).hexdigest()[:12]
        payload = f"{client}.{expires}.{self._token_generation}"
        signature = hmac.new(self._token_key, payload.encode(), hashlib.sha256).hexdigest()[:24]
        return TOKEN_PREFIX + base64.urlsafe_b64encode(f"{payload}.{signature}".encode()).decode()

    def _token_valid(self, token: str) -> bool:
        if not token.startswith(TOKEN_PREFIX):
            return False
        try:
            decoded = base64.urlsafe_b64decode(token[len(TOKEN_PREFIX) :].encode()).decode()
            client, expires, generation, signature = decoded.split(".")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return False
        payload = f"{client}.{expires}.{generation}"
        expected = hmac.new(self._token_key, payload.encode(), hashlib.sha256).hexdigest()[:24]
        if not hmac.compare_digest(expected, signature):
            return False
        return generation == str(self._token_generation) and int(expires) > time.time()

    def _bearer_error(self, request: Request) -> Response | None:
        value = request.headers.get("authorization", "")
        if not value.startswith("Bearer ") or not value[7:].strip():
            return _browse_error(
                401, 1002, "Missing access token", domain="OAuth", category="REQUEST"
            )
        if not self._token_valid(value[7:].strip()):
            return _browse_error(
                401, 1001, "Invalid access token", domain="OAuth", category="REQUEST"
            )
        return None

    # -- handlers -------------------------------------------------------------------------

    async def oxylabs_queries(self, request: Request) -> Response:
        cfg = self.config
        credentials = _basic_credentials(request.headers)
        if credentials is None or (
            cfg.oxylabs_username is not None
            and credentials != (cfg.oxylabs_username, cfg.oxylabs_password)
        ):
            return _json(
                401, {"message": "Unauthorized"}, (("www-authenticate", 'Basic realm="oxylabs"'),)
            )
        try:
            payload = json.loads(request.body)
        except ValueError:
            return _json(422, {"message": "Invalid JSON in request body"})
        if not isinstance(payload, dict):
            return _json(400, {"message": "Request body must be a JSON object"})
        source = payload.get("source")
        if source not in OXYLABS_SOURCES:
            return _json(400, {"message": f"source: unsupported value {str(source)[:50]!r}"})
        domain = payload.get("domain", "com")
        if domain not in OXYLABS_DOMAINS:
            return _json(400, {"message": "domain: unsupported value"})
        start_page = payload.get("start_page", 1)
        pages = payload.get("pages", 1)
        if (
            not isinstance(start_page, int)
            or isinstance(start_page, bool)
            or start_page < 1
            or not isinstance(pages, int)
            or isinstance(pages, bool)
            or not 1 <= pages <= 10
        ):
            return _json(400, {"message": "start_page / pages: must be positive integers"})
        if source == "amazon_bestsellers":
            node = payload.get("query")
            node = str(node) if isinstance(node, int) and not isinstance(node, bool) else node
            if not isinstance(node, str) or not node.isdigit() or len(node) > 20:
                return _json(400, {"message": "query: a browse node id is required"})
            parse = payload.get("parse", False) is True
            render = payload.get("render") if isinstance(payload.get("render"), str) else None
            body = _amazon_body(self.params, node, domain, start_page, pages, parse, render)
            return Response(200, body)
        if source == "ebay_search":
            keywords = payload.get("query")
            if not isinstance(keywords, str) or not keywords.strip():
                return _json(400, {"message": "query: field required"})
            url = "https://www.ebay.com/sch/i.html?" + urlencode(
                {"_nkw": keywords, "_pgn": str(start_page)}
            )
        else:
            url = payload.get("url")
            if not isinstance(url, str) or not url:
                return _json(400, {"message": "url: field required"})
        search = _parse_ebay_url(url)
        if search is None:
            return _json(
                400,
                {
                    "message": "url: the sandbox serves eBay search pages "
                    "(https://www.ebay.com/sch/i.html) only"
                },
            )
        return Response(200, _ebay_page_body(self.params, source, url, search))

    async def oauth_token(self, request: Request) -> Response:
        cfg = self.config
        credentials = _basic_credentials(request.headers)
        if credentials is None or (
            cfg.ebay_client_id is not None
            and credentials != (cfg.ebay_client_id, cfg.ebay_client_secret)
        ):
            return _json(
                401,
                {"error": "invalid_client", "error_description": "client authentication failed"},
            )
        form = dict(parse_qsl(request.body.decode("latin-1"), keep_blank_values=True))
        if form.get("grant_type") != "client_credentials":
            return _json(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type in request is not supported "
                    "by the authorization server",
                },
            )
        scopes = form.get("scope", EBAY_SCOPE).split()
        if not scopes or any(not scope.startswith(EBAY_SCOPE) for scope in scopes):
            return _json(
                400,
                {
                    "error": "invalid_scope",
                    "error_description": "The requested scope is invalid, unknown, "
                    "malformed, or exceeds the scope granted "
                    "to the client",
                },
            )
        return _json(
            200,
            {
                "access_token": self._issue_token(credentials[0]),
                "expires_in": cfg.token_ttl_s,
                "token_type": "Application Access Token",
            },
        )

    async def browse_search(self, request: Request) -> Response:
        error = self._bearer_error(request)
        if error is not None:
            return error
        query = request.query
        q = query.get("q", "")
        if not q.strip() and not any(query.get(k) for k in ("category_ids", "epid", "gtin")):
            return _browse_error(
                400,
                12001,
                "The call must have a valid 'q', 'category_ids', 'epid' or 'gtin' query parameter.",
            )
        limit = _int(query.get("limit"), 50)
        if limit is None or not 1 <= limit <= 200:
            return _browse_error(
                400,
                12006,
                "The 'limit' value must be between 1 and 200.",
                parameters=[{"name": "limit", "value": query.get("limit", "")}],
            )
        offset = _int(query.get("offset"), 0)
        if offset is None or offset < 0:
            return _browse_error(
                400,
                12006,
                "The 'offset' value must be a positive integer.",
                parameters=[{"name": "offset", "value": query.get("offset", "")}],
            )
        if offset >= BROWSE_MAX_WINDOW:
            return _browse_error(
                400, 12029, "The 'offset' cannot be greater than or equal to 10000."
            )
        if offset % limit:
            return _browse_error(
                400, 12515, "The 'offset' value must be 0 or a multiple of the 'limit' value."
            )
        raw_filter = query.get("filter", "")
        _, _, filter_error = parse_browse_filter(raw_filter)
        if filter_error is not None:
            return filter_error
        cfg = self.config
        if cfg.daily_quota:
            day = int((time.time() - self._quota_epoch) // cfg.day_seconds)
            used = self._quota_used.get(day, 0)
            if used >= cfg.daily_quota:
                return _browse_error(
                    429,
                    2001,
                    "Too many requests. The request limit has been reached for the resource.",
                    domain="ACCESS",
                    category="REQUEST",
                )
            self._quota_used = {day: used + 1}
        body = _browse_body(self.params, request.origin, q, raw_filter, limit, offset)
        return Response(200, body)

    async def rate_limit(self, request: Request) -> Response:
        error = self._bearer_error(request)
        if error is not None:
            return error
        state = self.quota_state()
        rate = {
            "count": state["used"],
            "limit": state["limit"],
            "remaining": state["remaining"],
            "reset": state["reset"].strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "timeWindow": int(state["window"]),
        }
        return _json(
            200,
            {
                "rateLimits": [
                    {
                        "apiContext": "buy",
                        "apiName": "Browse",
                        "apiVersion": "v1",
                        "resources": [{"name": "buy.browse", "rates": [rate]}],
                    }
                ]
            },
        )


def _rate_limited(kind: str, wait: float) -> Response:
    headers = (("retry-after", str(max(1, math.ceil(wait)))),)
    if kind == "oxylabs":
        return _json(429, {"message": "Too many requests"}, headers)
    if kind == "oauth":
        return _json(
            429, {"error": "rate_limited", "error_description": "Too many requests"}, headers
        )
    return _browse_error(
        429,
        2001,
        "Too many requests. The request limit has been reached for the resource.",
        domain="ACCESS",
        headers=headers,
    )


_GATEWAY_HTML = (
    "<html><head><title>502 Bad Gateway</title></head><body><center>"
    "<h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)


def _server_error(kind: str, u: float) -> Response:
    if kind == "oxylabs":
        options = (
            lambda: _json(500, {"message": "Internal server error"}),
            lambda: _html(502, _GATEWAY_HTML),
            lambda: _json(503, {"message": "Service unavailable"}),
            lambda: _json(524, {"message": "Timeout"}),
            lambda: _json(612, {"message": "Undefined internal error"}),
            lambda: _json(613, {"message": "Faulted after too many retries"}),
            lambda: _json(200, {"results": [{"content": "", "status_code": 503, "page": 1}]}),
        )
    elif kind == "oauth":
        options = (
            lambda: _json(
                500, {"error": "server_error", "error_description": "There was an internal error"}
            ),
            lambda: _html(503, _GATEWAY_HTML.replace("502 Bad Gateway", "503 Service Unavailable")),
        )
    else:
        options = (
            lambda: _browse_error(
                500,
                12000,
                "There was a problem with an eBay internal system "
                "or process. Contact eBay developer support for "
                "assistance.",
                category="APPLICATION",
            ),
            lambda: _html(503, _GATEWAY_HTML.replace("502 Bad Gateway", "503 Service Unavailable")),
        )
    return options[int(u * len(options))]()


_ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body>"
    "<h1>Temporarily unavailable</h1></body></html>"
)


def _malformed(kind: str, response: Response, u: float) -> Response:
    body = response.body
    if u < 0.3:
        return Response(200, body[: max(1, len(body) // 2)], response.content_type)
    if u < 0.5:
        return _html(200, _ERROR_PAGE)
    if kind == "oxylabs":
        try:
            data = json.loads(body)
            is_html = isinstance(data["results"][0]["content"], str)
        except (ValueError, KeyError, IndexError, TypeError):
            is_html = False
        if is_html:  # an eBay page: captcha, empty or unrecognised content
            content = (
                ebay_pages.CAPTCHA_PAGE
                if u < 0.75
                else ""
                if u < 0.87
                else ebay_pages.UNRECOGNISED_PAGE
            )
        else:  # best sellers: the parser gave up
            content = (
                "<!doctype html><html><body>Robot check</body></html>"
                if u < 0.75
                else {"parse_status_code": 12002, "url": "https://www.amazon.com/"}
            )
        return _json(200, {"results": [{"content": content, "status_code": 200, "page": 1}]})
    if kind == "oauth":
        return _json(200, {"token": "missing-fields"})
    return _json(200, {"itemSummaries": {"unexpected": True}, "total": "many"})


ROUTES: dict[str, _Route] = {
    "/v1/queries": _Route("oxylabs", SandboxApp.oxylabs_queries, "oxylabs"),
    "/identity/v1/oauth2/token": _Route("ebay-oauth", SandboxApp.oauth_token, "oauth"),
    "/buy/browse/v1/item_summary/search": _Route("ebay-browse", SandboxApp.browse_search, "browse"),
    "/developer/analytics/v1_beta/rate_limit": _Route(
        "ebay-analytics", SandboxApp.rate_limit, "browse"
    ),
}
_METHODS = {"/v1/queries": "POST", "/identity/v1/oauth2/token": "POST"}


def route_method(path: str) -> str:
    return _METHODS.get(path.rstrip("/"), "GET")


def caches_clear() -> None:
    """Forget every memoised catalogue page and response body (tests of determinism)."""
    for cached in (
        parse_browse_filter,
        _amazon_body,
        _ebay_page_body,
        _browse_body,
        catalogue.category_products,
        catalogue.listings_for,
        catalogue.search,
        catalogue.reference_price,
        catalogue.dropshipper_population,
        catalogue.node_profile,
    ):
        cached.cache_clear()
