"""The Scrapy peer of figure 1: the same eBay phase as our run, done by a Scrapy spider.

Scrapy (``bench/requirements.txt``, never a runtime dependency) crawls the same loopback
sandbox as our run, for the same products, with the same requests, and does the same work
per response except storing and events:

- **the same products**: the eBay tasks of the latest run in the bench database (the run
  ``bench/engine.py`` measured just before: its Amazon phase stored the products), with
  the run's markup band and its number of queries per product;
- **the same requests**: one OAuth client-credentials token minted first (a POST, as
  ``EbayAppTokens`` does) and sent as ``Authorization: Bearer``; then one Browse search
  per product, whose URL and parameters come from our adapter
  (``EbayBrowseSearch.search_params``: the query and price band of
  ``collection.pipeline.listing_query``, the dropshipper filter, ``limit=200``) with the
  ``X-EBAY-C-MARKETPLACE-ID`` header; a product whose query cannot be built is skipped
  without a request, as our engine skips it;
- **the same per-response work**: the JSON decoded with orjson (our adapter's decoder),
  every item parsed by our adapter's ``parse_item_summary`` into listings, and (mode
  ``judge``) every listing judged against the product title by
  ``collection.pipeline.outcome_done`` (``product_terms``, ``page_context``,
  ``listing_match``), which also decides the follow-up query when the first finds too few
  matches: the spider then yields that request, as our store plans one more task. Mode
  ``parse`` skips the judging and sends the run's own follow-up queries instead (the
  eBay tasks of the run with a second query), so both modes send the same requests.
- **kept in memory**: one item per response (the unit our engine hands its writer: the
  page's listings, with their scores in ``judge`` mode), collected by an item pipeline.

Idiomatic Scrapy settings: CONCURRENT_REQUESTS and CONCURRENT_REQUESTS_PER_DOMAIN =
workers, no download delay, AutoThrottle off, cookies, robots.txt and the telnet console
off, retries and the rest of the default middlewares on, LOG_LEVEL WARNING (nothing is
logged per request). ``--reactor``: ``asyncio`` (Scrapy's default,
AsyncioSelectorReactor with the Twisted HTTP/1.1 download handler), ``epoll`` (Twisted's
own reactor, same handler) or ``none`` (Scrapy 2.19's reactorless mode: an asyncio loop
and the experimental aiohttp download handler; the default here: the fastest of the three
on this machine by its medians, see bench/README.md).

Measured like our run: the wall time and ``time.process_time()`` of the process from the
engine's start (``engine_started``) to the spider's close (``spider_closed``); R (the
token mint + the searches) comes from the sandbox's request log, read by the parent.

    .venv/bin/python bench/peer_scrapy.py --child --workers 50 [--mode judge|parse]
        [--reactor asyncio|epoll|none]     (needs EBAY_API_BASE_URL etc.: run by engine.py)

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REACTORS = {
    "asyncio": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    "epoll": "twisted.internet.epollreactor.EPollReactor",
    "none": None,  # TWISTED_REACTOR_ENABLED = False: asyncio loop + aiohttp handler
}
REACTOR_LABELS = {
    "asyncio": "asyncio reactor, Twisted HTTP/1.1 handler",
    "epoll": "epoll reactor, Twisted HTTP/1.1 handler",
    "none": "reactorless, aiohttp handler",
}
DEFAULT_REACTOR = "none"  # the fastest of the three here (bench/README.md)


def _run_tasks(mode: str):
    """The latest run's eBay tasks (as our workers claim them) and its options."""
    from collection import pipeline
    from collection.models import CollectionRun, RunTask
    from collection.store import ClaimedTask
    from collection.store.types import ebay_task_query_index

    run = CollectionRun.objects.order_by("-pk").first()
    if run is None:
        raise SystemExit("no run in the bench database: bench/engine.py runs ours first")
    rows = (
        RunTask.objects.filter(run=run, phase=RunTask.Phase.EBAY, page=1)
        .order_by("id")
        .values_list(
            "id",
            "key",
            "phase",
            "page",
            "product_id",
            "product__asin",
            "product__title",
            "product__price",
            "query",
        )
    )
    tasks = []
    for id_, key, phase, page, product_id, asin, title, price, query in rows:
        if mode == "judge" and ebay_task_query_index(key) > 0:
            continue  # the judging decides the follow-ups again
        tasks.append(
            ClaimedTask(
                id=id_,
                key=key,
                phase=phase,
                page=page,
                attempts=0,
                product_id=product_id,
                asin=asin,
                title=title,
                price=price,
                query=query,
            )
        )
    options = pipeline.RunOptions(
        markup_min_percent=run.markup_min_percent,
        markup_max_percent=run.markup_max_percent,
        ebay_queries=run.ebay_queries,
    )
    return run.pk, tasks, options


