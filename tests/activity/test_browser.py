"""The live pages in real headless Chromium (Debian's, driven by Playwright).

``manage.py serve`` (daphne + a task worker) runs in a subprocess
(tests/activity/browser_server.py) on a loopback port with its own database. The test logs
in through the admin, starts a sandbox run from the admin's start page, opens its live page
from the admin (two tabs, plus the run list), watches worker cards and the progress bar
move until the run completes — executed by a ``db_worker`` process with events through
Redis when REDIS_URL is set (the deployment path), by a worker thread of the server
otherwise. Then a scripted run whose titles, seller names, categories, URLs and messages
carry markup and script payloads: they must show as text, open no dialog, run no script
and send no request to a foreign host, live and when the finished run is opened cold.
Every page must be clean under the CSP (no violation reported).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from django.conf import settings

from .browser_server import HOSTILE_CATEGORY, HOSTILE_MESSAGE, HOSTILE_SELLER, HOSTILE_TITLE

logger = logging.getLogger(__name__)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(150)]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """The browser_server subprocess; lines on its stdout arrive in a queue."""

    def __init__(self, tmp_path: Path, *, env_extra: dict | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        env.update(
            {
                "DEBUG": "True",
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "SANDBOX_HOSTILE": "1",
                "SANDBOX_LATENCY_MS": "150",
                "COLLECTION_FLUSH_SECONDS": "0.2",
                "ACTIVITY_STATUS_SECONDS": "0.25",
                "ACTIVITY_FRAME_SECONDS": "0.1",
                **(env_extra or {}),
            }
        )
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
            args,
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            bufsize=1,
            start_new_session=True,  # serve's children (db_worker) end with it at teardown
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

    async def wait_until_serving(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break
                try:
                    response = await client.get(f"{self.base}/admin/login/", timeout=2)
                    if response.status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"the server did not answer; log:\n{self.log_tail()}")

    async def run_seq(self, run_id: int) -> tuple[str, str]:
        """The run's status and last stored seq, as its database has them."""
        self.send(f"seq {run_id}")
        _, _, status, seq = (await self.wait_for(f"SEQ {run_id} ", timeout=10)).split()
        return status, seq

    def stop(self) -> None:
        # The whole process group this test started: the server and its db_worker children.
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # children that outlived it
        except ProcessLookupError:
            pass
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


