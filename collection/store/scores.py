"""Settle the dropshipper aggregates of the sellers a run saw, from their sightings.

Called when a run stops (completed, paused, cancelled or failed), after its last batch
committed. First, a listing that the searches of several products found and judged a
match counts for one product only, the one whose title it matches best (a listing copies
one ASIN; the others are its siblings of the same brand and kind). Then per seller, over
all their sightings in every run:

- ``products_matched``: distinct best sellers with at least one matched listing;
- ``median_price_ratio``: the median, over those products, of the price ratio of the
  product's most recent matched sighting;
- ``copy_share``: matched products ÷ distinct products sighted (matches and look-alikes);
- ``score``: ``collection.matching.score.dropshipper_score`` of the three.

Everything is a function of distinct products, never of how often they were seen, so
running the same preset again leaves a seller's score where it was. The batches do not
move these columns (their seller update stays HOT); they change here once per run.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Iterator

from django.db import connection, transaction
from django.utils import timezone

from collection.matching.score import dropshipper_score
from collection.models import Seller, SellerSighting

from . import _postgres
from ._postgres import SELLERS_LOCK
from .results import run_counters_add

CHUNK = 2000  # sellers per transaction
SIGHTINGS = SellerSighting._meta.db_table
# seller id → (products matched, median price ratio, copy share)
Aggregates = dict[int, tuple[int, float | None, float | None]]


def _chunks[T](items: list[T], size: int = CHUNK) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def seller_aggregates(rows: Iterable[tuple[int, int, int, bool, float | None]]) -> Aggregates:
    """(seller, product, run, is_match, price_ratio) rows → {seller: (matched, median, share)}.

    Pure, so tests and the bench compute exactly what the store stores (on PostgreSQL
    ``_aggregates_postgres`` groups the rows in the database to the same figures).
    """
    sighted: dict[int, set[int]] = {}
    latest: dict[int, dict[int, tuple[int, float | None]]] = {}
    for seller_id, product_id, run_id, is_match, ratio in rows:
        sighted.setdefault(seller_id, set()).add(product_id)
        if not is_match:
            continue
        products = latest.setdefault(seller_id, {})
        old = products.get(product_id)
        if old is None or run_id > old[0]:
            products[product_id] = (run_id, ratio)
    result = {}
    for seller_id, sighted_products in sighted.items():
        matched = latest.get(seller_id, {})
        ratios = sorted(r for _, r in matched.values() if r is not None)
        median = round(statistics.median(ratios), 4) if ratios else None
        share = round(len(matched) / len(sighted_products), 4) if sighted_products else None
        result[seller_id] = (len(matched), median, share)
    return result


def shared_listings_resolve(*, run_id: int) -> int:
    """Keep a listing matched under one product of the run only (the best score, then the
    smallest product id); the others become look-alikes. Returns how many moved."""
    if connection.vendor == "postgresql":
        # The same ranking as below, in one statement (no sighting travels to Python).
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE {SIGHTINGS} SET is_match = false WHERE id IN (
                    SELECT id FROM (
                        SELECT id, row_number() OVER (
                            PARTITION BY item_url
                            ORDER BY COALESCE(match_score, 0) DESC, product_id, id
                        ) AS rank
                        FROM {SIGHTINGS}
                        WHERE run_id = %s AND is_match AND item_url <> ''
                    ) ranked
                    WHERE rank > 1
                )
                """,
                [run_id],
            )
            moved: int = cursor.rowcount
            return moved
    best: dict[str, tuple[float, int, int]] = {}
    demoted: list[int] = []
    rows = SellerSighting.objects.filter(run_id=run_id, is_match=True).exclude(item_url="")
    for pk, url, score, product_id in rows.values_list(
        "pk", "item_url", "match_score", "product_id"
    ).iterator(chunk_size=5000):
        rank = (-(score or 0.0), product_id, pk)
        old = best.get(url)
        if old is None:
            best[url] = rank
        elif rank < old:
            demoted.append(old[2])
            best[url] = rank
        else:
            demoted.append(pk)
    for chunk in _chunks(sorted(demoted)):
        SellerSighting.objects.filter(pk__in=chunk).update(is_match=False)
    return len(demoted)


