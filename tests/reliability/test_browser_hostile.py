"""A run over hostile marketplace data, watched in real headless Chromium: live and in the admin.

The hostile corpus (``tests/reliability/corpus``) is served on loopback by this test
process; ``manage.py serve`` (tests/activity/browser_server.py, with its db_worker and
Redis when configured) runs in a subprocess with ``MARKETPLACE=live`` pointed at it. The
operator starts a run from the admin's start page over the corpus category, watches it on
the live page, then opens the admin pages that show what it found: sellers, a seller,
products, a product, the change log, the run (with its failed tasks), its outcome and the
seller history. Seller names, titles and error messages carry script and markup payloads:
on every page they must show as text, open no dialog, add no element or handler, and no
request may leave for a foreign host (or for ``/x``, where ``<img src=x>`` would go).
"""

from __future__ import annotations

import json
import time

import pytest

from collection.marketplaces.sandbox import SandboxConfig
from tests.activity.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LiveServer,
    Watch,
    assert_inert,
    screenshot,
)

from .corpus import MARKUP_TITLE, MIXED_NODE, serve_corpus

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(150)]

CATALOGUE = SandboxConfig(
    seed=13,
    latency_ms=30,
    best_sellers_per_page=10,
    best_seller_pages=1,
    max_listings=40,
    dropshippers=60,
)
SELLER = '<script>alert("seller")</script>'
SELLERS = [
    SELLER,
    '"><img src=x onerror=alert(2)>',
    "</textarea><iframe src=javascript:alert(4)>",
    "{{7*7}} ${7*7} <svg onload=alert(3)>",
]
ERROR = "<img src=x onerror=alert('error')> is not a valid query <script>alert(5)</script>"

# Elements no payload may create, and the page's own scripts (src or JSON data only).
DOM_CHECK = """() => ({
    handlers: [...document.querySelectorAll('*')].filter(
        e => [...e.attributes].some(a => a.name.toLowerCase().startsWith('on'))).length,
    injected: document.querySelectorAll('iframe, marquee, object, embed, img[src="x"]').length,
    inlineScripts: [...document.querySelectorAll('script')].filter(
        s => !s.src && s.type !== 'application/json').length,
    javascriptLinks: [...document.querySelectorAll('a[href]')].filter(
        a => !['http:', 'https:'].includes(a.protocol)).length,
    text: document.body.innerText,
})"""


async def check_page(page, *texts: str) -> None:
    # A finished run's page folds its workers and feed (<details>): unfold to read them.
    await page.evaluate(
        "() => document.querySelectorAll('details').forEach(d => { d.open = true; })"
    )
    found = await page.evaluate(DOM_CHECK)
    text = found.pop("text")
    assert found == {"handlers": 0, "injected": 0, "inlineScripts": 0, "javascriptLinks": 0}, (
        page.url,
        found,
    )
    for expected in texts:
        assert expected in text, (page.url, expected)


async def test_hostile_run_renders_inert_on_the_live_page_and_in_the_admin(tmp_path):
    from playwright.async_api import async_playwright, expect

    with serve_corpus(CATALOGUE) as (marketplace_url, corpus):
        server = LiveServer(
            tmp_path,
            env_extra={
                "MARKETPLACE": "live",
                "OXYLABS_BASE_URL": marketplace_url,
                "EBAY_API_BASE_URL": marketplace_url,
                "OXYLABS_USERNAME": "scout",
                "OXYLABS_PASSWORD": "browser-secret",
                "EBAY_CLIENT_ID": "scout-app",
                "EBAY_CLIENT_SECRET": "browser-secret",
                "COLLECTION_QUOTAS": "",
                "COLLECTION_MAX_CONSECUTIVE_FAILURES": "0",
            },
        )
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=CHROMIUM, args=CHROMIUM_ARGS
                )
                try:
                    await _scenario(server, browser, corpus, expect)
                finally:
                    await browser.close()
        finally:
            server.stop()


async def _scenario(server, browser, corpus, expect) -> None:
    base = server.base
    ready = json.loads((await server.wait_for("READY ", timeout=90)).split(" ", 1)[1])
    assert ready["category"]["node_id"] == MIXED_NODE  # the corpus category
    await server.wait_until_serving(timeout=60)
    context = await browser.new_context()
    context.set_default_timeout(20000)
    page = await context.new_page()
    watch = Watch(page, base)

    await page.goto(f"{base}/admin/login/?next=/admin/")
    await page.fill("#id_username", ready["username"])
    await page.fill("#id_password", ready["password"])
    await page.click("input[type=submit], button[type=submit]")
    await page.wait_for_url(f"{base}/admin/")

    # Start the run over the corpus category from the admin, and watch it live.
    await page.goto(f"{base}/admin/collection/collectionrun/start/")
    await page.select_option("#id_categories", value=str(ready["category"]["pk"]))
    await page.fill("#id_workers", "3")
    await page.select_option("#id_amazon_pages", value="1")
    await page.fill("#id_ebay_pages", "1")
    await page.click("input[name=apply]")
    await page.wait_for_url("**/runs/*/")  # "Start the run" lands on the live page
    run_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    run_admin = f"{base}/admin/collection/collectionrun/{run_id}/change/"
    await expect(page.locator("body")).to_have_attribute(
        "data-run-status", "completed", timeout=90000
    )
    status, last_seq = await server.run_seq(run_id)
    assert status == "completed"
    await expect(page.locator("body")).to_have_attribute("data-last-seq", last_seq)
    assert corpus.served[MIXED_NODE] == 1 and corpus.served[MARKUP_TITLE] == 1
    live_texts = (MARKUP_TITLE, ERROR)
    await assert_inert(page)
    await check_page(page, *live_texts)
    await screenshot(page, "hostile-run-live")
    await page.reload()  # the finished run, cold from the stored events
    await expect(page.locator("body")).to_have_attribute("data-last-seq", last_seq)
    await assert_inert(page)
    await check_page(page, *live_texts)

    # Every admin page that shows what the run found.
    admin = f"{base}/admin/collection"
    pages = [
        (f"{admin}/seller/?q=alert", SELLERS),
        (f"{admin}/product/?q=Corpus", [MARKUP_TITLE[:100]]),
        (f"{admin}/sellerchange/?q=alert", SELLERS),
        (run_admin, [ERROR[:60]]),
        (f"{admin}/collectionrun/{run_id}/outcome/", SELLERS),
        (f"{admin}/seller/history/?as_of_run={run_id}", SELLERS),
    ]
    started = time.monotonic()
    for url, texts in pages:
        await page.goto(url)
        await check_page(page, *texts)
    # A seller's own page and a product's own page (reached through the lists).
    await page.goto(f"{admin}/seller/?q=%3Cscript%3E")
    await page.locator("#result_list tbody tr a").first.click()
    await page.wait_for_url("**/seller/*/change/**")
    await check_page(page, SELLER)
    await page.goto(f"{admin}/product/?q=B0CORPUS03")
    await page.locator("#result_list tbody tr a").first.click()
    await page.wait_for_url("**/product/*/change/**")
    # Scraped fields are read-only (issue 14): the title is text on the page, not an input.
    assert await page.locator(".field-title .readonly").inner_text() == MARKUP_TITLE
    await check_page(page)
    await screenshot(page, "hostile-product")
    assert time.monotonic() - started < 60
    watch.assert_clean()
