"""Micro-benchmark of one eBay Browse search's client side, part by part.

Against the sandbox on loopback (its own process, no added latency), with pages the run
would ask for (queries built from the sandbox's Amazon best sellers, the default markup
band), warmed first so the sandbox answers from its memo:

- **http**: the request alone (body read), ms of our CPU per request, 50 in flight: over
  the stock ``httpx.AsyncClient`` + ``httpx_aiohttp.AiohttpTransport`` (the design's
  start), over ``ApiClient`` + ``BodyTransport`` with the URL as a string, with the
  ``Endpoint`` URL through ``client.request`` (``wire.send``: before this branch), with
  the search's ``RequestTemplate`` through ``client.send`` (``wire.send_request``: now),
  and aiohttp alone (the floor without httpx);
- **end to end**: ``EbayBrowseSearch.search_listings`` (request, decode, parse: now),
  beside the same search done as before this branch (``wire.send``, ``decode_json``,
  ``parse_item_summary`` per dict);
- **decode**: ``decode_json`` (orjson, every field: before; the fallback now) and the typed
  msgspec decoder of ``browse_items`` (now), ms per page;
- **parse**: ``parse_item_summary`` over orjson's dicts (before) and ``browse_items``'
  typed parse (now), µs per item over every page and ms for the largest page (200 items);
- **read**: decode + parse of a page, before (orjson + dicts) and now
  (``read_search_page``).

CPU is ``time.process_time()`` of this process (the sandbox is another one). Not a timed
figure of ``./dev bench``: run it under the bench lock when comparing, the machine is shared.

``--sandbox`` measures the other side instead: the sandbox server's CPU per search for a
run-shaped stream of ``--searches`` (2,500, a run's worth) at 50 ms (``sandbox_main``).
``--cold N`` measures only the first pass (every shard a search touches is built then: what
a fresh sandbox costs, the first ``./dev demo`` an operator sees), against N fresh sandboxes:
median [min–max].

    .venv/bin/python bench/client.py [--pages 200] [--rounds 5] [--inflight 50]
    .venv/bin/python bench/client.py --sandbox [--searches 2500] [--latency-ms 50]
    flock -x /tmp/bench.lock .venv/bin/python bench/client.py --sandbox --cold 3
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
    import orjson
    from httpx_aiohttp import AiohttpTransport

    from collection.marketplaces import browse_items, wire
    from collection.marketplaces.base import ListingPage
    from collection.marketplaces.ebay_browse import (
        EbayAppTokens,
        EbayBrowseSearch,
        parse_item_summary,
    )
    from collection.marketplaces.factory import USER_AGENT, http_limits, http_timeout
    from collection.marketplaces.transport import ApiClient, BodyTransport
    from collection.marketplaces.values import parse_count

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
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.inflight + 8))
        async with stock, ours, session:
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
            template = wire.RequestTemplate(ours, "GET", endpoint.url, headers=headers)
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

            async def via_template(i):
                request = template.request(endpoint.with_query(encoded[i]))
                response = await wire.send_request(
                    ours, request, provider="ebay", display_url="", scrub=search._scrub
                )
                return response.content

            aio_headers = {**headers, "User-Agent": USER_AGENT}

            async def via_aiohttp(i):
                async with session.get(urls[i], headers=aio_headers) as reply:
                    return await reply.read()

            async def via_search(i):
                return await search.search_listings(queries[i])

            async def via_search_before(i):
                """search_listings as it was before this branch (same URL and headers)."""
                query = queries[i]
                params = search.search_params(query)
                response = await wire.send(
                    ours,
                    "GET",
                    endpoint.with_query(urlencode(params)),
                    provider="ebay",
                    display_url="",
                    scrub=search._scrub,
                    headers={
                        "Authorization": f"Bearer {await tokens.get()}",
                        "X-EBAY-C-MARKETPLACE-ID": "EBAY_US",
                    },
                )
                data = wire.decode_json(response, provider="ebay", display_url="")
                listings, skipped = [], 0
                for item in data.get("itemSummaries", []):  # type: ignore[union-attr]
                    listing = parse_item_summary(item, query)
                    if listing is None:
                        skipped += 1
                    else:
                        listings.append(listing)
                return ListingPage(
                    tuple(listings),
                    bool(data.get("next")),  # type: ignore[union-attr]
                    skipped,
                    parse_count(data.get("total")),  # type: ignore[union-attr]
                )

            variants = {
                "start: httpx + AiohttpTransport, URL string": via(stock, False),
                "ApiClient + BodyTransport, URL string": via(ours, False),
                "before: ApiClient + BodyTransport + Endpoint URL": via(ours, True),
                "now: + RequestTemplate, client.send": via_template,
                "aiohttp alone": via_aiohttp,
                "before: search (request, orjson, dict parse)": via_search_before,
                "now: search_listings (request, decode, parse)": via_search,
            }
            rows: dict[str, list[float]] = {name: [] for name in variants}
            indexes = list(range(len(urls)))
            for _ in range(args.rounds):
                for name, call in variants.items():
                    cpu = await _gather_cpu(call, indexes, args.inflight)
                    rows[name].append(_cpu_ms(cpu, len(indexes)))

    results["http_ms"] = {name: _spread(values) for name, values in rows.items()}

    class _Body:  # what decode_json reads of a response
        status_code = 200

        def __init__(self, content: bytes) -> None:
            self.content = content

    responses = [_Body(body) for body in bodies]

    def per_page(work) -> dict[str, float]:
        values = []
        for _ in range(args.rounds):
            began = time.process_time()
            for index in range(len(bodies)):
                work(index)
            values.append(_cpu_ms(time.process_time() - began, len(bodies)))
        return _spread(values)

    decoder = browse_items._DECODER
    results["decode_ms_per_page"] = {
        "before: orjson (decode_json)": per_page(
            lambda i: wire.decode_json(responses[i], provider="ebay", display_url="")  # type: ignore[arg-type]
        ),
        "now: msgspec typed": per_page(lambda i: decoder.decode(bodies[i])),
    }

    dicts = [orjson.loads(body).get("itemSummaries", []) for body in bodies]
    typed = [decoder.decode(body).item_summaries for body in bodies]
    parse_typed = browse_items._parse_typed
    items_total = sum(items_per_page)

    def dict_parse(i):
        query = queries[i]
        for item in dicts[i]:
            parse_item_summary(item, query)

    def typed_parse(i):
        query = queries[i]
        for item in typed[i]:
            parse_typed(item, query)

    parse_before, parse_now = per_page(dict_parse), per_page(typed_parse)
    per_item = items_total / len(bodies) / 1000  # ms per page → µs per item
    results["parse_us_per_item"] = {
        "before: dict parse": round(parse_before["median"] / per_item, 3),
        "now: typed parse": round(parse_now["median"] / per_item, 3),
    }
    biggest = max(range(len(bodies)), key=lambda i: items_per_page[i])
    big = []
    for work in (dict_parse, typed_parse):
        began = time.process_time()
        for _ in range(20 * args.rounds):
            work(biggest)
        big.append(round(_cpu_ms(time.process_time() - began, 20 * args.rounds), 4))
    results["parse_ms_200_items"] = {"before": big[0], "now": big[1]}

    def read_before(i):
        query = queries[i]
        data = wire.decode_json(responses[i], provider="ebay", display_url="")  # type: ignore[arg-type]
        for item in data.get("itemSummaries", []):  # type: ignore[union-attr]
            parse_item_summary(item, query)

    results["read_ms_per_page"] = {
        "before: orjson + dict parse": per_page(read_before),
        "now: read_search_page": per_page(
            lambda i: browse_items.read_search_page(bodies[i], queries[i])
        ),
    }
    return results


async def sandbox_cold_main(args) -> dict:
    """The first pass's sandbox CPU per search, over ``args.cold`` fresh sandboxes."""
    firsts = []
    for _ in range(args.cold):
        result = await sandbox_main(args, passes=("first pass (shards built)",))
        firsts.append(result["sandbox_cpu_ms_per_search, first pass (shards built)"])
    return {
        "searches": result["searches"],
        "sandboxes": args.cold,
        "sandbox_cpu_ms_per_search, first pass (cold)": _spread(firsts),
        "runs": firsts,
    }