def _django_setup() -> None:
    """Django on the bench database (migrated by our run before), without daphne: its
    app installs Twisted's asyncio reactor on a loop of its own when imported, and Scrapy
    must install the reactor it is configured with (or none)."""
    import django

    from bench._django import bench_database_url

    os.environ["DATABASE_URL"] = bench_database_url()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings

    settings.INSTALLED_APPS = [app for app in settings.INSTALLED_APPS if app != "daphne"]
    # Scrapy configures logging itself (its root handler at LOG_LEVEL, the root logger at
    # NOTSET): Django's console handler on the root logger would print every DEBUG record
    # Scrapy emits (a response and an item each), which a Scrapy project does not do.
    settings.LOGGING_CONFIG = None
    django.setup()
    settings.DEBUG = False  # no query log


def child(args) -> dict:
    _django_setup()
    import dataclasses

    import orjson
    import scrapy
    from django.conf import settings as django_settings
    from scrapy import signals
    from scrapy.crawler import AsyncCrawlerProcess, CrawlerProcess

    from collection import pipeline
    from collection.marketplaces.base import ListingPage
    from collection.marketplaces.ebay_browse import (
        TOKEN_SCOPE,
        EbayAppTokens,
        EbayBrowseSearch,
        _basic_auth,
        parse_item_summary,
    )
    from collection.store.types import ebay_task_asin, ebay_task_key, ebay_task_query_index

    run_id, tasks, options = _run_tasks(args.mode)
    base_url = django_settings.EBAY_API_BASE_URL.rstrip("/")
    token_url = base_url + "/identity/v1/oauth2/token"
    # Our adapter, for its URL and parameters only (it never sends anything here).
    adapter = EbayBrowseSearch(
        client=None,  # type: ignore[arg-type]
        base_url=base_url,
        tokens=EbayAppTokens(
            client=None,  # type: ignore[arg-type]
            base_url=base_url,
            client_id=django_settings.EBAY_CLIENT_ID,
            client_secret=django_settings.EBAY_CLIENT_SECRET,
        ),
    )
    search_url = base_url + "/buy/browse/v1/item_summary/search"
    judge = args.mode == "judge"
    clock: dict[str, float] = {}
    counts = {"responses": 0, "listings": 0, "skipped": 0, "not_fetchable": 0, "follow_ups": 0}
    kept: list[dict] = []

    class KeepInMemory:
        """The items, kept until the end (no storage)."""

        def process_item(self, item):
            kept.append(item)
            return item

    class EbayPhaseSpider(scrapy.Spider):
        name = "ebay_phase"

        @classmethod
        def from_crawler(cls, crawler, *a, **kw):
            spider = super().from_crawler(crawler, *a, **kw)
            crawler.signals.connect(spider.engine_started, signal=signals.engine_started)
            crawler.signals.connect(spider.spider_closed, signal=signals.spider_closed)
            return spider

        def engine_started(self):
            clock["wall0"], clock["cpu0"] = time.perf_counter(), time.process_time()

        def spider_closed(self, spider, reason):
            clock["wall1"], clock["cpu1"] = time.perf_counter(), time.process_time()
            clock["reason"] = reason  # type: ignore[assignment]

        async def start(self):
            yield scrapy.FormRequest(
                token_url,
                formdata={"grant_type": "client_credentials", "scope": TOKEN_SCOPE},
                headers={
                    "Authorization": _basic_auth(
                        django_settings.EBAY_CLIENT_ID, django_settings.EBAY_CLIENT_SECRET
                    )
                },
                callback=self.token_received,
            )

        def token_received(self, response):
            self.headers = {
                "Authorization": f"Bearer {orjson.loads(response.body)['access_token']}",
                "X-EBAY-C-MARKETPLACE-ID": "EBAY_US",
            }
            for task in tasks:
                request = self.search(task)
                if request is not None:
                    yield request

        def search(self, task):
            try:
                query = pipeline.listing_query(task, options)
            except pipeline.NotFetchable:
                counts["not_fetchable"] += 1
                return None
            params = adapter.search_params(query)
            return scrapy.Request(
                f"{search_url}?{urlencode(params)}",
                headers=self.headers,
                callback=self.parse_search,
                # Each product is a task, as in our run: two products with the same query
                # and price band are two requests (the duplicate filter would drop one).
                dont_filter=True,
                cb_kwargs={"task": task, "query": query},
            )

        def parse_search(self, response, task, query):
            data = orjson.loads(response.body)
            items = data.get("itemSummaries", []) if isinstance(data, dict) else []
            listings = []
            skipped = 0
            for item in items if isinstance(items, list) else ():
                listing = parse_item_summary(item, query)
                if listing is None:
                    skipped += 1
                else:
                    listings.append(listing)
            page = ListingPage(
                listings=tuple(listings),
                has_next=bool(data.get("next")),
                skipped=skipped,
                request_url=response.url,
            )
            counts["responses"] += 1
            counts["listings"] += len(listings)
            counts["skipped"] += skipped
            if not judge:
                yield {"task_id": task.id, "page": page}
                return
            outcome = pipeline.outcome_done(task, page, attempts=1, options=options)
            yield {"task_id": task.id, "outcome": outcome}
            if outcome.follow_up_query:
                counts["follow_ups"] += 1
                index = ebay_task_query_index(task.key) + 1
                follow_up = dataclasses.replace(
                    task,
                    key=ebay_task_key(ebay_task_asin(task.key), 1, index),
                    query=outcome.follow_up_query,
                )
                request = self.search(follow_up)
                if request is not None:
                    yield request

    settings = {
        "CONCURRENT_REQUESTS": args.workers,
        "CONCURRENT_REQUESTS_PER_DOMAIN": args.workers,
        "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_ENABLED": False,
        "COOKIES_ENABLED": False,
        "ROBOTSTXT_OBEY": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": os.environ.get("PEER_LOG_LEVEL", "WARNING"),
        "ITEM_PIPELINES": {KeepInMemory: 100},
    }
    reactor = REACTORS[args.reactor]
    if reactor is None:
        settings["TWISTED_REACTOR_ENABLED"] = False
        process = AsyncCrawlerProcess(settings)
    else:
        settings["TWISTED_REACTOR"] = reactor
        process = (AsyncCrawlerProcess if args.reactor == "asyncio" else CrawlerProcess)(settings)
    process.crawl(EbayPhaseSpider)
    process.start()

    matches = 0
    if judge:
        for item in kept:
            outcome = item["outcome"]
            matches += sum(s >= outcome.match_threshold for s in outcome.match_scores)
    return {
        "kind": "scrapy",
        "mode": args.mode,
        "reactor": args.reactor,
        "setup": REACTOR_LABELS[args.reactor],
        "workers": args.workers,
        "run_id": run_id,
        "tasks": len(tasks),
        "wall_s": clock["wall1"] - clock["wall0"],
        "cpu_s": clock["cpu1"] - clock["cpu0"],
        "close_reason": clock.get("reason"),
        "items": len(kept),
        "matches": matches,
        **counts,
        "scrapy": scrapy.__version__,
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", required=True)
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--mode", choices=["judge", "parse"], default="judge")
    parser.add_argument("--reactor", choices=list(REACTORS), default=DEFAULT_REACTOR)
    args = parser.parse_args()
    print(json.dumps(child(args), default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
