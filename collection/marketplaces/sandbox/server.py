"""Serve the sandbox ASGI app as a real HTTP server on loopback.

The server is aiohttp's (already a dependency, through httpx-aiohttp) with a thin ASGI
bridge: its HTTP parser is in C, so on a 2-core machine the emulator spends far less CPU
per request than a pure-Python server would, and benchmarks measure our client rather
than the emulator. Nothing here needs Django; ``python -m
collection.marketplaces.sandbox.server`` runs it standalone (used by the subprocess
helper).

- ``serve(config, host=..., port=...)``: run until cancelled (the management command).
- ``sandbox_server(config)``: a context manager for tests and benchmarks that starts the
  server on a free port (in a background thread, or ``subprocess=True`` for a separate
  process that does not share the GIL) and yields a ``RunningSandbox``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess as sp
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from .app import MAX_BODY, RequestRecord, SandboxApp, reason_phrase
from .config import SandboxConfig

logger = logging.getLogger("collection.marketplaces.sandbox")

_PROJECT_ROOT = Path(__file__).resolve().parents[3]
_READY_PREFIX = "sandbox marketplace listening on "


class _AsgiBridge:
    """aiohttp request → ASGI http scope → aiohttp response (whole bodies, no streaming)."""

    def __init__(self, app: SandboxApp) -> None:
        self.app = app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": request.scheme,
            "path": request.path,
            "raw_path": request.raw_path.split("?", 1)[0].encode("latin-1"),
            "query_string": request.query_string.encode("latin-1"),
            "root_path": "",
            "headers": [(name.lower(), value) for name, value in request.raw_headers],
            "client": tuple(peer[:2]) if peer else None,
            "server": None,
        }
        delivered = False

        async def receive() -> dict:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # no more messages until the handler is cancelled
            return {"type": "http.disconnect"}

        status = 500
        headers: list[tuple[str, str]] = []
        parts: list[bytes] = []

        async def send(message: dict) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (k.decode("latin-1"), v.decode("latin-1"))
                    for k, v in message.get("headers", ())
                    if k.lower() != b"content-length"
                ]
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))

        await self.app(scope, receive, send)
        response = web.Response(status=status, reason=reason_phrase(status), body=b"".join(parts))
        for name, value in headers:
            response.headers[name] = value
        return response


async def start(
    app: SandboxApp, *, host: str = "127.0.0.1", port: int = 0
) -> tuple[web.AppRunner, str]:
    """Start serving ``app``; returns the runner (``await runner.cleanup()`` stops it) and
    the base URL with the real port (``port=0`` picks a free one)."""
    web_app = web.Application(client_max_size=MAX_BODY + 1)
    web_app.router.add_route("*", "/{tail:.*}", _AsgiBridge(app).handle)
    # handler_cancellation: a client that gives up (timeout) cancels the held response.
    runner = web.AppRunner(web_app, handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=2048, reuse_address=True)
    await site.start()
    bound = runner.addresses[0]
    bound_host = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    return runner, f"http://{bound_host}:{bound[1]}"


async def serve(
    config: SandboxConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8900,
    ready: Callable[[str, SandboxApp], None] | None = None,
) -> None:
    """Serve until cancelled (Ctrl-C / SIGTERM in the command)."""
    app = SandboxApp(config)
    runner, base_url = await start(app, host=host, port=port)
    try:
        if ready is not None:
            ready(base_url, app)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


@dataclass
class RunningSandbox:
    """A sandbox server started by ``sandbox_server``."""

    base_url: str
    app: SandboxApp | None  # None when it runs in a subprocess: use requests() instead

    def requests(self) -> list[RequestRecord]:
        """The server's request log (read over HTTP when it runs in another process)."""
        if self.app is not None:
            return list(self.app.request_log)
        import urllib.request

        with urllib.request.urlopen(f"{self.base_url}/__sandbox__/requests", timeout=10) as reply:
            data = json.load(reply)
        return [RequestRecord(**row) for row in data["requests"]]

    def __str__(self) -> str:
        return self.base_url


@contextlib.contextmanager
def sandbox_server(
    config: SandboxConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    subprocess: bool = False,
) -> Iterator[RunningSandbox]:
    """Run the sandbox on loopback for the duration of the ``with`` block."""
    config = config or SandboxConfig()
    if subprocess:
        with _subprocess_server(config, host=host, port=port) as running:
            yield running
        return
    started = threading.Event()
    state: dict = {}

    def run() -> None:
        async def main() -> None:
            app = SandboxApp(config)
            try:
                runner, base_url = await start(app, host=host, port=port)
            except BaseException as exc:  # report bind errors to the caller
                state["error"] = exc
                started.set()
                return
            stop = asyncio.Event()
            state.update(app=app, base_url=base_url, loop=asyncio.get_running_loop(), stop=stop)
            started.set()
            try:
                await stop.wait()
            finally:
                await runner.cleanup()

        asyncio.run(main())

    thread = threading.Thread(target=run, name="sandbox-marketplace", daemon=True)
    thread.start()
    if not started.wait(30):
        raise RuntimeError("the sandbox server did not start within 30 s")
    if "error" in state:
        raise state["error"]
    try:
        yield RunningSandbox(base_url=state["base_url"], app=state["app"])
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(30)


@contextlib.contextmanager
def _subprocess_server(config: SandboxConfig, *, host: str, port: int) -> Iterator[RunningSandbox]:
    command = [
        sys.executable,
        "-m",
        "collection.marketplaces.sandbox.server",
        "--host",
        host,
        "--port",
        str(port),
        "--config-json",
        json.dumps(config.as_dict()),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(_PROJECT_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    }
    process = sp.Popen(command, cwd=_PROJECT_ROOT, env=env, stdout=sp.PIPE, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line.startswith(_READY_PREFIX):
            raise RuntimeError(f"the sandbox server did not start: {line.strip()!r}")
        yield RunningSandbox(base_url=line[len(_READY_PREFIX) :].strip(), app=None)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except sp.TimeoutExpired:
            process.kill()
            process.wait(10)
        if process.stdout:
            process.stdout.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the sandbox marketplace.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--config-json", default="{}", help="SandboxConfig fields as JSON")
    args = parser.parse_args(argv)
    config = SandboxConfig(**json.loads(args.config_json))

    def ready(base_url: str, app: SandboxApp) -> None:
        sys.stdout.write(f"{_READY_PREFIX}{base_url}\n")
        sys.stdout.flush()

    async def run() -> None:
        task = asyncio.create_task(serve(config, host=args.host, port=args.port, ready=ready))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(run())


if __name__ == "__main__":
    main()
