"""Helpers shared by the marketplace tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def fixture_json(name: str) -> object:
    return json.loads(fixture_text(name))


def recorded_client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    """A client whose every request is answered by ``handler`` with a recorded payload."""
    return httpx.AsyncClient(transport=httpx.MockTransport(handler), timeout=5.0)


def oxylabs_envelope(content: object, *, status_code: int = 200) -> dict:
    return {
        "results": [
            {
                "content": content,
                "created_at": "2024-05-15 10:11:12",
                "updated_at": "2024-05-15 10:11:20",
                "page": 1,
                "url": "https://www.ebay.com/sch/i.html?_nkw=x",
                "job_id": "7196583029813446657",
                "status_code": status_code,
                "parser_type": "",
            }
        ],
        "job": {"id": "7196583029813446657", "status": "done"},
    }
