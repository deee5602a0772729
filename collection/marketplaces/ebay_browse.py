"""eBay Buy Browse API: ``item_summary/search`` with an OAuth application token.

Token lifecycle (``EbayAppTokens``): one client-credentials token shared by every worker
of the process. It lives in the adapter (fast path, no I/O) and in Django's cache (so
runs in the same process, or every process with a shared cache backend, reuse it), with
``expires_at = now + expires_in − 300 s``. A miss is single-flight: one ``asyncio.Lock``
makes concurrent workers wait for the one mint in progress. A 401 from the search
invalidates exactly the token that failed (compare-and-clear, so fifty workers holding the
same stale token cause one new mint, not fifty) and the search is retried once with a fresh
token; a second 401 is ``AuthFailed``.

429 (errorId 2001): eBay documents no ``Retry-After`` and its Browse limit is a daily call
quota, so a 429 without the header is ``QuotaExhausted`` (the engine pauses the run until
``reset_at``, read best-effort from the Developer Analytics ``rate_limit`` call). A 429 that
does carry ``Retry-After`` is a short-term throttle (a proxy, or the sandbox's requests per
second knob) and is ``RateLimited`` with that delay.

Past 400 lines: one API, its token lifecycle, its search and its quota lookup; they share
the error tree and the redaction. Reading a search page into listings is ``browse_items``.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import copy
import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote_plus, urlencode

import httpx

from .base import (
    AuthFailed,
    ClientError,
    ErrorContext,
    ListingPage,
    ListingQuery,
    MarketplaceError,
    ParseError,
    QuotaExhausted,
    RateLimited,
)
from .browse_items import SearchPage, parse_item_summary, read_search_page
from .values import parse_count
from .wire import (
    Endpoint,
    RequestTemplate,
    Scrubber,
    decode_json,
    error_for_status,
    parse_retry_after,
    redact_url,
    send,
    send_request,
    try_json,
)

logger = logging.getLogger("collection.marketplaces")

PROVIDER = "ebay"
TOKEN_SCOPE = "https://api.ebay.com/oauth/api_scope"
TOKEN_EXPIRY_MARGIN_S = 300
MAX_LIMIT = 200
MAX_RESULT_WINDOW = 10_000  # offset must stay below this (errorId 12029)
QUOTA_LOOKUP_TTL_S = 60.0

_AUTH_ERRORS = frozenset(
    {"invalid_client", "invalid_grant", "unauthorized_client", "invalid_scope"}
)


@dataclass(frozen=True, slots=True)
class AppToken:
    value: str
    expires_at: float  # epoch seconds, already minus the safety margin


@dataclass(frozen=True, slots=True)
class BrowseQuota:
    limit: int | None
    remaining: int | None
    reset_at: dt.datetime | None


def _basic_auth(client_id: str, client_secret: str) -> str:
    raw = f"{client_id}:{client_secret}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _error_ids(body: object) -> list[int]:
    if not isinstance(body, dict) or not isinstance(body.get("errors"), list):
        return []
    ids = []
    for error in body["errors"]:
        if isinstance(error, dict) and isinstance(error.get("errorId"), int):
            ids.append(error["errorId"])
    return ids


def _error_detail(body: object, scrub: Scrubber) -> str:
    if isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"]:
        first = body["errors"][0]
        if isinstance(first, dict):
            return scrub(f"errorId {first.get('errorId')}: {first.get('message', '')}")
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return scrub(f"{body['error']}: {body.get('error_description', '')}")
    return ""


class EbayAppTokens:
    """The application access token of one eBay keyset (see the module docstring)."""

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        base_url: str,
        client_id: str,
        client_secret: str,
        scope: str = TOKEN_SCOPE,
        cache=None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + "/identity/v1/oauth2/token"
        self._headers = {
            "Authorization": _basic_auth(client_id, client_secret),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        self._body = urlencode({"grant_type": "client_credentials", "scope": scope})
        self._cache = cache  # a Django cache (or None: this object only)
        digest = hashlib.sha256(f"{base_url}\0{client_id}\0{scope}".encode()).hexdigest()
        self.cache_key = f"marketplaces:ebay-app-token:{digest[:32]}"
        self._clock = clock
        self._token: AppToken | None = None
        self._lock = asyncio.Lock()
        self._scrub = Scrubber([client_id, client_secret, self._headers["Authorization"][6:]])
        self.mints = 0  # tokens minted by this object (stats)
        self._attempts = 0  # mint requests answered (successfully or not)
        self._failure: MarketplaceError | None = None  # how the last mint request failed
        self._retry_at = 0.0  # a refused mint's Retry-After, as a self._clock() instant
        # Tokens a server rejected: never taken back from the shared cache. Between a 401's
        # invalidate() and its removal of the cached copy (two awaits), another worker's
        # get() can read the cache and would otherwise adopt the dead token again.
        self._rejected: collections.deque[str] = collections.deque(maxlen=8)

    def _valid(self, token: AppToken | None) -> bool:
        return token is not None and token.expires_at > self._clock()

    async def get(self) -> str:
        """A valid token; mints at most once however many workers ask at the same time.

        The outcome of a mint is shared both ways: a worker that waited while a mint was
        refused gets that refusal, instead of sending its own request right after it (which
        would ignore a Retry-After, hammer a failing endpoint behind the engine's backoff,
        or repeat bad credentials once per worker).
        """
        token = self._token
        if self._valid(token):
            return token.value  # type: ignore[union-attr]
        attempts_before = self._attempts
        async with self._lock:
            token = self._token
            if self._valid(token):
                return token.value  # type: ignore[union-attr]
            failure = self._failure
            if failure is not None:
                wait = self._retry_at - self._clock()
                if self._attempts != attempts_before:  # refused while we waited
                    raise copy.copy(failure)
                # The refusal said when to ask again, and that is not yet (only a RateLimited
                # sets a wait: see the mint below).
                if wait > 0 and isinstance(failure, RateLimited):
                    refusal = copy.copy(failure)
                    refusal.retry_after = wait
                    raise refusal
            token = await self._cache_get()
            if token is not None and token.value in self._rejected:
                token = None
            if not self._valid(token):
                try:
                    token = await self._mint()
                except MarketplaceError as exc:
                    self._failure = exc
                    retry_after = getattr(exc, "retry_after", None)
                    self._retry_at = self._clock() + (retry_after or 0.0)
                    raise
                finally:
                    self._attempts += 1
                self._failure = None
                await self._cache_set(token)
            self._token = token
            return token.value  # type: ignore[union-attr]

    async def invalidate(self, failed: str) -> None:
        """Forget ``failed`` (a token a server rejected) if it is still the current one."""
        self._rejected.append(failed)
        if self._token is not None and self._token.value == failed:
            self._token = None
        cached = await self._cache_get()
        if cached is not None and cached.value == failed and self._cache is not None:
            await self._cache.adelete(self.cache_key)

    async def _cache_get(self) -> AppToken | None:
        if self._cache is None:
            return None
        raw = await self._cache.aget(self.cache_key)
        if isinstance(raw, dict) and isinstance(raw.get("value"), str):
            try:
                return AppToken(value=raw["value"], expires_at=float(raw["expires_at"]))
            except (KeyError, TypeError, ValueError):
                return None
        return None

    async def _cache_set(self, token: AppToken) -> None:
        if self._cache is None:
            return
        ttl = max(1, int(token.expires_at - self._clock()))
        await self._cache.aset(
            self.cache_key, {"value": token.value, "expires_at": token.expires_at}, ttl
        )

    async def _mint(self) -> AppToken:
        display_url = redact_url(self._url)
        response = await send(
            self._client,
            "POST",
            self._url,
            provider=PROVIDER,
            display_url=display_url,
            scrub=self._scrub,
            headers=self._headers,
            content=self._body,
        )
        common: ErrorContext = {
            "provider": PROVIDER,
            "status_code": response.status_code,
            "url": display_url,
        }
        if response.status_code != 200:
            body = try_json(response)
            detail = "token: " + _error_detail(body, self._scrub)
            error = body.get("error") if isinstance(body, dict) else None
            if response.status_code == 400 and error in _AUTH_ERRORS:
                raise AuthFailed(f"{PROVIDER}: HTTP 400 {detail}", **common)
            raise error_for_status(
                response, provider=PROVIDER, display_url=display_url, detail=detail
            )
        body = decode_json(response, provider=PROVIDER, display_url=display_url)
        value = body.get("access_token") if isinstance(body, dict) else None
        expires_in = body.get("expires_in") if isinstance(body, dict) else None
        if (
            not isinstance(value, str)
            or not value
            or isinstance(expires_in, bool)
            or not isinstance(expires_in, int | float)
            or expires_in <= 0
        ):
            raise ParseError(
                f"{PROVIDER}: token response without access_token/expires_in", **common
            )
        self.mints += 1
        self._scrub.add(value)
        lifetime = max(float(expires_in) - TOKEN_EXPIRY_MARGIN_S, float(expires_in) / 2)
        logger.info("ebay: minted an application token (valid %.0f s)", lifetime)
        return AppToken(value=value, expires_at=self._clock() + lifetime)


def browse_filter(query: ListingQuery) -> str:
    """The one ``filter`` value of the dropshipper search."""
    return (
        "conditionIds:{1000},maxDeliveryCost:0,itemLocationCountry:US,deliveryCountry:US,"
        f"buyingOptions:{{FIXED_PRICE}},price:[{query.price_min:.2f}..{query.price_max:.2f}],"
        f"priceCurrency:{query.currency}"
    )


# browse_filter's constant head as urlencode quotes it (quote_plus), quoted once: quoting
# is per character, so the head's and the rest's quoted forms make the whole one.
_FILTER_HEAD = quote_plus(
    "conditionIds:{1000},maxDeliveryCost:0,itemLocationCountry:US,deliveryCountry:US,"
    "buyingOptions:{FIXED_PRICE},"
)


def encoded_query(q: str, limit: int, offset: int, query: ListingQuery) -> str:
    """``urlencode(search_params)`` of one page (``q`` already single-spaced), ~4 µs
    instead of ~17: the filter's constant head is quoted once."""
    band = quote_plus(f"{query.price_min:.2f}..{query.price_max:.2f}")
    return (
        f"q={quote_plus(q)}&limit={limit}&offset={offset}&filter={_FILTER_HEAD}"
        f"price%3A%5B{band}%5D%2CpriceCurrency%3A{quote_plus(query.currency)}"
    )


