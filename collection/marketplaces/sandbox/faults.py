"""Injected faults: throttling (429), transient server errors and malformed bodies, in
each provider's own shape. Which request gets which is decided in ``app`` by the fault RNG.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

from . import ebay_pages
from .responses import Response, _html, _json
from .responses import browse_error as _browse_error


def rate_limited(kind: str, wait: float) -> Response:
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


def server_error(kind: str, u: float) -> Response:
    options: tuple[Callable[[], Response], ...]
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


def malformed(kind: str, response: Response, u: float) -> Response:
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
        content: str | dict[str, object]
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
