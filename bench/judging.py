"""Judging cost — CPU per listing of product_terms + page_context + listing_match, and a
digest of every result they give.

The corpus is real search pages: the in-process sandbox (``SandboxApp`` through
``SandboxTransport``, the real Oxylabs and Browse adapters, seed 1 by default as in
bench/engine.py), the best sellers of the first N leaf categories (2 pages each, as a
bench run plans them), then per product the run's eBay search: query 1 at the default
markup band (80–120 %), 200 listings a call, and query 2 only where the pipeline's
outcome asks for it (the follow-up rule). Built once per (seed, categories) and pickled
under /tmp; ``--rebuild`` builds it again.

Judged in the run's order (every product's query 1, then the follow-ups: tasks are
claimed in id order), every repetition from empty caches:

- pipeline: ``pipeline.outcome_done`` itself, the CPU of the whole judging of a page;
- parts: the same calls one by one — product_terms, page_context, listing_match — each
  timed on its own (µs per listing: the part's CPU over the page's listings);
- uncached: the parts with every matching cache emptied before each page ("cold", the
  before-style path: nothing learnt from earlier pages or products).

The digest (sha256) covers every page's task key, query, scores (repr of each float) and
follow-up query, and every product's queries; it must not change with an optimisation.

    .venv/bin/python bench/judging.py [--seed 1] [--categories 10] [--repeat 5]
                                      [--heap-mib 0] [--expect DIGEST] [--before main]

``--before REV`` imports collection/matching's match code as it is at REV beside ours and
times the same calls through it in each repetition (its results must agree too).

``--heap-mib`` keeps that many MiB of small live objects (tuples in lists, like a run's
Django rows and pages) during the measurement, so the collector's work is as in a run.
Prints a table, then one JSON line. Timed: run it under ``flock /tmp/bench.lock``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import os
import pickle
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

AMAZON_PAGES = 2
EBAY_QUERIES = 2
MARKUP = (Decimal("80.00"), Decimal("120.00"))
FORMAT = 2  # bump when the corpus layout changes


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("COLLECTION_LOG_LEVEL", "WARNING")
    os.environ["MARKETPLACE"] = "sandbox"
    import django

    django.setup()


def leaf_categories(count: int) -> list[str]:
    """The first ``count`` leaf categories by node id (bench_categories' choice)."""
    rows = json.loads((ROOT / "collection" / "data" / "categories.json").read_text())
    leaves = sorted(str(r["node_id"]) for r in rows if not r.get("is_department"))
    return leaves[:count]


def _options():
    from collection.pipeline import RunOptions

    return RunOptions(
        markup_min_percent=MARKUP[0], markup_max_percent=MARKUP[1], ebay_queries=EBAY_QUERIES
    )


def _task(n: int, asin: str, title: str, price: Decimal, index: int):
    from collection.store import ClaimedTask

    key = f"ebay:{asin}:1" + (f":q{index + 1}" if index else "")
    return ClaimedTask(
        id=n, key=key, phase="ebay", page=1, attempts=0, asin=asin, title=title, price=price
    )


async def _build(seed: int, categories: int) -> list[tuple]:
    """[(task, ListingPage)] in run order: each product's query 1, then its query 2 when
    the outcome of query 1 names it."""
    from collection import pipeline
    from collection.marketplaces.factory import marketplace_open
    from collection.marketplaces.sandbox import SandboxConfig

    options = _options()
    products: dict[str, tuple[str, Decimal]] = {}
    pages: list[tuple] = []
    async with marketplace_open(
        concurrency=20, sandbox_config=SandboxConfig(seed=seed), token_cache=None
    ) as market:
        for node in leaf_categories(categories):
            for page in range(1, AMAZON_PAGES + 1):
                best = await market.amazon.best_sellers(node_id=node, page=page)
                for p in best.products:
                    if p.asin not in products and p.price and p.price > 0 and p.title.strip():
                        products[p.asin] = (p.title, p.price)

        async def one(asin: str, title: str, price: Decimal) -> list[tuple]:
            got = []
            for index in range(EBAY_QUERIES):
                task = _task(0, asin, title, price, index)
                task.query = pipeline.task_search_query(task, options)
                listing_page = await market.ebay.search_listings(
                    pipeline.listing_query(task, options)
                )
                got.append((task, listing_page))
                outcome = pipeline.outcome_done(task, listing_page, attempts=1, options=options)
                if not outcome.follow_up_query:
                    break
            return got

        sem = asyncio.Semaphore(20)

        async def bounded(asin, title, price):
            async with sem:
                return await one(asin, title, price)

        done = await asyncio.gather(*(bounded(a, t, p) for a, (t, p) in products.items()))
    n = 0
    for got in done:
        for task, listing_page in got:
            n += 1
            task.id = n
            pages.append((task, listing_page))
    return pages


def corpus(seed: int, categories: int, rebuild: bool = False) -> list[tuple]:
    """The pages in a run's order: every product's query 1, then the follow-ups (a task
    planned from an outcome has a higher id, and tasks are claimed in id order)."""
    from collection.store.types import ebay_task_query_index

    return sorted(
        _corpus(seed, categories, rebuild), key=lambda row: ebay_task_query_index(row[0].key)
    )


def _corpus(seed: int, categories: int, rebuild: bool) -> list[tuple]:
    path = Path(f"/tmp/scout-judging-corpus-v{FORMAT}-s{seed}-c{categories}.pickle")
    if path.exists() and not rebuild:
        return pickle.loads(path.read_bytes())
    pages = asyncio.run(_build(seed, categories))
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(pages, protocol=pickle.HIGHEST_PROTOCOL))
    tmp.replace(path)
    return pages


