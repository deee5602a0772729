"""The live pages in real headless Chromium (Debian's, driven by Playwright).

daphne serves the whole application from a subprocess (tests/activity/browser_server.py)
on a loopback port, with its own database. The test logs in through the admin, watches a
real sandbox run executed by the engine (in another process when Redis is configured —
the deployment path — in the server process otherwise) until it completes, then a
scripted run whose titles, seller names, categories, URLs and messages carry markup and
script payloads: they must show as text, open no dialog, run no script and send no
request to a foreign host. Every page must also be clean under the CSP (no violation).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from .browser_server import HOSTILE_CATEGORY, HOSTILE_MESSAGE, HOSTILE_SELLER, HOSTILE_TITLE

logger = logging.getLogger(__name__)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(150)]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """The browser_server subprocess; lines on its stdout arrive in a queue."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        env.update({"DEBUG": "True", "DJANGO_SETTINGS_MODULE": "config.settings",
                    "SANDBOX_HOSTILE": "1", "SANDBOX_LATENCY_MS": "120",
                    "COLLECTION_FLUSH_SECONDS": "0.2", "ACTIVITY_STATUS_SECONDS": "0.25",
                    "ACTIVITY_FRAME_SECONDS": "0.1"})
        args = [sys.executable, "-m", "tests.activity.browser_server", "--port", str(self.port)]
        self.postgres_url = None
        if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
            base = os.environ["DATABASE_URL"].rstrip("/")
            self.postgres_url = f"{base}_browser"
            env["DATABASE_URL"] = self.postgres_url
            args.append("--fresh-postgres")
        else:
            env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'browser.sqlite3'}"
        self.log = open(tmp_path / "server.log", "w+")  # noqa: SIM115
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.log, text=True, bufsize=1,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.strip())

    async def wait_for(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                await asyncio.sleep(0.05)
                continue
            if line.startswith(prefix):
                return line
        raise AssertionError(f"no {prefix!r} from the server; log:\n{self.log_tail()}")

    def send(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def log_tail(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-4000:]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        if self.postgres_url:
            import psycopg

            parts = urlsplit(self.postgres_url)
            admin = parts._replace(path="/postgres").geturl()
            with psycopg.connect(admin, autocommit=True) as connection:
                connection.execute(
                    f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)'
                )


class Watch:
    """What the page did that it must not: dialogs, foreign requests, CSP violations."""

    def __init__(self, page, base: str) -> None:
        self.dialogs: list[str] = []
        self.foreign: list[str] = []
        self.bad_requests: list[str] = []
        self.console_errors: list[str] = []
        host = urlsplit(base).hostname
        page.on("dialog", self._dialog)

        def request(req) -> None:
            url = urlsplit(req.url)
            if url.scheme in ("http", "https", "ws", "wss") and url.hostname != host:
                self.foreign.append(req.url)
            if url.path.endswith("/x"):  # <img src=x> parsed as HTML would fetch it
                self.bad_requests.append(req.url)

        page.on("request", request)
        page.on(
            "console",
            lambda msg: self.console_errors.append(msg.text) if msg.type == "error" else None,
        )

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        asyncio.ensure_future(dialog.dismiss())

    def assert_clean(self) -> None:
        assert self.dialogs == []
        assert self.foreign == []
        assert self.bad_requests == []
        csp = [text for text in self.console_errors if "Content Security Policy" in text]
        assert csp == []


RECORD_CHANGES = """() => {
    window.__changes = [];
    const bar = document.querySelector('#phase-ebay progress');
    const record = () => window.__changes.push({
        status: document.body.dataset.runStatus,
        ebay: bar.value, ebayMax: bar.max,
        workers: document.querySelectorAll('#workers .worker').length,
    });
    new MutationObserver(record).observe(bar, {attributes: true});
    new MutationObserver(record).observe(document.body, {attributes: true});
}"""


async def page_state(page) -> dict:
    return await page.evaluate(
        """() => ({
            status: document.body.dataset.runStatus,
            lastSeq: Number(document.body.dataset.lastSeq || 0),
            workers: document.querySelectorAll('#workers .worker').length,
            amazon: document.querySelector('#phase-amazon progress').value,
            ebay: document.querySelector('#phase-ebay progress').value,
            ebayMax: document.querySelector('#phase-ebay progress').max,
            feedRows: document.querySelectorAll('#feed tr').length,
            requests: document.querySelector('[data-metric=requests]').textContent,
        })"""
    )


async def assert_inert(page) -> None:
    """Only the elements the page itself builds, no handler attributes, no script ran."""
    found = await page.evaluate(
        """() => ({
            feedTags: [...new Set([...document.querySelectorAll('#feed *')].map(e => e.tagName))].sort(),
            workerTags: [...new Set([...document.querySelectorAll('#workers *')].map(e => e.tagName))].sort(),
            handlers: [...document.querySelectorAll('*')].filter(
                e => [...e.attributes].some(a => a.name.startsWith('on'))).length,
            pwned: window.__pwned === 1,
            javascriptLinks: [...document.querySelectorAll('a')].filter(
                a => a.protocol !== 'http:' && a.protocol !== 'https:').length,
        })"""
    )
    assert set(found.pop("feedTags")) <= {"TR", "TD", "DIV", "SPAN", "A"}
    assert set(found.pop("workerTags")) <= {"ARTICLE", "HEADER", "STRONG", "SPAN", "DIV", "B", "TIME", "A"}
    assert found == {"handlers": 0, "pwned": False, "javascriptLinks": 0}


async def screenshot(page, name: str) -> None:
    """Full-page screenshots for a person to look at, when SCOUT_SCREENSHOTS names a folder."""
    folder = os.environ.get("SCOUT_SCREENSHOTS")
    if folder:
        await page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


@pytest.fixture
def scout_server(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (see .ci/run)")
    server = LiveServer(tmp_path)
    yield server
    server.stop()


async def test_live_run_in_chromium(scout_server):
    from playwright.async_api import async_playwright, expect

    started = time.monotonic()

    def step(name: str) -> None:
        logger.info("browser test: %s at %.1f s", name, time.monotonic() - started)

    base = scout_server.base
    async with async_playwright() as playwright:
        # Chromium starts while the server migrates its database.
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        step("chromium launched")
        try:
            line = await scout_server.wait_for("READY ", timeout=60)
            ready = json.loads(line.split(" ", 1)[1])
            engine_run, scripted_run = ready["runs"]["engine"], ready["runs"]["script"]
            step("server ready")
            context = await browser.new_context()
            context.set_default_timeout(20000)
            page = await context.new_page()
            watches = [Watch(page, base)]

            # Log in through the admin; the live page is where the login sends us back.
            await page.goto(f"{base}/runs/{engine_run}/")
            assert "/admin/login/" in page.url
            await page.fill("#id_username", ready["username"])
            await page.fill("#id_password", ready["password"])
            await page.click("input[type=submit], button[type=submit]")
            await page.wait_for_url(f"{base}/runs/{engine_run}/")
            step("logged in")
            await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
            assert (await page_state(page))["status"] == "queued"

            # A second tab on the same run, a third on the run list: all follow live.
            second = await context.new_page()  # same context: logged in
            run_list = await context.new_page()
            watches += [Watch(second, base), Watch(run_list, base)]
            await second.goto(f"{base}/runs/{engine_run}/")
            await run_list.goto(f"{base}/runs/")
            for other in (second, run_list):
                await expect(other.locator("#connection")).to_have_attribute("data-state", "live")

            # A real sandbox run: watch worker cards appear and the progress bar move. The
            # page records every change of the bar and of the status (DevTools-injected, so
            # not subject to the page's CSP), whatever the timing of our polling.
            await page.evaluate(RECORD_CHANGES)
            scout_server.send(f"engine {engine_run}")
            step("engine started")
            done = (await scout_server.wait_for(f"DONE {engine_run} ", timeout=60)).split()
            step("engine done")
            assert done[2] == "completed", scout_server.log_tail()
            await expect(page.locator("body")).to_have_attribute("data-run-status", "completed")
            await expect(page.locator("body")).to_have_attribute("data-last-seq", done[3])
            final = await page_state(page)
            changes = await page.evaluate("() => window.__changes")
            statuses = [c["status"] for c in changes]
            assert "running" in statuses and statuses[-1] == "completed"
            assert any(c["status"] == "running" and c["workers"] > 0 for c in changes)
            assert any(0 < c["ebay"] < c["ebayMax"] for c in changes), changes
            assert final["ebay"] == final["ebayMax"] > 1
            assert final["workers"] == 5
            assert 0 < final["feedRows"] <= 200
            await assert_inert(page)
            await screenshot(page, "engine-run")
            await expect(second.locator("body")).to_have_attribute("data-last-seq", done[3])
            assert (await page_state(second))["feedRows"] == final["feedRows"]
            listed = run_list.locator(f'tr[data-run-id="{engine_run}"]')
            await expect(listed.locator("[data-field=status_label]")).to_have_text("Completed")
            await expect(listed.locator("[data-field=requests]")).to_have_text(final["requests"])
            step("tabs checked")

            # A scripted run whose text is hostile everywhere, watched live.
            await page.goto(f"{base}/runs/{scripted_run}/")
            await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
            scout_server.send(f"script {scripted_run}")
            done = (await scout_server.wait_for(f"DONE {scripted_run} ", timeout=30)).split()
            step("script done")
            await expect(page.locator("body")).to_have_attribute("data-run-status", "completed")
            await expect(page.locator("body")).to_have_attribute("data-last-seq", done[3])

            async def check_hostile_text_shows_as_text():
                feed = page.locator("#feed")
                await expect(feed.get_by_text(HOSTILE_TITLE, exact=True).first).to_be_visible()
                await expect(feed.get_by_text(HOSTILE_SELLER, exact=True)).to_be_visible()
                await expect(feed.get_by_text(HOSTILE_CATEGORY, exact=True)).to_be_visible()
                await expect(page.locator("#workers .last-error").get_by_text(HOSTILE_MESSAGE, exact=True)).to_be_visible()
                await expect(page.locator("#errors [data-error-type=timeout]")).to_be_visible()
                await assert_inert(page)

            await check_hostile_text_shows_as_text()
            await screenshot(page, "scripted-run")
            # The same page opened cold from the stored events.
            await page.reload()
            await expect(page.locator("body")).to_have_attribute("data-last-seq", done[3])
            await check_hostile_text_shows_as_text()

            # The run list shows both runs completed.
            await page.goto(f"{base}/runs/")
            for run_id in (engine_run, scripted_run):
                badge = page.locator(f'tr[data-run-id="{run_id}"] [data-field=status_label]')
                await expect(badge).to_have_text("Completed")
            await screenshot(page, "run-list")
            for watch in watches:
                watch.assert_clean()
        finally:
            await browser.close()