def _aggregates_postgres(seller_ids: list[int]) -> Aggregates:
    """``seller_aggregates`` of these sellers' sightings, the grouping done by PostgreSQL:
    one row per seller (its products sighted and matched, the latest matched ratio of each)
    instead of one per sighting; the median and the rounding stay in Python, so the
    figures are the pure function's to the bit."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH products AS (
                -- per (seller, product): its latest matched sighting, or any when none is
                SELECT DISTINCT ON (seller_id, product_id) seller_id, is_match, price_ratio
                FROM {SIGHTINGS}
                WHERE seller_id = ANY(%s::bigint[])
                ORDER BY seller_id, product_id, is_match DESC, run_id DESC
            )
            SELECT seller_id, count(*), count(*) FILTER (WHERE is_match),
                array_agg(price_ratio) FILTER (WHERE is_match AND price_ratio IS NOT NULL)
            FROM products GROUP BY seller_id
            """,
            [seller_ids],
        )
        result = {}
        for seller_id, sighted, matched, ratios in cursor.fetchall():
            ordered = sorted(ratios or ())
            median = round(statistics.median(ordered), 4) if ordered else None
            share = round(matched / sighted, 4) if sighted else None
            result[seller_id] = (matched, median, share)
        return result


def seller_counters_settle(*, run_id: int) -> int:
    """Fold what the run's batches staged under ``COLLECTION_SELLER_COUNTERS=per_run``
    into its sellers (counters, last seen, feedback) and the run's ``sellers_found``;
    returns the sellers updated.

    Whatever the setting now: a run staged under per_run is settled even if the setting
    changed since. Idempotent (what it folds in is deleted in the same transaction), so a
    run paused, resumed and completed is settled at each stop. Nothing is staged on the
    ORM path (SQLite).
    """
    if connection.vendor != "postgresql":
        return 0
    with transaction.atomic():
        updated, first_in_run = _postgres.seller_counters_settle(run_id=run_id, now=timezone.now())
        if first_in_run:
            run_counters_add(run_id=run_id, increments={"sellers_found": first_in_run})
    return updated


def seller_scores_settle(*, run_id: int) -> int:
    """Recompute the aggregates and score of every seller the run saw; returns how many.

    The counters staged by per_run batches are settled first (``seller_counters_settle``).
    """
    seller_counters_settle(run_id=run_id)
    shared_listings_resolve(run_id=run_id)
    seller_ids = sorted(
        SellerSighting.objects.filter(run_id=run_id).values_list("seller_id", flat=True).distinct()
    )
    table = Seller._meta.db_table
    postgres = connection.vendor == "postgresql"
    for chunk in _chunks(seller_ids):
        if postgres:
            aggregates = _aggregates_postgres(chunk)
        else:
            rows = SellerSighting.objects.filter(seller_id__in=chunk).values_list(
                "seller_id", "product_id", "run_id", "is_match", "price_ratio"
            )
            aggregates = seller_aggregates(rows)
        values = []
        for seller_id, (matched, median, share) in sorted(aggregates.items()):
            score = dropshipper_score(
                products_matched=matched, median_price_ratio=median, copy_share=share
            )
            values.append((seller_id, matched, median, share, score))
        with transaction.atomic(), connection.cursor() as cursor:
            if postgres:
                # The store's seller section (see _postgres): one writer of sellers at a time,
                # so this update and a batch of another run never lock rows in two orders.
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SELLERS_LOCK])
                cursor.execute(
                    f"""
                    UPDATE {table} s SET products_matched = v.matched,
                        median_price_ratio = v.median, copy_share = v.share, score = v.score
                    FROM unnest(%s::bigint[], %s::int[], %s::float8[], %s::float8[],
                                %s::float8[]) AS v(id, matched, median, share, score)
                    WHERE s.id = v.id
                    """,
                    [list(column) for column in zip(*values, strict=True)] if values else [[]] * 5,
                )
            else:
                cursor.executemany(
                    f"UPDATE {table} SET products_matched = %s, median_price_ratio = %s, "
                    "copy_share = %s, score = %s WHERE id = %s",
                    [(m, med, sh, sc, pk) for pk, m, med, sh, sc in values],
                )
    return len(seller_ids)
