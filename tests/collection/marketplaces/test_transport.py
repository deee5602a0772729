"""The run's HTTP client: ``Endpoint`` URLs, ``ApiClient`` (no cookies) and
``BodyTransport`` against a real aiohttp server on loopback, beside the stock
``AiohttpTransport`` it replaces (same answers, same failure classes)."""

import asyncio
import gzip
import json
import random
import re
from urllib.parse import urlencode

import httpx
import pytest
from aiohttp import web
from httpx_aiohttp import AiohttpTransport

from collection.marketplaces import wire
from collection.marketplaces.base import ConnectionFailed, RequestTimeout
from collection.marketplaces.transport import ApiClient, BodyTransport
from collection.marketplaces.wire import Endpoint, RequestTemplate, Scrubber, send, send_request

SEARCH = "https://api.ebay.com/buy/browse/v1/item_summary/search"


@pytest.mark.parametrize(
    "params",
    [
        {"q": "wireless earbuds", "limit": "200", "offset": "0"},
        {"q": "Sony WH-1000XM5 ~ (black)", "filter": "price:[10.00..20.00],priceCurrency:USD"},
        {"q": "café crème 100% ½", "x": "a&b=c#d?e/f"},
        {"q": ""},
    ],
)
def test_endpoint_url_is_the_url_httpx_builds_from_the_string(params):
    endpoint = Endpoint(SEARCH)
    query = urlencode(params)
    fast, slow = endpoint.with_query(query), httpx.URL(f"{SEARCH}?{query}")
    assert fast == slow
    assert str(fast) == str(slow)
    assert fast.params == slow.params and fast.raw_path == slow.raw_path
    assert fast.host == "api.ebay.com" and fast.path == slow.path


@pytest.mark.parametrize("query", ["q=a b", "q=é", "q=%zz", "q=[1]"])
def test_endpoint_leaves_a_query_urlencode_did_not_make_to_httpx(query):
    endpoint = Endpoint(SEARCH)
    assert str(endpoint.with_query(query)) == str(httpx.URL(f"{SEARCH}?{query}"))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_encoded_query_check_is_the_alternation_it_replaces(seed):
    """``wire._is_encoded_query`` accepts exactly what the regex it replaced accepted."""
    reference = re.compile(r"(?:[A-Za-z0-9._~+=&-]|%[0-9A-Fa-f]{2})*")
    rng = random.Random(seed)
    alphabet = "%%%aF9g.-_~+=&/ ?#[]é\t"
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        assert wire._is_encoded_query(text) == (reference.fullmatch(text) is not None), text
    assert wire._is_encoded_query("q=a+b&filter=price%3A%5B1..2%5D%2C")
    assert not wire._is_encoded_query("q=%zz") and not wire._is_encoded_query("q=%4")


def test_endpoint_refuses_what_httpx_refuses():
    with pytest.raises(httpx.InvalidURL):
        Endpoint(SEARCH).with_query("q=a\tb")


def test_endpoint_without_query_and_rejects_one_of_its_own():
    assert Endpoint(SEARCH).with_query("") == httpx.URL(SEARCH)
    with pytest.raises(ValueError):
        Endpoint(SEARCH + "?limit=5")


async def test_api_client_neither_stores_nor_sends_back_cookies():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"Set-Cookie": "session=abc; Path=/"}, json={})

    async with ApiClient(transport=httpx.MockTransport(handler)) as client:
        await client.get("https://api.example.com/a")
        await client.get("https://api.example.com/b")
        assert not client.cookies
        with pytest.raises(ValueError):
            client.cookies = {"a": "b"}
    assert "cookie" not in seen[1].headers
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as stock:
        await stock.get("https://api.example.com/a")
        await stock.get("https://api.example.com/b")
    assert "cookie" in seen[3].headers  # what ApiClient avoids


# --- BodyTransport over loopback ------------------------------------------------------------


async def _server(routes: web.RouteTableDef):
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


def _routes() -> web.RouteTableDef:
    routes = web.RouteTableDef()

    @routes.get("/echo")
    async def echo(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "raw_path": request.raw_path,
                "params": dict(request.query),
                "headers": {k.lower(): v for k, v in request.headers.items()},
            },
            headers={"Retry-After": "7", "X-Trace": "t1"},
            status=429 if "limited" in request.query else 200,
        )

    @routes.get("/cookie")
    async def cookie(request: web.Request) -> web.Response:
        response = web.json_response({"cookie": request.headers.get("Cookie")})
        response.set_cookie("session", "abc", path="/")
        return response

    @routes.post("/form")
    async def form(request: web.Request) -> web.Response:
        body = await request.read()
        return web.Response(body=body[::-1], content_type="application/octet-stream")

    @routes.get("/big")
    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 300_000, content_type="application/octet-stream")

    @routes.get("/gzip")
    async def gzipped(request: web.Request) -> web.Response:
        body = gzip.compress(json.dumps({"ok": True}).encode())
        return web.Response(
            body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    @routes.get("/slow")
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1.5)
        return web.Response(text="late")

    @routes.get("/cut")
    async def cut(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "100000"})
        await response.prepare(request)
        await response.write(b"{" * 1000)
        request.transport.close()  # type: ignore[union-attr]
        return response

    return routes


@pytest.fixture
async def loopback():
    runner, base = await _server(_routes())
    try:
        yield base
    finally:
        await runner.cleanup()