_READABLE = (("%7B", "{"), ("%7D", "}"), ("%5B", "["), ("%5D", "]"), ("%3A", ":"), ("%2C", ","))


def _readable(query: str) -> str:
    """An encoded query string with the filter's punctuation shown as itself."""
    for escaped, char in _READABLE:
        query = query.replace(escaped, char)
    return query


class EbayBrowseSearch:
    """``EbaySource`` over the Browse API ``item_summary/search``."""

    provider = PROVIDER

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        base_url: str,
        tokens: EbayAppTokens,
        marketplace_id: str = "EBAY_US",
    ) -> None:
        self._client = client
        self._base_url = base_url.rstrip("/")
        self._search_url = self._base_url + "/buy/browse/v1/item_summary/search"
        self._search_endpoint = Endpoint(self._search_url)
        self._display_url = redact_url(self._search_url)
        self._tokens = tokens
        self._marketplace_id = marketplace_id
        self._scrub = tokens._scrub
        self._quota_lock = asyncio.Lock()
        self._quota: tuple[float, BrowseQuota | None] | None = None
        self._warned: set[object] = set()
        # The search's merged request headers for the current token (wire.RequestTemplate).
        self._template: tuple[str, RequestTemplate] | None = None

    @staticmethod
    def page_window(query: ListingQuery) -> tuple[int, int] | None:
        """(limit, offset) of one page, or None when the page is past eBay's window."""
        limit = min(max(int(query.page_size), 1), MAX_LIMIT)
        offset = (max(query.page, 1) - 1) * limit
        return None if offset >= MAX_RESULT_WINDOW else (limit, offset)

    def search_params(self, query: ListingQuery) -> dict[str, str] | None:
        """The query string of one page, or None when the page is past eBay's window."""
        window = self.page_window(query)
        if window is None:
            return None
        return {
            "q": " ".join(query.keywords.split()),
            "limit": str(window[0]),
            "offset": str(window[1]),
            "filter": browse_filter(query),
        }

    async def _get(self, url: str | httpx.URL, params: dict | None, display_url: str, token: str):
        if params is None and url.__class__ is httpx.URL:  # a search (its endpoint's URL)
            template = self._template
            if template is None or template[0] != token:
                template = self._template = (
                    token,
                    RequestTemplate(
                        self._client,
                        "GET",
                        self._search_endpoint.url,
                        headers={
                            "Authorization": f"Bearer {token}",
                            "X-EBAY-C-MARKETPLACE-ID": self._marketplace_id,
                        },
                    ),
                )
            return await send_request(
                self._client,
                template[1].request(url),  # type: ignore[arg-type]
                provider=PROVIDER,
                display_url=display_url,
                scrub=self._scrub,
            )
        return await send(
            self._client,
            "GET",
            url,
            provider=PROVIDER,
            display_url=display_url,
            scrub=self._scrub,
            params=params,
            headers={
                "Authorization": f"Bearer {token}",
                "X-EBAY-C-MARKETPLACE-ID": self._marketplace_id,
            },
        )

    async def _authorized_get(self, url: str | httpx.URL, params: dict | None, display_url: str):
        """GET with the shared token; one re-mint and retry after a 401."""
        token = await self._tokens.get()
        response = await self._get(url, params, display_url, token)
        if response.status_code == 401:
            logger.info("ebay: 401 %s, minting a new token once", _error_ids(try_json(response)))
            await self._tokens.invalidate(token)
            token = await self._tokens.get()
            response = await self._get(url, params, display_url, token)
        return response

    async def search_listings(self, query: ListingQuery) -> ListingPage:
        window = self.page_window(query)
        if window is None:
            display_url = redact_url(f"{self._search_url}?{urlencode({'q': query.keywords})}")
            return ListingPage(listings=(), has_next=False, request_url=display_url)
        # The query string (search_params, encoded) is built once here and added to the
        # parsed endpoint (httpx would parse the whole URL character by character, and
        # once more to merge ``params``). Its parameters are ours and carry no secret, so
        # the display form needs no redaction beyond the base.
        limit, offset = window
        q = " ".join(query.keywords.split())
        encoded = encoded_query(q, limit, offset, query)
        url = self._search_endpoint.with_query(encoded)
        display_url = f"{self._display_url}?{_readable(encoded)}"[:2000]
        if not q:
            raise ClientError(f"{PROVIDER}: empty keywords", provider=PROVIDER, url=display_url)
        response = await self._authorized_get(url, None, display_url)
        if response.status_code != 200:
            raise await self._error(response, display_url)
        page = read_search_page(response.content, query)
        if page is None:  # refused by the typed decoder: the dicts, as orjson gives them
            page = _dict_page(response, query, display_url)
        self._note_warnings(page.warnings)
        has_next = bool(page.next) and offset + limit < MAX_RESULT_WINDOW
        return ListingPage(
            listings=tuple(page.listings),
            has_next=has_next,
            skipped=page.skipped,
            total=parse_count(page.total),
            request_url=display_url,
        )

    def _note_warnings(self, warnings: object) -> None:
        # e.g. 12012: price without priceCurrency, the price filter was ignored. The
        # per-listing checks above still drop what the filters should have removed.
        if not isinstance(warnings, list):
            return
        for ids in _error_ids({"errors": warnings}):
            if ids not in self._warned:
                self._warned.add(ids)
                logger.warning("ebay: search returned warning errorId %s", ids)

    async def _error(self, response: httpx.Response, display_url: str) -> MarketplaceError:
        body = try_json(response)
        detail = _error_detail(body, self._scrub)
        status = response.status_code
        common: ErrorContext = {"provider": PROVIDER, "status_code": status, "url": display_url}
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            message = f"{PROVIDER}: HTTP 429 {detail}".rstrip()
            if retry_after is None and 2001 in _error_ids(body):
                quota = await self.rate_limits()
                return QuotaExhausted(
                    message + " (daily call quota spent)",
                    reset_at=quota.reset_at if quota else None,
                    **common,
                )
            return RateLimited(message, retry_after=retry_after, **common)
        return error_for_status(response, provider=PROVIDER, display_url=display_url, detail=detail)

    async def rate_limits(self) -> BrowseQuota | None:
        """The Browse quota from the Developer Analytics API (best effort, cached 60 s)."""
        async with self._quota_lock:
            now = time.monotonic()
            if self._quota is not None and now - self._quota[0] < QUOTA_LOOKUP_TTL_S:
                return self._quota[1]
            quota = None
            url = self._base_url + "/developer/analytics/v1_beta/rate_limit/"
            params = {"api_context": "buy", "api_name": "Browse"}
            try:
                response = await self._authorized_get(url, params, redact_url(url))
                if response.status_code == 200:
                    quota = _parse_quota(try_json(response))
            except MarketplaceError as exc:
                logger.info("ebay: quota lookup failed: %s", exc)
            self._quota = (now, quota)
            return quota