async def sandbox_main(
    args, passes=("first pass (shards built)", "second pass", "third pass")
) -> dict:
    """The sandbox's own CPU per search (its process, read from ``/__sandbox__/cpu``) for a
    run-shaped stream: the queries of every category's best sellers (as ``main``), sent by
    ``search_listings`` at ``--inflight`` with the engine bench's latency and seed. The
    first pass builds the universe's shards; the next ones find them built (a run after
    the first one), their pages past the body memo all the same when there are more
    searches than it holds (2,048)."""
    from bench._common import sandbox_cpu_seconds
    from collection.marketplaces.ebay_browse import EbayAppTokens, EbayBrowseSearch
    from collection.marketplaces.factory import USER_AGENT, http_limits, http_timeout
    from collection.marketplaces.transport import ApiClient, BodyTransport

    results: dict = {}
    with loopback_sandbox(latency_ms=args.latency_ms, seed=1) as base_url:
        client = ApiClient(
            transport=BodyTransport(limits=http_limits(args.inflight)),
            timeout=http_timeout(30),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
            trust_env=False,
        )
        async with client:
            tokens = EbayAppTokens(
                client=client,
                base_url=base_url,
                client_id=LIVE_CREDENTIALS["EBAY_CLIENT_ID"],
                client_secret=LIVE_CREDENTIALS["EBAY_CLIENT_SECRET"],
            )
            search = EbayBrowseSearch(client=client, base_url=base_url, tokens=tokens)
            began = sandbox_cpu_seconds(base_url)
            queries = await _queries(base_url, client, args.searches)
            results["best_seller_pages_cpu_s"] = round(sandbox_cpu_seconds(base_url) - began, 3)
            results["searches"] = len(queries)
            await tokens.get()
            for name in passes:
                began = sandbox_cpu_seconds(base_url)
                await _gather_cpu(search.search_listings, queries, args.inflight)
                spent = sandbox_cpu_seconds(base_url) - began
                results[f"sandbox_cpu_ms_per_search, {name}"] = round(
                    _cpu_ms(spent, len(queries)), 4
                )
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
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="measure the sandbox server's CPU per search instead (see sandbox_main)",
    )
    parser.add_argument("--searches", type=int, default=2500, help="with --sandbox")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="with --sandbox")
    parser.add_argument(
        "--cold", type=int, default=0, help="with --sandbox: the first pass only, N sandboxes"
    )
    args = parser.parse_args()
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret-0123456789abcdef")
    django.setup()
    result = asyncio.run(
        (sandbox_cold_main(args) if args.cold else sandbox_main(args))
        if args.sandbox
        else main(args)
    )
    for key, value in result.items():
        if isinstance(value, dict) and all(isinstance(v, dict) for v in value.values()):
            print(key)
            for name, figure in value.items():
                print(f"  {name:50} {figure}")
        else:
            print(f"{key:22} {value}")
    print(json.dumps({"figure": "sandbox" if args.sandbox else "client", **result}))
