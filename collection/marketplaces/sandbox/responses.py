"""Response values shared by the sandbox's provider modules."""

from __future__ import annotations

import json
from dataclasses import dataclass

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


def browse_error(
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
