"""``httpx.ASGITransport`` for the in-process sandbox, with the client's read timeout.

httpx's ASGI transport ignores timeouts (there is no socket), so a sandbox response held
by ``timeout_rate`` would hang a run for ``timeout_sleep_s``. This transport enforces the
request's read timeout and raises ``httpx.ReadTimeout`` like a network transport, so the
adapters classify it exactly as they would over HTTP.
"""

from __future__ import annotations

import asyncio

import httpx


class SandboxTransport(httpx.ASGITransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = (request.extensions.get("timeout") or {}).get("read")
        if timeout is None:
            return await super().handle_async_request(request)
        try:
            async with asyncio.timeout(timeout):
                return await super().handle_async_request(request)
        except TimeoutError:
            raise httpx.ReadTimeout("sandbox response timed out", request=request) from None
