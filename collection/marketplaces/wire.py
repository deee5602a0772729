"""HTTP plumbing shared by the adapters: one request in, a response or a classified
``MarketplaceError`` out, with credentials kept out of every message and URL.

How a failure is classified (see ``base`` for what the engine does with each class):

    httpx.TimeoutException                    → RequestTimeout   (timeout)
    other httpx.TransportError                → ConnectionFailed (connection)
    HTTP 401 / 403                            → AuthFailed       (auth)
    HTTP 408                                  → RequestTimeout   (timeout)
    HTTP 429                                  → RateLimited      (rate_limited, Retry-After)
    HTTP 5xx, Oxylabs 524 / 612 / 613         → ServerError      (http_5xx)
    any other non-2xx                         → ClientError      (http_4xx)
    2xx whose body is not the JSON we expect  → ParseError       (parse_error)

Provider modules refine this (eBay's 429 errorId 2001 is a spent quota, its 401 is retried
once with a fresh token) before falling back to ``error_for_status``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import logging
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import orjson

from .base import (
    AuthFailed,
    ClientError,
    ConnectionFailed,
    ErrorContext,
    MarketplaceError,
    ParseError,
    RateLimited,
    RequestTimeout,
    ServerError,
)

logger = logging.getLogger("collection.marketplaces")

# Oxylabs job codes that mean "the job failed on their side" (524 timeout, 612 undefined
# internal error, 613 faulted after too many retries): retryable like a 5xx.
PROVIDER_SERVER_CODES = frozenset({524, 612, 613})

_SECRET_PARAM = re.compile(
    r"key|token|secret|passw|pwd|auth|signature|^sig$|credential|session", re.IGNORECASE
)
_MAX_DETAIL = 200
REDACTED = "REDACTED"


def redact_url(url: str | httpx.URL) -> str:
    """The URL without userinfo and with secret-looking query values replaced.

    Safe to put in an event, a log line, an exception or a database row.
    """
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return ""
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_PARAM.search(name) for name, _ in pairs):
            query = urlencode(
                [(n, REDACTED if _SECRET_PARAM.search(n) else v) for n, v in pairs],
                safe="{}[]:,|.",
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))[:2000]


def parse_retry_after(value: str | None, *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds ("120") or an HTTP-date
    ("Wed, 21 Oct 2026 07:28:00 GMT"). A date in the past is 0; garbage is None."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        seconds = float(text)  # not RFC 9110, but some servers send "1.5"
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and seconds == seconds and seconds != float("inf") else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())


class Scrubber:
    """Replaces known secret values in free text (provider error messages, transport
    errors) before they become part of an exception message."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        for secret in secrets:
            if secret and len(secret) >= 3 and secret not in self._secrets:
                self._secrets.append(secret)
        self._secrets.sort(key=len, reverse=True)

    def __call__(self, text: object, limit: int = _MAX_DETAIL) -> str:
        out = str(text)
        for secret in self._secrets:
            if secret in out:
                out = out.replace(secret, "***")
        out = " ".join(out.split())
        return out if len(out) <= limit else out[: limit - 1] + "…"


# What ``urllib.parse.urlencode`` produces: unreserved characters, "+", "=", "&" and %XX
# escapes, none of which httpx re-quotes. Checked as those characters and "%", with no
# "%" not followed by two hex digits: the same strings as ``(?:[…]|%[0-9A-Fa-f]{2})*``,
# a fifth of its cost (one class instead of an alternation per character).
_ENCODED_CHARS = re.compile(r"[A-Za-z0-9._~+=&%-]*")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _is_encoded_query(query: str) -> bool:
    return _ENCODED_CHARS.fullmatch(query) is not None and (
        "%" not in query or _BAD_ESCAPE.search(query) is None
    )


class Endpoint:
    """One API URL, parsed and checked by httpx once, to which each request adds its own
    encoded query string.

    ``httpx.URL("…?q=…")`` checks every character of the URL in Python and re-quotes each
    part (~60 µs for a Browse search URL, every request); a query that ``urlencode`` made
    needs neither, so ``with_query`` puts it into a copy of the parsed URL. That copy is
    built from httpx's parsed form (``URL._uri_reference``, a private attribute): it is
    checked once, here, against what httpx itself builds from the same string, and where
    it differs (another httpx version) every URL is parsed by httpx as before.
    """

    _PROBE = "q=a+b&filter=price%3A%5B1..2%5D&limit=200"

    def __init__(self, url: str) -> None:
        self.url = httpx.URL(url)
        if self.url.query or self.url.fragment:
            raise ValueError("an Endpoint has no query or fragment of its own")
        self.text = str(self.url)
        self._fast = False
        try:
            fast = self._build(self._PROBE)
            slow = httpx.URL(f"{self.text}?{self._PROBE}")
            self._fast = fast == slow and str(fast) == str(slow) and fast.params == slow.params
        except Exception:  # an httpx without that attribute: parse every URL
            self._fast = False

    def _build(self, query: str) -> httpx.URL:
        url = httpx.URL.__new__(httpx.URL)
        url._uri_reference = self.url._uri_reference._replace(query=query)  # type: ignore[attr-defined]
        return url

    def with_query(self, query: str) -> httpx.URL:
        """The endpoint's URL with ``query``, an encoded query string (``urlencode``)."""
        if not query:
            return self.url
        if self._fast and _is_encoded_query(query):
            return self._build(query)
        return httpx.URL(f"{self.text}?{query}")


def _is_real_timeout(exc: httpx.TimeoutException) -> bool:
    # httpx-aiohttp maps every aiohttp.ClientConnectionError (server disconnected,
    # connection reset) to httpx.ConnectTimeout; only a timeout underneath is a timeout.
    cause = exc.__cause__
    return cause is None or isinstance(cause, TimeoutError)


