"""Request plumbing: error classification, Retry-After, redaction."""

import datetime as dt
import email.utils
import gc
import weakref

import aiohttp
import httpx
import pytest

from collection.marketplaces.base import (
    AuthFailed,
    ClientError,
    ConnectionFailed,
    ParseError,
    RateLimited,
    RequestTimeout,
    ServerError,
)
from collection.marketplaces.wire import (
    Scrubber,
    decode_json,
    error_for_status,
    parse_retry_after,
    redact_url,
    send,
    send_request,
)

from .support import recorded_client


def test_redact_url_drops_userinfo_and_secret_params():
    url = (
        "https://user:pa55@api.example.com/v1/x?q=ear+buds&api_key=K123&access_token=T"
        "&client_secret=S&password=P&filter=price:[1..2]"
    )
    redacted = redact_url(url)
    for secret in ("user", "pa55", "K123", "=T&", "=S&", "=P&"):
        assert secret not in redacted
    assert redacted.startswith("https://api.example.com/v1/x?q=ear+buds&api_key=REDACTED")
    assert "filter=price:[1..2]" in redacted
    assert redact_url("https://api.example.com/a?q=1") == "https://api.example.com/a?q=1"


def test_retry_after_delta_seconds_and_http_date():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 3 ") == 3.0
    now = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
    later = email.utils.format_datetime(now + dt.timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, now=now) == pytest.approx(90.0)
    earlier = email.utils.format_datetime(now - dt.timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(earlier, now=now) == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, AuthFailed),
        (403, AuthFailed),
        (408, RequestTimeout),
        (429, RateLimited),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (524, ServerError),
        (612, ServerError),
        (613, ServerError),
        (400, ClientError),
        (404, ClientError),
        (422, ClientError),
        (302, ClientError),
    ],
)
def test_status_classification(status, kind):
    response = httpx.Response(status, headers={"Retry-After": "7"})
    error = error_for_status(response, provider="p", display_url="https://x/")
    assert type(error) is kind
    assert error.status_code == status and error.provider == "p"
    if kind is RateLimited:
        assert error.retry_after == 7.0
        assert error.error_type == "rate_limited" and error.retryable


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"<!DOCTYPE html><html>", "HTML"),
        (b'{"results": [', "invalid JSON"),
        (b"\xff\xfe", "invalid JSON"),
    ],
)
def test_decode_json_errors(body, message):
    with pytest.raises(ParseError, match=message):
        decode_json(httpx.Response(200, content=body), provider="p", display_url="u")


def _raiser(exc: Exception):
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


async def _send(exc: Exception):
    async with recorded_client(_raiser(exc)) as client:
        await send(
            client,
            "GET",
            "https://api.example.com/x",
            provider="p",
            display_url="https://api.example.com/x",
            scrub=Scrubber(["hunter2secret"]),
        )


async def test_transport_timeouts_and_connection_errors():
    with pytest.raises(RequestTimeout):
        await _send(httpx.ReadTimeout("timed out"))
    with pytest.raises(RequestTimeout):
        await _send(httpx.ConnectTimeout("timed out"))
    with pytest.raises(ConnectionFailed):
        await _send(httpx.ConnectError("refused"))
    with pytest.raises(ConnectionFailed):
        await _send(httpx.RemoteProtocolError("peer closed"))


async def test_aiohttp_disconnect_mapped_to_connect_timeout_is_a_connection_error():
    # httpx-aiohttp maps every aiohttp.ClientConnectionError to httpx.ConnectTimeout.
    mapped = httpx.ConnectTimeout("Server disconnected")
    mapped.__cause__ = aiohttp.ServerDisconnectedError()
    with pytest.raises(ConnectionFailed):
        await _send(mapped)
    real = httpx.ReadTimeout("")
    real.__cause__ = aiohttp.SocketTimeoutError()
    with pytest.raises(RequestTimeout):
        await _send(real)


async def test_transport_error_text_is_scrubbed():
    with pytest.raises(ConnectionFailed) as info:
        await _send(httpx.ConnectError("could not auth as hunter2secret"))
    assert "hunter2secret" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


async def test_a_response_is_freed_when_dropped_not_at_the_next_garbage_collection():
    # httpx binds a response's stream to the response (a reference cycle): its body
    # waited for the cyclic collector, which a run paces slowly (engine.collector).
    client = recorded_client(lambda request: httpx.Response(200, content=b"x" * 200_000))
    context = {"provider": "p", "display_url": "https://api.example.com/x", "scrub": Scrubber([])}
    gc.disable()
    try:
        async with client:
            sent = await send(client, "GET", "https://api.example.com/x", **context)
            built = await send_request(
                client, client.build_request("GET", "https://api.example.com/y"), **context
            )
            assert sent.content == built.content == b"x" * 200_000
            assert await sent.aread() == b"x" * 200_000  # the body stays readable
            refs = [weakref.ref(sent), weakref.ref(built)]
            del sent, built
            assert [ref() for ref in refs] == [None, None]
    finally:
        gc.enable()
