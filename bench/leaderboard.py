"""The dropshipper leaderboard at 1M sellers: seed PostgreSQL in bulk, time the pages' queries.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scout_ui_bench \\
        /work/main/.venv/bin/python bench/leaderboard.py [--sellers 1000000] [--reseed]

Seeds (once; ``--reseed`` starts over) ``--sellers`` sellers — a tenth of them dropshippers
with 4–40 matched sightings over 10 runs and 5,000 best sellers, the rest with one or two
look-alike or unmatched sightings, 1 % soft-deleted — with ``COPY … FROM STDIN``, then
ANALYZE. Then, for the leaderboard unfiltered and under every filter, plus the seller,
product and run-top reads, it calls the real selector, captures the SQL it sent, and prints
the wall time of the call (median of 3, warm cache) and PostgreSQL's execution time of each
query under ``EXPLAIN (ANALYZE, BUFFERS)`` with the plan's top node. Not part of the test
suite: it needs minutes and a database of its own (the name must contain "bench").
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._django import bench_setup

RUNS = 10
PRODUCTS = 5000
DROPSHIPPER_SHARE = 0.10
WORDS = ["deals", "shop", "outlet", "store", "usa", "prime", "home", "best", "direct", "mart"]


def seed(*, sellers: int) -> None:
    from django.db import connection

    from collection.models import Category, CollectionRun, Product, Seller, SellerSighting

    rng = random.Random(14)
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE collection_sellersighting, collection_sellerchange, collection_seller, "
            "collection_productcategory, collection_product, collection_sellersnapshot, "
            "collection_runtask, activity_runevent, collection_collectionrun_categories, "
            "collection_collectionrun RESTART IDENTITY CASCADE"
        )
    now = dt.datetime.now(dt.UTC)
    categories = list(Category.objects.values_list("pk", flat=True))
    runs = [
        CollectionRun.objects.create(
            status="completed",
            phase="done",
            started_at=now - dt.timedelta(days=RUNS - i),
            finished_at=now - dt.timedelta(days=RUNS - i) + dt.timedelta(hours=1),
        ).pk
        for i in range(RUNS)
    ]
    Product.objects.bulk_create(
        Product(
            asin=f"B0{i:08d}",
            title=f"Best seller number {i} with a long Amazon title",
            price=Decimal(rng.randrange(500, 9000)) / 100,
        )
        for i in range(PRODUCTS)
    )
    product_rows = list(Product.objects.values_list("pk", "price"))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO collection_productcategory (product_id, category_id, rank, updated_at) "
            "SELECT p, c, 1, now() FROM unnest(%s::bigint[], %s::bigint[]) AS t(p, c)",
            [[pk for pk, _ in product_rows], [rng.choice(categories) for _ in product_rows]],
        )

    seller_columns = (
        "username",
        "normalized",
        "display_name",
        "ebay_user_id",
        "feedback_score",
        "feedback_percent",
        "first_seen_run_id",
        "last_seen_run_id",
        "first_seen_at",
        "last_seen_at",
        "times_seen",
        "products_matched",
        "median_price_ratio",
        "copy_share",
        "runs_seen",
        "score",
        "flagged",
        "deleted_at",
        "created_at",
        "updated_at",
    )
    profiles = []  # (is_dropshipper, first run index)
    table = Seller._meta.db_table
    with connection.cursor() as cursor:
        copy_sql = f"COPY {table} ({', '.join(seller_columns)}) FROM STDIN"
        with cursor.cursor.copy(copy_sql) as copy:
            for i in range(sellers):
                dropshipper = rng.random() < DROPSHIPPER_SHARE
                first = rng.randrange(RUNS)
                name = f"{rng.choice(WORDS)}-{rng.choice(WORDS)}{i}"
                if i % 100_000 == 7:
                    name = f"rarefind-{i}"
                matched = rng.randrange(4, 41) if dropshipper else 0
                ratio = 1.5 + rng.random() * 0.8 if dropshipper else None
                score = (
                    round(20 + rng.random() * 80, 2) if dropshipper else round(rng.random() * 5, 2)
                )
                first_at = now - dt.timedelta(days=RUNS - first)
                copy.write_row(
                    (
                        name,
                        name,
                        "",
                        "",
                        rng.randrange(0, 50_000),
                        Decimal("99.1"),
                        runs[first],
                        runs[-1],
                        first_at,
                        now,
                        matched + 1,
                        matched,
                        ratio,
                        rng.random() if dropshipper else None,
                        RUNS - first,
                        score,
                        rng.random() < 0.002,
                        now if rng.random() < 0.01 else None,
                        first_at,
                        now,
                    )
                )
                profiles.append((dropshipper, first))
    print(f"  {sellers:,} sellers copied in {time.perf_counter() - t0:.1f} s", flush=True)

    seller_ids = list(Seller.objects.order_by("pk").values_list("pk", flat=True))
    sighting_columns = (
        "run_id",
        "seller_id",
        "product_id",
        "item_id",
        "listing_price",
        "currency",
        "title",
        "item_url",
        "shipping_cost",
        "location",
        "query",
        "match_score",
        "is_match",
        "price_ratio",
        "created_at",
    )
    count = 0
    with connection.cursor() as cursor:
        table = SellerSighting._meta.db_table
        with cursor.cursor.copy(f"COPY {table} ({', '.join(sighting_columns)}) FROM STDIN") as copy:
            for seller_id, (dropshipper, first) in zip(seller_ids, profiles, strict=True):
                n = rng.randrange(4, 41) if dropshipper else rng.randrange(1, 3)
                drawn = set()  # one sighting per (run, seller, product), as the store keeps
                for k in range(n):
                    product_id, price = product_rows[rng.randrange(PRODUCTS)]
                    run_index = rng.randrange(first, RUNS)
                    if (run_index, product_id) in drawn:
                        continue
                    drawn.add((run_index, product_id))
                    match = dropshipper and rng.random() < 0.85
                    ratio = (1.5 + rng.random() * 0.8) if match else rng.random() * 2 + 0.5
                    count += 1
                    copy.write_row(
                        (
                            runs[run_index],
                            seller_id,
                            product_id,
                            f"{seller_id}{k:03d}",
                            (price * Decimal(str(round(ratio, 3)))).quantize(Decimal("0.01")),
                            "USD",
                            "Copied title of a best seller, brand new, free shipping",
                            "",
                            0,
                            "US",
                            "best seller number",
                            90 + rng.random() * 10 if match else rng.random() * 60,
                            match,
                            ratio,
                            now - dt.timedelta(days=RUNS - run_index),
                        )
                    )
    print(f"  {count:,} sightings copied ({time.perf_counter() - t0:.1f} s)", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"  seeded and analyzed in {time.perf_counter() - t0:.1f} s", flush=True)


def explain(sql: str) -> tuple[float, str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)
        plan = cursor.fetchone()[0]
    plan = plan[0] if isinstance(plan, list) else json.loads(plan)[0]
    node = plan["Plan"]
    while node.get("Node Type") in ("Limit", "Sort", "Gather Merge", "Subquery Scan") and node.get(
        "Plans"
    ):
        node = node["Plans"][0]
    label = node["Node Type"] + (f" on {node['Index Name']}" if node.get("Index Name") else "")
    return plan["Execution Time"], label


def measure(name: str, call) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    walls = []
    for _ in range(3):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            call()
            walls.append((time.perf_counter() - started) * 1000)
    queries = [q["sql"] for q in captured.captured_queries]
    explained = [explain(sql) for sql in queries if sql.lstrip().upper().startswith("SELECT")]
    return {"name": name, "wall_ms": statistics.median(walls), "queries": explained}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sellers", type=int, default=1_000_000)
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()
    url = bench_setup()
    print(f"database {url}")

    from collection.models import Category, CollectionRun, Product, Seller
    from collection.selectors import (
        LeaderboardFilters,
        product_resellers_get,
        run_top_sellers_get,
        seller_evidence_queryset,
        seller_leaderboard_get,
        seller_runs_chart_get,
    )

    present = Seller.objects.count()
    if args.reseed or present < args.sellers * 0.99:
        print(f"seeding {args.sellers:,} sellers (found {present:,})")
        seed(sellers=args.sellers)
    runs = list(CollectionRun.objects.order_by("pk").values_list("pk", flat=True))
    top = seller_leaderboard_get(filters=LeaderboardFilters(), limit=1).rows[0].seller
    product = Product.objects.order_by("pk").first()
    department = Category.objects.filter(is_department=True).order_by("pk").first()
    category = Category.objects.order_by("-pk").first()
    page = seller_leaderboard_get(filters=LeaderboardFilters())
    deep = page
    for _ in range(20):  # page 21: 1,000 sellers down
        deep = seller_leaderboard_get(filters=LeaderboardFilters(), after=deep.next_cursor)

    L = LeaderboardFilters
    cases = [
        ("leaderboard, page 1", lambda: seller_leaderboard_get(filters=L())),
        (
            "leaderboard, page 21 (keyset)",
            lambda: seller_leaderboard_get(filters=L(), after=deep.next_cursor),
        ),
        (
            "leaderboard, previous page",
            lambda: seller_leaderboard_get(filters=L(), before=deep.previous_cursor),
        ),
        ("search 'outlet' (common)", lambda: seller_leaderboard_get(filters=L(search="outlet"))),
        (
            "search 'rarefind' (10 sellers)",
            lambda: seller_leaderboard_get(filters=L(search="rarefind")),
        ),
        (
            f"department {department.name!r}",
            lambda: seller_leaderboard_get(filters=L(department=department.department)),
        ),
        (
            f"category {category.name!r}",
            lambda: seller_leaderboard_get(filters=L(category_id=category.pk)),
        ),
        (
            "resells ASIN (one product)",
            lambda: seller_leaderboard_get(filters=L(asin=product.asin)),
        ),
        ("score ≥ 90", lambda: seller_leaderboard_get(filters=L(score_min=90))),
        (
            "markup 60–80 %",
            lambda: seller_leaderboard_get(filters=L(markup_min_percent=60, markup_max_percent=80)),
        ),
        ("feedback ≥ 45,000", lambda: seller_leaderboard_get(filters=L(feedback_min=45_000))),
        ("flagged", lambda: seller_leaderboard_get(filters=L(flagged=True))),
        ("new in the last run", lambda: seller_leaderboard_get(filters=L(new_in_run_id=runs[-1]))),
        (
            "matched in the last run",
            lambda: seller_leaderboard_get(filters=L(seen_in_run_id=runs[-1])),
        ),
        (
            "markup 60–80 % + score ≥ 50 + feedback ≥ 1000",
            lambda: seller_leaderboard_get(
                filters=L(
                    markup_min_percent=60, markup_max_percent=80, score_min=50, feedback_min=1000
                )
            ),
        ),
        (
            "seller page: evidence page 1 + count",
            lambda: (
                list(seller_evidence_queryset(seller_id=top.pk)[:50]),
                seller_evidence_queryset(seller_id=top.pk).count(),
            ),
        ),
        ("seller page: per-run chart", lambda: seller_runs_chart_get(seller_id=top.pk)),
        ("product page", lambda: product_resellers_get(asin=product.asin)),
        (
            "run top 10 + new 10 (last run)",
            lambda: (
                run_top_sellers_get(run_id=runs[-1]),
                run_top_sellers_get(run_id=runs[-1], new_only=True),
            ),
        ),
    ]
    print(f"\n{'read':<48} {'wall ms':>8}   queries: execution ms (plan's top node)")
    for name, call in cases:
        result = measure(name, call)
        parts = "; ".join(f"{ms:.1f} ({node})" for ms, node in result["queries"])
        print(f"{name:<48} {result['wall_ms']:>8.1f}   {parts}", flush=True)


if __name__ == "__main__":
    main()