def _client(transport=BodyTransport, **kwargs) -> ApiClient:
    return ApiClient(
        transport=transport(limits=httpx.Limits(max_connections=4)),
        headers={"User-Agent": "SellerScout/test"},
        trust_env=False,
        **kwargs,
    )


async def test_body_transport_sends_the_url_and_headers_as_given(loopback):
    endpoint = Endpoint(loopback + "/echo")
    query = urlencode({"q": "café 100% [x]", "filter": "price:[1..2],a:{b|c}"})
    async with _client() as client:
        response = await client.get(
            endpoint.with_query(query), headers={"Authorization": "Bearer T0K"}
        )
    assert response.status_code == 200
    data = response.json()
    assert data["raw_path"] == "/echo?" + query  # exactly the encoded form, not re-quoted
    assert data["params"] == {"q": "café 100% [x]", "filter": "price:[1..2],a:{b|c}"}
    assert data["headers"]["authorization"] == "Bearer T0K"
    assert data["headers"]["user-agent"] == "SellerScout/test"
    assert response.headers["x-trace"] == "t1"
    assert response.headers["content-type"].startswith("application/json")
    assert response.reason_phrase == "OK" and response.http_version == "HTTP/1.1"


@pytest.mark.parametrize("transport", [AiohttpTransport, BodyTransport])
async def test_body_transport_statuses_bodies_and_content_encoding(loopback, transport):
    async with _client(transport) as client:
        limited = await client.get(loopback + "/echo?limited=1")
        assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
        posted = await client.post(loopback + "/form", content=b"abc=1&d=2")
        assert posted.content == b"2=d&1=cba"
        big = await client.get(loopback + "/big")
        assert big.content == b"x" * 300_000
        assert (await client.get(loopback + "/gzip")).json() == {"ok": True}


@pytest.mark.parametrize("transport", [AiohttpTransport, BodyTransport])
async def test_body_transport_failures_classify_as_before(loopback, transport):
    scrub = Scrubber()

    async def fetch(client, path):
        return await send(
            client, "GET", loopback + path, provider="test", display_url=path, scrub=scrub
        )

    async with _client(transport, timeout=httpx.Timeout(0.3)) as client:
        with pytest.raises(RequestTimeout):
            await fetch(client, "/slow")
        with pytest.raises(ConnectionFailed):  # the body cut short
            await fetch(client, "/cut")
    async with _client(transport) as client:
        with pytest.raises(ConnectionFailed):
            await send(
                client,
                "GET",
                "http://127.0.0.1:9/nothing",
                provider="test",
                display_url="",
                scrub=scrub,
            )


def test_body_transport_refuses_what_it_does_not_do():
    with pytest.raises(NotImplementedError):
        BodyTransport(proxy=httpx.Proxy("http://proxy.invalid:3128"))
    with pytest.raises(NotImplementedError):
        BodyTransport(uds="/tmp/socket")


async def test_body_transport_keeps_no_cookie_either(loopback):
    """aiohttp's own jar would store the cookie and send it back under ApiClient."""
    async with _client() as client:
        first = await client.get(loopback + "/cookie")
        assert "session=abc" in first.headers["set-cookie"]
        second = await client.get(loopback + "/cookie")
    assert first.json() == second.json() == {"cookie": None}


async def test_a_request_template_sends_what_client_request_sends(loopback):
    endpoint = Endpoint(loopback + "/echo")
    headers = {"Authorization": "Bearer T0K", "X-EBAY-C-MARKETPLACE-ID": "EBAY_US"}
    query = urlencode({"q": "café 100% [x]", "limit": "200"})
    scrub = Scrubber()
    async with _client() as client:
        template = RequestTemplate(client, "GET", endpoint.url, headers=headers)
        plain = await client.get(endpoint.with_query(query), headers=headers)
        built = await send_request(
            client,
            template.request(endpoint.with_query(query)),
            provider="test",
            display_url="",
            scrub=scrub,
        )
        second = template.request(endpoint.with_query("q=other"))
        assert second.url.params["q"] == "other" and second.headers == template.headers
    assert built.status_code == plain.status_code == 200
    assert built.json() == plain.json()
    assert built.request.headers.raw == plain.request.headers.raw
    assert built.request.extensions == plain.request.extensions
    with pytest.raises(ValueError):
        RequestTemplate(client, "POST", endpoint.url, content=b"x")


async def test_send_request_failures_classify_as_send(loopback):
    scrub = Scrubber(["T0K"])
    async with _client(timeout=httpx.Timeout(0.3)) as client:
        slow = RequestTemplate(client, "GET", httpx.URL(loopback + "/slow"))
        with pytest.raises(RequestTimeout):
            await send_request(
                client,
                slow.request(slow_url := httpx.URL(loopback + "/slow")),
                provider="t",
                display_url=str(slow_url),
                scrub=scrub,
            )
        cut = RequestTemplate(client, "GET", httpx.URL(loopback + "/cut"))
        with pytest.raises(ConnectionFailed):
            await send_request(
                client,
                cut.request(httpx.URL(loopback + "/cut")),
                provider="t",
                display_url="",
                scrub=scrub,
            )
        nothing = RequestTemplate(client, "GET", httpx.URL("http://127.0.0.1:9/nothing"))
        with pytest.raises(ConnectionFailed) as info:
            await send_request(
                client,
                nothing.request(httpx.URL("http://127.0.0.1:9/nothing")),
                provider="t",
                display_url="",
                scrub=scrub,
            )
    assert info.value.__cause__ is None and info.value.__suppress_context__