# --- judging -----------------------------------------------------------------------------


def caches_clear() -> None:
    """Every memo the judging keeps (the uncached path starts from none)."""
    from collection import matching, pipeline

    pipeline.product_queries.cache_clear()
    clear = getattr(matching, "caches_clear", None)
    if clear is not None:
        clear()


def matching_at(rev: str):
    """collection/matching's match module as it is at git ``rev``, imported beside ours
    (a package of its own under /tmp), so both are timed in one process."""
    import importlib
    import subprocess
    import tempfile

    name = f"matching_at_{rev.replace('/', '_').replace('-', '_')}"
    package = Path(tempfile.mkdtemp(prefix="scout-judging-")) / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    # Every module of the package at rev (match imports _reading, _text and _words).
    listed = subprocess.run(
        ["git", "ls-tree", "--name-only", rev, "collection/matching/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for path in listed:
        if not path.endswith(".py") or path.endswith("/__init__.py"):
            continue  # an empty __init__: only match is imported
        source = subprocess.run(
            ["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        (package / Path(path).name).write_text(source)
    sys.path.insert(0, str(package.parent))
    return importlib.import_module(f"{name}.match")


def caches_memory(api) -> dict[str, int]:
    """Bytes each cache of the match module holds (deep sizes; functions, classes and
    modules not followed)."""
    import types

    skip = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType)

    def deep(roots) -> int:
        seen: set[int] = set()
        todo = list(roots)
        total = 0
        while todo:
            obj = todo.pop()
            if id(obj) in seen or isinstance(obj, skip):
                continue
            seen.add(id(obj))
            total += sys.getsizeof(obj)
            todo.extend(gc.get_referents(obj))
        return total

    def lru(cached) -> list:  # the keys and results an lru_cache holds
        return [r for r in gc.get_referents(cached) if not isinstance(r, (*skip, dict))]

    reading = sys.modules.get(api.__name__.rsplit(".", 1)[0] + "._reading")
    out = {}

    def lookup(name):
        found = getattr(api, name, None)
        return found if found is not None or reading is None else getattr(reading, name, None)

    for name in ("_read_cached", "product_terms"):
        cached = lookup(name)
        if cached is not None and hasattr(cached, "cache_info"):
            out[name.strip("_")] = deep(lru(cached))
    for name in (
        "_stems",
        "_foreign_weights",
        "_squashed",
        "_is_code",
        "_compounds_words",
        "_chunk_words_memo",
        "_chunk_compounds_memo",
    ):
        memo = lookup(name)
        if memo is not None:
            out[name.strip("_")] = deep([memo])
    out["total"] = sum(out.values())
    return out


def judge_pipeline(pages, options) -> tuple[float, list]:
    from collection import pipeline

    results = []
    cpu = 0.0
    clock = time.process_time
    for task, page in pages:
        start = clock()
        outcome = pipeline.outcome_done(task, page, attempts=1, options=options)
        cpu += clock() - start
        results.append((task.key, outcome.query, outcome.match_scores, outcome.follow_up_query))
    return cpu, results


def judge_parts(pages, api, *, cold: bool) -> tuple[dict[str, float], list]:
    """The three calls per page through ``api`` (a match module), each timed."""
    product_terms, page_context, listing_match = (
        api.product_terms,
        api.page_context,
        api.listing_match,
    )
    clock = time.process_time
    cpu = {"terms": 0.0, "context": 0.0, "match": 0.0}
    results = []
    for task, page in pages:
        if cold:
            caches_clear()
        titles = [listing.title for listing in page.listings]
        t0 = clock()
        terms = product_terms(task.title or "")
        t1 = clock()
        context = page_context(terms, titles)
        t2 = clock()
        scores = tuple(listing_match(terms, title, context=context) for title in titles)
        t3 = clock()
        cpu["terms"] += t1 - t0
        cpu["context"] += t2 - t1
        cpu["match"] += t3 - t2
        results.append(scores)
    return cpu, results


def digest(pages, results) -> str:
    from collection.matching import search_queries

    h = hashlib.sha256()
    for key, query, scores, follow_up in results:
        h.update(f"{key}|{query}|{follow_up}|".encode())
        h.update(",".join(map(repr, scores)).encode())
        h.update(b"\n")
    for title in sorted({task.title for task, _ in pages}):
        h.update(repr(search_queries(title, limit=5)).encode())
    return h.hexdigest()


def _heap(mib: int) -> list:
    """About ``mib`` MiB of small live container objects (what the collector traverses)."""
    rows = []
    for i in range(mib * 1024 * 1024 // 200):
        rows.append((i, str(i), [i]))
    return rows


def _spread(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--categories", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--heap-mib", type=int, default=0)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--expect", default="", help="the baseline digest; exit 1 if different")
    parser.add_argument(
        "--before", default="", help="a git revision whose match code is timed beside ours"
    )
    args = parser.parse_args()
    _django()

    pages = corpus(args.seed, args.categories, rebuild=args.rebuild)
    listings = sum(len(page.listings) for _, page in pages)
    options = _options()
    heap = _heap(args.heap_mib)

    from collection.matching import match as ours

    before = matching_at(args.before) if args.before else None
    runs: dict[str, list[float]] = {"pipeline": []}
    modes = [("", ours, False), ("cold ", ours, True)]
    if before is not None:
        modes.append(("before ", before, False))
    for label, _, _ in modes:
        for part in ("terms", "context", "match", "total"):
            runs[f"{label}{part}"] = []
    digests = set()
    for _ in range(args.repeat):
        caches_clear()
        gc.collect()
        cpu, results = judge_pipeline(pages, options)
        runs["pipeline"].append(cpu * 1e6 / listings)
        digests.add(digest(pages, results))
        for label, api, cold in modes:
            caches_clear()
            gc.collect()
            parts, scores = judge_parts(pages, api, cold=cold)
            for part, value in parts.items():
                runs[f"{label}{part}"].append(value * 1e6 / listings)
            runs[f"{label}total"].append(sum(parts.values()) * 1e6 / listings)
            if [r[2] for r in results] != scores:
                raise SystemExit(f"{label or 'cached '}parts and the pipeline disagree")
            if not label:  # what the caches hold after one run's worth of judging
                stats = ours.cache_stats() if hasattr(ours, "cache_stats") else {}
                stats["memory_bytes"] = caches_memory(ours)
    del heap

    print(
        f"{len(pages)} search pages, {listings} listings "
        f"({listings / len(pages):.1f} a page), "
        f"{len({t.title for t, _ in pages})} products; seed {args.seed}, "
        f"{args.categories} categories, {args.repeat} repetitions, heap {args.heap_mib} MiB"
    )
    print("µs per listing, CPU (process_time), min / median / max over the repetitions:")
    for name, values in runs.items():
        print(f"  {name:16s} {_spread(values)}")
    ratios = {}
    for label in ("cold ", "before "):
        if f"{label}total" in runs:
            ratio = [b / a for a, b in zip(runs["total"], runs[f"{label}total"], strict=True)]
            ratios[label.strip()] = sorted(ratio)
            print(f"  {label.strip()} ÷ cached{'':6s}{_spread(ratio)}  (same repetition)")
    if stats:
        print("caches after a repetition (as in one run):")
        for name, row in stats.items():
            hits = row.get("hits") if isinstance(row, dict) else None
            looked = hits + row["misses"] if hits is not None else 0
            rate = f", hit rate {hits / looked:.3f}" if looked else ""
            print(f"  {name}: {row}{rate}")
    (only,) = digests if len(digests) == 1 else (None,)
    print(f"digest {only or sorted(digests)}")
    print(
        json.dumps(
            {
                "pages": len(pages),
                "listings": listings,
                "us_per_listing": {k: sorted(v) for k, v in runs.items()},
                "ratios": ratios,
                "caches": stats,
                "digest": only,
            },
            default=str,
        )
    )
    if only is None or (args.expect and only != args.expect):
        print("DIGEST MISMATCH", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
