"""The sandbox marketplace: a plain ASGI app that speaks the provider APIs.

(~560 lines: the HTTP handlers of every provider stay together with the request pipeline
they share; the data, bodies and faults live in their own modules.)

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
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from urllib.parse import parse_qs, parse_qsl, urlencode

from . import amazon, ebay_browse, faults, sellers, tokens, universe
from .catalogue import CatalogueParams, h64
from .config import SandboxConfig
from .ebay_browse import BROWSE_MAX_WINDOW, parse_browse_filter
from .oxylabs import _amazon_body, _ebay_page_body, _int, _parse_ebay_url
from .responses import Response, _json, reason_phrase
from .responses import browse_error as _browse_error

__all__ = ["MAX_BODY", "RequestRecord", "SandboxApp", "caches_clear", "reason_phrase"]

MAX_BODY = 1_000_000
TOKEN_PREFIX = "v^1.1#i^1#p^1#r^0#I^3#t^"
OXYLABS_DOMAINS = frozenset({"com", "co.uk", "de", "ca", "com.au", "it", "pl", "fr", "es"})
OXYLABS_SOURCES = ("amazon_bestsellers", "ebay", "universal", "ebay_search")
EBAY_SCOPE = "https://api.ebay.com/oauth/api_scope"


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
        self._signed: dict[str, tuple[str, str]] = {}  # token → its (expires, generation)
        self._quota_epoch = (  # see SandboxConfig.quota_epoch
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

    async def _answer(
        self, route: _Route, request: Request, fault_u: float, malformed_u: float, variant_u: float
    ) -> Response:
        cfg = self.config
        if cfg.rate_limit_rps > 0:
            bucket = self._buckets.get(route.provider)
            if bucket is None:
                bucket = self._buckets[route.provider] = _TokenBucket(cfg.rate_limit_rps)
            wait = bucket.take()
            if wait is not None:
                return faults.rate_limited(route.kind, wait)
        if fault_u < cfg.timeout_rate:
            await asyncio.sleep(cfg.timeout_sleep_s)
            return _json(504, {"message": "Gateway timeout"})
        if fault_u < cfg.timeout_rate + cfg.error_rate:
            return faults.server_error(route.kind, variant_u)
        if fault_u < cfg.timeout_rate + cfg.error_rate + cfg.rate_limited_rate:
            return faults.rate_limited(route.kind, cfg.retry_after_s)
        response = await route.handler(self, request)
        if response.status == 200 and malformed_u < cfg.malformed_rate:
            return faults.malformed(route.kind, response, variant_u)
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
        signed = self._signed.get(token)
        if signed is None:
            signed = self._signed_token(token)
            if signed is None:
                return False
            if len(self._signed) >= 1024:  # a run has one or two tokens
                self._signed.clear()
            self._signed[token] = signed
        expires, generation = signed
        return generation == str(self._token_generation) and int(expires) > time.time()

    def _signed_token(self, token: str) -> tuple[str, str] | None:
        """(expires, generation) of a token this app signed, else None. Memoised per token
        by ``_token_valid`` (its signature never changes; expiry and generation are
        checked on every request)."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        try:
            decoded = base64.urlsafe_b64decode(token[len(TOKEN_PREFIX) :].encode()).decode()
            client, expires, generation, signature = decoded.split(".")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        payload = f"{client}.{expires}.{generation}"
        expected = hmac.new(self._token_key, payload.encode(), hashlib.sha256).hexdigest()[:24]
        if not hmac.compare_digest(expected, signature):
            return None
        return expires, generation

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
            given = payload.get("url")
            if not isinstance(given, str) or not given:
                return _json(400, {"message": "url: field required"})
            url = given
        search = _parse_ebay_url(url)
        if search is None:
            return _json(
                400,
                {
                    "message": "url: the sandbox serves eBay search pages "
                    "(https://www.ebay.com/sch/i.html) only"
                },
            )
        if universe.ready(self.params, search.keywords):
            return Response(200, _ebay_page_body(self.params, source, url, search))
        # A first search in a part of the universe builds it (tens of ms): off the loop,
        # so the other requests (429s, tokens) keep their timing meanwhile.
        body = await asyncio.to_thread(_ebay_page_body, self.params, source, url, search)
        return Response(200, body)

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
        args = (self.params, request.origin, q, raw_filter, limit, offset)
        if universe.ready(self.params, q):
            body = ebay_browse.browse_body(*args)
        else:  # builds part of the universe: off the loop (see oxylabs_queries)
            body = await asyncio.to_thread(ebay_browse.browse_body, *args)
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
    """Forget every memoised catalogue page, shard and response body (determinism tests)."""
    for cached in (
        parse_browse_filter,
        _amazon_body,
        _ebay_page_body,
        ebay_browse.browse_body,
        amazon.profile_products,
        amazon.asin_index,
        amazon.node_products,
        amazon.category_records,
        universe.model_routing,
        universe.lookalike_models,
        universe.search,
        universe.fewer_words,
        sellers.dropshippers,
        sellers.retailers,
        tokens.parse_query,
    ):
        cached.cache_clear()
    universe.shards_clear()
    ebay_browse.items_clear()