def _dict_page(response: httpx.Response, query: ListingQuery, display_url: str) -> SearchPage:
    """A search page through ``decode_json`` and ``parse_item_summary`` (the page the
    typed decoder refused: ParseError for what is not a search page)."""
    data = decode_json(response, provider=PROVIDER, display_url=display_url)
    common: ErrorContext = {"provider": PROVIDER, "status_code": 200, "url": display_url}
    if not isinstance(data, dict):
        raise ParseError(f"{PROVIDER}: search response is not an object", **common)
    items = data.get("itemSummaries", [])
    if not isinstance(items, list):
        raise ParseError(f"{PROVIDER}: itemSummaries is not a list", **common)
    listings = []
    skipped = 0
    for item in items:
        listing = parse_item_summary(item, query)
        if listing is None:
            skipped += 1
        else:
            listings.append(listing)
    return SearchPage(listings, skipped, data.get("total"), data.get("next"), data.get("warnings"))


def _parse_quota(body: object) -> BrowseQuota | None:
    if not isinstance(body, dict) or not isinstance(body.get("rateLimits"), list):
        return None
    for api in body["rateLimits"]:
        resources = api.get("resources") if isinstance(api, dict) else None
        for resource in resources if isinstance(resources, list) else ():
            if not isinstance(resource, dict) or resource.get("name") != "buy.browse":
                continue
            for rate in resource.get("rates") or ():
                if not isinstance(rate, dict):
                    continue
                reset_at = None
                if isinstance(rate.get("reset"), str):
                    try:
                        reset_at = dt.datetime.fromisoformat(rate["reset"].replace("Z", "+00:00"))
                    except ValueError:
                        reset_at = None
                return BrowseQuota(
                    limit=parse_count(rate.get("limit")),
                    remaining=parse_count(rate.get("remaining")),
                    reset_at=reset_at,
                )
    return None


__all__ = [
    "AppToken",
    "BrowseQuota",
    "EbayAppTokens",
    "EbayBrowseSearch",
    "browse_filter",
    "parse_item_summary",
]
