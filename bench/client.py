"""Micro-benchmark of one eBay Browse search's client side, part by part.

Against the sandbox on loopback (its own process, no added latency), with pages the run
would ask for (queries built from the sandbox's Amazon best sellers, the default markup
band), warmed first so the sandbox answers from its memo:

- **http**: the request alone (``wire.send``, body read), ms of our CPU per request, 50
  in flight: over the stock ``httpx.AsyncClient`` + ``httpx_aiohttp.AiohttpTransport``
  (before), over ``ApiClient`` + ``BodyTransport`` with the URL as a string and with the
  ``Endpoint`` URL (now), and aiohttp alone (the floor); plus
  ``EbayBrowseSearch.search_listings`` end to end (request, decode, parse);
- **decode**: ``decode_json`` of the pages, ms per page and per MB;
- **parse**: ``parse_item_summary`` over the largest page (200 items), ms per page and
  µs per item.

CPU is ``time.process_time()`` of this process (the sandbox is another one). Not a timed
figure of ``./dev bench``: run it under the bench lock when comparing, the machine is shared.

    .venv/bin/python bench/client.py [--pages 200] [--rounds 5] [--inflight 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import LIVE_CREDENTIALS, loopback_sandbox  # noqa: E402

CATEGORIES_JSON = Path(__file__).resolve().parent.parent / "collection/data/categories.json"


def _categories() -> list[str]:
    """The leaf categories in the order the engine bench takes them (``bench_categories``)."""
    rows = json.loads(CATEGORIES_JSON.read_text())
    return sorted(row["node_id"] for row in rows if not row["is_department"])


def _band(price: Decimal) -> tuple[Decimal, Decimal]:
    return (price * Decimal("1.8")).quantize(Decimal("0.01")), (price * Decimal("2.2")).quantize(
        Decimal("0.01")
    )


async def _queries(base_url: str, client, wanted: int) -> list:
    from collection.marketplaces.base import ListingQuery
    from collection.marketplaces.oxylabs import OxylabsAmazonBestSellers
    from collection.matching import search_queries

    amazon = OxylabsAmazonBestSellers(
        client=client,
        base_url=base_url,
        username=LIVE_CREDENTIALS["OXYLABS_USERNAME"],
        password=LIVE_CREDENTIALS["OXYLABS_PASSWORD"],
    )
    queries = []
    for node in _categories():
        for page in (1, 2):
            try:
                result = await amazon.best_sellers(node_id=node, page=page)
            except Exception:  # an unknown category in this sandbox: skip it
                continue
            for product in result.products:
                if product.price is None:
                    continue
                for keywords in search_queries(product.title, limit=1):
                    low, high = _band(product.price)
                    queries.append(ListingQuery(keywords=keywords, price_min=low, price_max=high))
        if len(queries) >= wanted:
            break
    return queries[:wanted]


def _cpu_ms(seconds: float, count: int) -> float:
    return seconds * 1000 / count


async def _gather_cpu(make, items, inflight: int) -> float:
    """CPU seconds to run ``make(item)`` for every item, ``inflight`` at a time."""
    semaphore = asyncio.Semaphore(inflight)

    async def one(item):
        async with semaphore:
            await make(item)

    began = time.process_time()
    await asyncio.gather(*(one(item) for item in items))
    return time.process_time() - began


async def main(args) -> dict:
    import aiohttp
    import httpx
    from httpx_aiohttp import AiohttpTransport

    from collection.marketplaces import wire
    from collection.marketplaces.ebay_browse import (
        EbayAppTokens,
        EbayBrowseSearch,
        parse_item_summary,
    )
    from collection.marketplaces.factory import USER_AGENT, http_limits, http_timeout
    from collection.marketplaces.transport import ApiClient, BodyTransport

    results: dict = {}
    with loopback_sandbox(latency_ms=0.0) as base_url:
        limits = http_limits(args.inflight)
        stock = httpx.AsyncClient(
            transport=AiohttpTransport(limits=limits),
            timeout=http_timeout(30),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
            trust_env=False,
        )
        ours = ApiClient(
            transport=BodyTransport(limits=limits),
            timeout=http_timeout(30),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
            trust_env=False,
        )
        async with stock, ours:
            tokens = EbayAppTokens(
                client=ours,
                base_url=base_url,
                client_id=LIVE_CREDENTIALS["EBAY_CLIENT_ID"],
                client_secret=LIVE_CREDENTIALS["EBAY_CLIENT_SECRET"],
            )
            search = EbayBrowseSearch(client=ours, base_url=base_url, tokens=tokens)
            queries = await _queries(base_url, ours, args.pages)
            token = await tokens.get()
            endpoint = wire.Endpoint(search._search_url)
            encoded = [urlencode(search.search_params(query)) for query in queries]
            urls = [f"{endpoint.text}?{query}" for query in encoded]
            headers = {"Authorization": f"Bearer {token}", "X-EBAY-C-MARKETPLACE-ID": "EBAY_US"}
            # Warm the sandbox's memo and keep the bodies.
            bodies = []
            for url in urls:
                response = await ours.get(url, headers=headers)
                bodies.append(response.content)
            items_per_page = [len(json.loads(body).get("itemSummaries", [])) for body in bodies]
            sizes = [len(body) for body in bodies]
            results["pages"] = {
                "count": len(bodies),
                "mean_kb": round(statistics.mean(sizes) / 1024, 1),
                "max_kb": round(max(sizes) / 1024, 1),
                "mean_items": round(statistics.mean(items_per_page), 1),
                "max_items": max(items_per_page),
                "bytes_per_item": round(sum(sizes) / max(1, sum(items_per_page))),
            }

            def via(client, fast_url: bool):
                async def call(i):
                    url = endpoint.with_query(encoded[i]) if fast_url else urls[i]
                    response = await wire.send(
                        client,
                        "GET",
                        url,
                        provider="ebay",
                        display_url="",
                        scrub=search._scrub,
                        headers=headers,
                    )
                    return response.content

                return call

            async def via_search(i):
                return await search.search_listings(queries[i])

            variants = {
                "before: httpx + AiohttpTransport, URL string": via(stock, False),
                "ApiClient + BodyTransport, URL string": via(ours, False),
                "now: ApiClient + BodyTransport + Endpoint URL": via(ours, True),
                "now: search_listings (request, decode, parse)": via_search,
            }
            http_rows: dict[str, list[float]] = {name: [] for name in variants}
            indexes = list(range(len(urls)))
            for _ in range(args.rounds):
                for name, call in variants.items():
                    cpu = await _gather_cpu(call, indexes, args.inflight)
                    http_rows[name].append(_cpu_ms(cpu, len(indexes)))

        connector = aiohttp.TCPConnector(limit=args.inflight + 8)
        async with aiohttp.ClientSession(connector=connector) as session:
            aio_headers = {**headers, "User-Agent": USER_AGENT}

            async def via_aiohttp(url):
                async with session.get(url, headers=aio_headers) as reply:
                    return await reply.read()

            http_rows["aiohttp alone"] = []
            for _ in range(args.rounds):
                cpu = await _gather_cpu(via_aiohttp, urls, args.inflight)
                http_rows["aiohttp alone"].append(_cpu_ms(cpu, len(urls)))

    results["http_ms"] = {name: _spread(values) for name, values in http_rows.items()}

    class _Body:  # what decode_json reads of a response
        status_code = 200

        def __init__(self, content: bytes) -> None:
            self.content = content

    responses = [_Body(body) for body in bodies]
    decode = []
    for _ in range(args.rounds):
        began = time.process_time()
        for response in responses:
            wire.decode_json(response, provider="ebay", display_url="")  # type: ignore[arg-type]
        decode.append(_cpu_ms(time.process_time() - began, len(responses)))
    results["decode_ms_per_page"] = _spread(decode)
    total_kb = sum(sizes) / 1024
    results["decode_ms_per_mb"] = round(
        statistics.median(decode) * len(responses) / total_kb * 1024, 2
    )

    pages = [
        (json.loads(body).get("itemSummaries", []), query)
        for body, query in zip(bodies, queries, strict=True)
    ]
    biggest = max(range(len(pages)), key=lambda i: len(pages[i][0]))
    items, query = pages[biggest]
    parse = []
    for _ in range(args.rounds):
        began = time.process_time()
        for _ in range(20):
            for item in items:
                parse_item_summary(item, query)
        parse.append(_cpu_ms(time.process_time() - began, 20))
    results["parse_ms_per_page"] = {"items": len(items), **_spread(parse)}
    results["parse_us_per_item"] = round(statistics.median(parse) * 1000 / max(1, len(items)), 2)
    return results


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--inflight", type=int, default=50)
    args = parser.parse_args()
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret-0123456789abcdef")
    django.setup()
    result = asyncio.run(main(args))
    for key, value in result.items():
        print(f"{key:22} {value}")
    print(json.dumps({"figure": "client", **result}))