# Injected into every page before its own scripts (DevTools, so not subject to the CSP):
# the run page records every change of its eBay bar and of its status, whatever the timing
# of the test's own polling.
RECORD_CHANGES = """
window.__changes = [];
document.addEventListener('DOMContentLoaded', () => {
    const bar = document.querySelector('#phase-ebay progress');
    if (!bar) return;
    const record = () => window.__changes.push({
        status: document.body.dataset.runStatus,
        ebay: bar.value, ebayMax: bar.max,
        workers: document.querySelectorAll('#workers .worker').length,
    });
    new MutationObserver(record).observe(bar, {attributes: true});
    new MutationObserver(record).observe(document.body, {attributes: true});
});
"""


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
            feedTags: [...new Set([...document.querySelectorAll('#feed *')]
                .map(e => e.tagName))],
            workerTags: [...new Set([...document.querySelectorAll('#workers *')]
                .map(e => e.tagName))],
            handlers: [...document.querySelectorAll('*')].filter(
                e => [...e.attributes].some(a => a.name.startsWith('on'))).length,
            pwned: window.__pwned === 1,
            javascriptLinks: [...document.querySelectorAll('a')].filter(
                a => a.protocol !== 'http:' && a.protocol !== 'https:').length,
        })"""
    )
    assert set(found.pop("feedTags")) <= {"TR", "TD", "DIV", "SPAN", "A"}
    assert set(found.pop("workerTags")) <= {
        "ARTICLE",
        "HEADER",
        "STRONG",
        "SPAN",
        "DIV",
        "B",
        "TIME",
        "A",
    }
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
            line = await scout_server.wait_for("READY ", timeout=90)
            ready = json.loads(line.split(" ", 1)[1])
            await scout_server.wait_until_serving(timeout=60)
            step("server ready")
            context = await browser.new_context()
            context.set_default_timeout(20000)
            await context.add_init_script(script=RECORD_CHANGES)
            watches = []

            async def new_page():
                page = await context.new_page()
                watches.append(Watch(page, base))
                return page

            # Log in through the admin; the run list is where the login sends us back.
            runs_page = await new_page()
            await runs_page.goto(f"{base}/runs/")
            assert "/admin/login/" in runs_page.url
            await runs_page.fill("#id_username", ready["username"])
            await runs_page.fill("#id_password", ready["password"])
            await runs_page.click("input[type=submit], button[type=submit]")
            await runs_page.wait_for_url(f"{base}/runs/")
            await expect(runs_page.locator("#connection")).to_have_attribute("data-state", "live")
            step("logged in")

            # Start a sandbox run from the admin, then open its live page from the admin.
            page = await new_page()
            await page.goto(f"{base}/admin/collection/collectionrun/start/")
            await page.select_option("#id_categories", value=str(ready["category"]["pk"]))
            await page.fill("#id_workers", "3")
            await page.select_option("#id_amazon_pages", value="1")
            await page.fill("#id_ebay_pages", "1")
            await page.click("input[name=apply]")
            await page.wait_for_url("**/runs/*/")  # "Start the run" lands on the live page
            run_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
            step(f"run {run_id} started from the admin")
            second = await new_page()  # a second tab on the same run
            await second.goto(f"{base}/runs/{run_id}/")

            # Watch it run to completion (the task worker picks it up within a second).
            await expect(page.locator("body")).to_have_attribute(
                "data-run-status", "completed", timeout=90000
            )
            step("run completed")
            status, last_seq = await scout_server.run_seq(run_id)
            assert status == "completed"
            await expect(page.locator("body")).to_have_attribute("data-last-seq", last_seq)
            final = await page_state(page)
            changes = await page.evaluate("() => window.__changes")
            assert any(c["status"] == "running" and c["workers"] > 0 for c in changes)
            assert any(0 < c["ebay"] < c["ebayMax"] for c in changes), changes
            assert final["ebay"] == final["ebayMax"] > 1
            assert final["workers"] == 3
            assert 0 < final["feedRows"] <= 200
            await assert_inert(page)
            await screenshot(page, "engine-run")

            # The run's top dropshippers appeared on its page; the top one's seller page
            # shows its evidence, and the operator renames it in the admin.
            top = page.locator("#run-top tbody tr[data-seller-id]")
            await expect(top.first).to_be_visible()
            top_name = (await top.first.locator(".seller-link").inner_text()).strip()
            await top.first.locator(".seller-link").click()
            await page.wait_for_url("**/sellers/*/")
            seller_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
            await expect(page.locator("#seller-name")).to_contain_text(top_name)
            await expect(page.locator("#evidence tbody tr").first).to_be_visible()
            listing_href = await page.locator("#evidence a.listing").first.get_attribute("href")
            assert listing_href.startswith("https://www.ebay.com/itm/"), listing_href
            await page.goto(f"{base}/admin/collection/seller/{seller_id}/change/")
            await page.fill("#id_display_name", "Top reseller (renamed)")
            await page.click("input[name=_continue]")
            await expect(page.locator(".messagelist")).to_contain_text("changed successfully")
            await page.goto(f"{base}/sellers/{seller_id}/")
            await expect(page.locator("#seller-name")).to_contain_text("Top reseller (renamed)")
            await page.goto(f"{base}/runs/{run_id}/")
            step("top seller followed and renamed")

            # The second tab got every event too; the run list followed the run live.
            await expect(second.locator("body")).to_have_attribute("data-last-seq", last_seq)
            assert (await page_state(second))["feedRows"] == final["feedRows"]
            listed = runs_page.locator(f'tr[data-run-id="{run_id}"]')
            await expect(listed.locator("[data-field=status_label]")).to_have_text("Completed")
            await expect(listed.locator("[data-field=requests]")).to_have_text(final["requests"])
            step("tabs checked")

            # A scripted run whose text is hostile everywhere, watched live.
            scripted_run = ready["script_run"]
            hostile = await new_page()
            await hostile.goto(f"{base}/runs/{scripted_run}/")
            await expect(hostile.locator("#connection")).to_have_attribute("data-state", "live")
            scout_server.send(f"script {scripted_run}")
            done = (await scout_server.wait_for(f"DONE {scripted_run} ", timeout=30)).split()
            await expect(hostile.locator("body")).to_have_attribute("data-run-status", "completed")
            await expect(hostile.locator("body")).to_have_attribute("data-last-seq", done[3])
            step("script done")

            async def check_hostile_text_shows_as_text():
                # A finished run's workers and feed are folded; unfold them to read them.
                assert await hostile.evaluate(
                    "() => [...document.querySelectorAll('details.fold')].every(d => !d.open)"
                )
                await hostile.locator("#workers-panel > summary").click()
                await hostile.locator("#feed-panel > summary").click()
                feed = hostile.locator("#feed")
                await expect(feed.get_by_text(HOSTILE_TITLE, exact=True).first).to_be_visible()
                await expect(feed.get_by_text(HOSTILE_SELLER, exact=True)).to_be_visible()
                await expect(feed.get_by_text(HOSTILE_CATEGORY, exact=True)).to_be_visible()
                last_error = hostile.locator("#workers .last-error")
                await expect(last_error.get_by_text(HOSTILE_MESSAGE, exact=True)).to_be_visible()
                await expect(hostile.locator("#errors [data-error-type=timeout]")).to_be_visible()
                await assert_inert(hostile)

            await check_hostile_text_shows_as_text()
            await screenshot(hostile, "scripted-run")
            # The same page opened cold from the stored events.
            await hostile.reload()
            await expect(hostile.locator("body")).to_have_attribute("data-last-seq", done[3])
            await check_hostile_text_shows_as_text()
            await screenshot(runs_page, "run-list")
            for watch in watches:
                watch.assert_clean()
        finally:
            await browser.close()


async def assert_no_sideways_overflow(page) -> None:
    """At phone width the document is no wider than the viewport (tables scroll inside)."""
    widths = await page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], widths


async def test_operator_reaches_a_listing_from_the_leaderboard_in_two_clicks(scout_server):
    """Log in at the root, see the leaderboard, open the top seller, follow a listing out to
    eBay; hostile names and titles stay text; at 390 px nothing overflows sideways."""
    from playwright.async_api import async_playwright, expect

    base = scout_server.base
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            line = await scout_server.wait_for("READY ", timeout=90)
            ready = json.loads(line.split(" ", 1)[1])
            await scout_server.wait_until_serving(timeout=60)
            context = await browser.new_context()
            context.set_default_timeout(20000)
            # Links out open eBay in a new tab: answer them here, nothing leaves the machine.
            await context.route(
                "https://www.ebay.com/**",
                lambda route: route.fulfill(status=200, content_type="text/html", body="eBay"),
            )
            page = await context.new_page()
            watch = Watch(page, base)

            await page.goto(f"{base}/")
            assert "/admin/login/" in page.url
            await page.fill("#id_username", ready["username"])
            await page.fill("#id_password", ready["password"])
            await page.click("input[type=submit], button[type=submit]")
            await page.wait_for_url(f"{base}/")
            rows = page.locator("#leaderboard tbody tr")
            await expect(rows.first.locator(".seller-link")).to_have_text("top-dropshipper")
            await expect(page.get_by_text(HOSTILE_SELLER, exact=True).first).to_be_visible()
            await expect(page.locator("a[rel=next]")).to_be_visible()  # 62 sellers, 50 a page
            await assert_inert(page)
            await screenshot(page, "leaderboard")

            # Click 1: the top seller. Click 2: one of its listings, out to eBay.
            await rows.first.locator(".seller-link").click()
            await page.wait_for_url(f"{base}/sellers/{ready['top_seller']['id']}/")
            await expect(page.locator("#why")).to_contain_text("Copies 5 best sellers")
            await expect(page.locator("#evidence tbody tr")).to_have_count(5)
            await expect(page.locator("#runs-chart canvas")).to_have_count(1)  # uPlot drew
            await screenshot(page, "seller")
            listing = page.locator("#evidence a.listing").first
            async with context.expect_page() as popup_info:
                await listing.click()
            ebay = await popup_info.value
            await ebay.wait_for_load_state()
            assert ebay.url.startswith("https://www.ebay.com/itm/11"), ebay.url
            await ebay.close()

            # The hostile seller's page: its name, title and javascript: URL stay inert.
            await page.goto(f"{base}/?q=deal")
            await page.get_by_text(HOSTILE_SELLER, exact=True).first.click()
            await expect(page.locator("#seller-name")).to_contain_text(HOSTILE_SELLER)
            evidence = page.locator("#evidence")
            await expect(evidence.get_by_text(HOSTILE_TITLE, exact=True)).to_be_visible()
            await assert_inert(page)
            href = await page.locator("#evidence a.listing").first.get_attribute("href")
            assert href == "https://www.ebay.com/itm/javascript%3Aalert%286%29"

            # Phone width: the leaderboard, a seller and a finished run's page.
            await page.set_viewport_size({"width": 390, "height": 844})
            run_id = ready["script_run"]
            scout_server.send(f"script {run_id}")
            await scout_server.wait_for(f"DONE {run_id} ", timeout=30)
            seller_path = f"/sellers/{ready['top_seller']['id']}/"
            for path in ("/", seller_path, f"/runs/{run_id}/", "/runs/"):
                await page.goto(f"{base}{path}")
                await page.wait_for_load_state("networkidle")
                await assert_no_sideways_overflow(page)
                await screenshot(page, "phone" + path.replace("/", "-").rstrip("-"))
            # The finished run: its top dropshippers, workers and feed folded.
            await page.goto(f"{base}/runs/{run_id}/")
            assert await page.evaluate(
                "() => !document.getElementById('workers-panel').open"
                " && !document.getElementById('feed-panel').open"
            )
            top = page.locator("#run-top .seller-link").first
            await expect(top).to_have_text("top-dropshipper")
            watch.assert_clean()
        finally:
            await browser.close()