class RequestTemplate:
    """The headers and extensions of one kind of request, merged by the client once.

    ``client.request`` merges the client's default headers with the request's, its
    cookies, URL and timeout into a new ``httpx.Request`` each time; a search sends the
    same headers to the same host thousands of times. ``request(url)`` builds the
    ``httpx.Request`` from what ``client.build_request`` merged for the first one (the
    ``Host`` header included: every URL given must be on the template's origin), and
    ``send_request`` sends it through ``client.send`` as ``client.request`` does.
    """

    def __init__(self, client: httpx.AsyncClient, method: str, url: httpx.URL, **kwargs) -> None:
        built = client.build_request(method, url, **kwargs)
        if built.content:
            raise ValueError("a RequestTemplate has no body")
        self.method = built.method
        self.headers = built.headers
        self.extensions = built.extensions

    def request(self, url: httpx.URL) -> httpx.Request:
        return httpx.Request(self.method, url, headers=self.headers, extensions=self.extensions)


def _transport_failure(exc: Exception, provider: str, display_url: str, scrub: Scrubber):
    """The MarketplaceError for a transport exception, or None when it is not one.

    The original exception is not chained by the callers (``from None``): its text is
    kept, scrubbed, in the message, and nothing that carried request headers can leak
    through a traceback.
    """
    if isinstance(exc, httpx.TimeoutException):
        kind = RequestTimeout if _is_real_timeout(exc) else ConnectionFailed
        message = f"{provider}: {type(exc).__name__} {scrub(exc) or ''}".rstrip()
        return kind(message, provider=provider, url=display_url)
    if isinstance(exc, httpx.TransportError):
        message = f"{provider}: {type(exc).__name__} {scrub(exc) or ''}".rstrip()
        return ConnectionFailed(message, provider=provider, url=display_url)
    if isinstance(exc, (OSError, asyncio.IncompleteReadError)):  # a transport that did not map it
        message = f"{provider}: {type(exc).__name__} {scrub(exc)}"
        return ConnectionFailed(message, provider=provider, url=display_url)
    return None


_TRANSPORT_ERRORS = (httpx.TransportError, OSError, asyncio.IncompleteReadError)


def _unbound(response: httpx.Response) -> httpx.Response:
    """The response with its body as a plain stream, out of httpx's reference cycle.

    ``client.send`` wraps the stream in a ``BoundAsyncStream`` that points back at the
    response, so every response (its body, ~200 KB for a Browse page of 200 items, its
    request and headers) waited for the cyclic garbage collector instead of being freed
    when the adapter dropped it. The engine runs with a high gen-0 threshold
    (``engine.collector``), so the bodies piled up for thousands of requests: peak RSS grew
    with the run's size (bench/memory.py). The body is read by then (``send`` without
    ``stream=True``), so the plain stream loses nothing.
    """
    if hasattr(response, "_content"):  # read: what aread() returns from now on
        response.stream = httpx.ByteStream(response.content)
    return response


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str | httpx.URL,
    *,
    provider: str,
    display_url: str,
    scrub: Scrubber,
    **kwargs,
) -> httpx.Response:
    """One request; transport failures come back as RequestTimeout / ConnectionFailed."""
    try:
        response = await client.request(method, url, **kwargs)
    except _TRANSPORT_ERRORS as exc:
        raise _transport_failure(exc, provider, display_url, scrub) from None  # type: ignore[misc]
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("%s %s %s → %s", provider, method, display_url, response.status_code)
    return _unbound(response)


async def send_request(
    client: httpx.AsyncClient,
    request: httpx.Request,
    *,
    provider: str,
    display_url: str,
    scrub: Scrubber,
) -> httpx.Response:
    """``send`` for a request built beforehand (``RequestTemplate.request``)."""
    try:
        response = await client.send(request)
    except _TRANSPORT_ERRORS as exc:
        raise _transport_failure(exc, provider, display_url, scrub) from None  # type: ignore[misc]
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("%s %s %s → %s", provider, request.method, display_url, response.status_code)
    return _unbound(response)


def error_for_status(
    response: httpx.Response, *, provider: str, display_url: str, detail: str = ""
) -> MarketplaceError:
    """The generic classification of a non-success response (see the module docstring)."""
    status = response.status_code
    message = f"{provider}: HTTP {status}" + (f" {detail}" if detail else "")
    common: ErrorContext = {"provider": provider, "status_code": status, "url": display_url}
    if status in (401, 403):
        return AuthFailed(message, **common)
    if status == 408:
        return RequestTimeout(message, **common)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return RateLimited(message, retry_after=retry_after, **common)
    if status >= 500 or status in PROVIDER_SERVER_CODES:
        return ServerError(message, **common)
    return ClientError(message, **common)


def decode_json(response: httpx.Response, *, provider: str, display_url: str) -> object:
    """The JSON body, or ParseError for an empty, truncated or HTML body."""
    body = response.content
    common: ErrorContext = {
        "provider": provider,
        "status_code": response.status_code,
        "url": display_url,
    }
    head = body[:64].lstrip()
    if not head:
        raise ParseError(f"{provider}: empty body where JSON was expected", **common)
    if head[:1] == b"<":
        raise ParseError(f"{provider}: HTML where JSON was expected", **common)
    try:
        # orjson: ~4x less CPU than the stdlib on a 16 KB search page (bench/README.md).
        # It refuses what strict JSON refuses (NaN, nesting past 1,024 levels, integers
        # past 64 bits): a page like that fails its task as a ParseError.
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ParseError(f"{provider}: invalid JSON ({len(body)} bytes)", **common) from None


def try_json(response: httpx.Response) -> object:
    """The body as JSON when it is JSON, else None (for error bodies)."""
    try:
        return orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        return None
