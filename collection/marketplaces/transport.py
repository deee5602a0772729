"""The HTTP client of a run: httpx's client API, lighter per request.

``ApiClient`` is an ``httpx.AsyncClient`` that keeps no cookies: the adapters authenticate
with headers, and httpx's cookie persistence costs ~40 µs a response (it wraps every
response and request in urllib's cookie-jar adapters, re-parsing the URL, even when no
``Set-Cookie`` came). A provider's cookie is neither stored nor sent back.

``BodyTransport`` is the live transport.

``httpx_aiohttp.AiohttpTransport`` (what the design chose over httpx's own pool, see
DESIGN.md §3) streams every body through four layers of async generators in 16 KB chunks
(its stream, httpx's bound stream, ``aiter_raw``, ``aiter_bytes``), converts the request's
``httpx.Headers`` to aiohttp's through their decoded ``items()``, builds a
``ClientTimeout`` and several keyword defaults per request, and lets aiohttp re-parse and
re-quote the URL httpx has already validated. ``BodyTransport`` keeps its construction
(limits, TLS context, the aiohttp session) and its exception mapping, and sends the
request with what the adapters use only:

- the URL handed over as already encoded (``yarl.URL(…, encoded=True)``): httpx has
  checked and quoted it;
- the headers as a list of pairs from ``Headers.raw`` (the bytes httpx holds);
- one ``ClientTimeout`` per distinct timeout (a run has two: Browse and Oxylabs);
- no cookie jar in the aiohttp session either (``DummyCookieJar``);
- the body read whole inside the transport (``ClientResponse.read``, one buffer) and
  handed to httpx as one ``httpx.ByteStream``: ``Response.aread`` then takes one step.

Not supported, because no adapter uses them: proxies, Unix sockets, streamed request
bodies, streamed responses (every body here is a JSON or HTML page read whole), HTTP/2.
A request that needs one of them raises ``NotImplementedError`` rather than being sent
differently.

Exceptions are mapped exactly as ``httpx_aiohttp`` maps them (``map_aiohttp_exceptions``),
now also around the body read: a connection reset mid-body is an ``httpx.ReadError`` (a
``TransportError``), as it was from ``Response.aread``.
"""

from __future__ import annotations

import httpx
from aiohttp import ClientSession, ClientTimeout, DummyCookieJar, TCPConnector
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import map_aiohttp_exceptions
from yarl import URL

HTTP_VERSION = {"http_version": b"HTTP/1.1"}


class _NoCookies(httpx.Cookies):
    """An always-empty cookie store: ``extract_cookies`` and ``set`` keep nothing."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        return None


class ApiClient(httpx.AsyncClient):
    """``httpx.AsyncClient`` without cookie persistence (see the module docstring)."""

    _no_cookies = _NoCookies()

    @property  # type: ignore[override]
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies) -> None:
        if cookies:
            raise ValueError("ApiClient keeps no cookies")


class BodyTransport(AiohttpTransport):
    """``AiohttpTransport`` for whole-body requests (see the module docstring)."""

    def __init__(self, **kwargs) -> None:
        if kwargs.get("proxy") is not None or kwargs.get("uds") is not None:
            raise NotImplementedError("BodyTransport sends neither through proxies nor sockets")
        super().__init__(**kwargs)
        self._timeouts: dict[tuple, ClientTimeout] = {}

    def get_client(self) -> ClientSession:
        """``AiohttpTransport``'s session, with aiohttp's cookie jar off as well: it would
        store a provider's ``Set-Cookie`` and send it back behind ``ApiClient``'s back
        (and filter every request's cookies for nothing)."""
        if self.client is not None:
            return super().get_client()
        limits = self.limits
        connector = TCPConnector(
            keepalive_timeout=limits.keepalive_expiry,
            ssl=self.ssl_context,
            local_addr=(self.local_address, 0) if self.local_address else None,
            # aiohttp's default (100) where httpx's Limits leave it open, as the stock
            # transport builds it.
            limit=100 if limits.max_connections is None else limits.max_connections,
        )
        return ClientSession(connector=connector, cookie_jar=DummyCookieJar())

    def _timeout(self, timeout: dict) -> ClientTimeout:
        key = (timeout.get("connect"), timeout.get("read"), timeout.get("pool"))
        found = self._timeouts.get(key)
        if found is None:
            found = self._timeouts[key] = ClientTimeout(
                sock_connect=key[0], sock_read=key[1], connect=key[2]
            )
        return found

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self.client
        if not isinstance(session, ClientSession):
            session = self.client = self.get_client()
        extensions = request.extensions
        raw = request.headers.raw
        stream = request.stream
        if isinstance(stream, httpx.ByteStream):
            data: bytes | None = request.content or None
        else:  # pragma: no cover - no adapter streams a request body
            raise NotImplementedError("BodyTransport sends whole request bodies only")
        with map_aiohttp_exceptions():
            response = await session.request(
                request.method,
                URL(str(request.url), encoded=True),
                headers=[(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw],
                data=data,
                allow_redirects=False,
                auto_decompress=False,
                compress=False,
                timeout=self._timeout(extensions.get("timeout", {})),
                server_hostname=extensions.get("sni_hostname"),
            )
            try:
                body = await response.read()
            finally:
                response.release()
        reason = response.reason
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=httpx.ByteStream(body),
            request=request,
            extensions={**HTTP_VERSION, "reason_phrase": reason.encode()}
            if reason
            else HTTP_VERSION,
        )
