"""The ORM path (SQLite, the embedded default): same results as ``_postgres``, row by model.

SQLite has one writer at a time (settings open IMMEDIATE transactions), so reading the
existing rows first and then writing them is race-free there; on PostgreSQL this path
takes the same advisory lock as ``_postgres`` for the seller section and locks the task
rows, so it stays correct if it is ever used there (tests compare both paths). It builds
model instances, so it is the slow path: the engine uses ``_postgres`` on PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from django.db import connection
from django.db.models import Count

from collection.models import (
    Product,
    ProductCategory,
    RunTask,
    Seller,
    SellerChange,
    SellerSighting,
)

from ._postgres import SELLERS_LOCK
from .clean import (
    FEEDBACK_PERCENT_NONE,
    FEEDBACK_SCORE_NONE,
    MarkRow,
    PreparedBatch,
    SightingRow,
    TaskRow,
)

CHUNK = 500  # ids per IN (…) (SQLite caps bound parameters per statement)


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _on_postgres() -> bool:
    return connection.vendor == "postgresql"


def _rows_update(objs: list, field_names: list[str]) -> None:
    """``UPDATE … SET … WHERE id = %s`` once per object, in one ``executemany``.

    Same effect as ``bulk_update`` (values prepared by the fields, no ``save()`` hooks),
    without its ``CASE WHEN`` expressions: building those costs about 0.5 ms per object
    and field in Django, which made a 2,000-seller batch take seconds on SQLite.
    """
    if not objs:
        return
    model = type(objs[0])
    meta = model._meta
    fields = [meta.get_field(name) for name in field_names]
    quote = connection.ops.quote_name
    sql = (
        f"UPDATE {quote(meta.db_table)} SET "
        + ", ".join(f"{quote(field.column)} = %s" for field in fields)
        + f" WHERE {quote(meta.pk.column)} = %s"
    )
    params = [
        [field.get_db_prep_save(getattr(obj, field.attname), connection) for field in fields]
        + [obj.pk]
        for obj in sorted(objs, key=lambda obj: obj.pk)
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def transaction_begin() -> None:
    """Nothing to set up on this path."""


def mark_tasks(*, run_id: int, marks: dict[int, MarkRow], now) -> list[TaskRow]:
    ids = sorted(marks)
    running: list[tuple] = []
    for chunk in _chunks(ids):
        qs = RunTask.objects.filter(run_id=run_id, pk__in=chunk, status=RunTask.Status.RUNNING)
        if _on_postgres():
            qs = qs.select_for_update().order_by("pk")
        running.extend(
            qs.values_list("id", "phase", "key", "page", "category_id", "product_id", "query")
        )
    moved = []
    for row in running:
        mark = marks[row[0]]
        updated = RunTask.objects.filter(pk=row[0], status=RunTask.Status.RUNNING).update(
            status=mark.status,
            attempts=mark.attempts,
            error_type=mark.error_type,
            error_message=mark.error_message,
            result_count=mark.result_count,
            finished_at=now,
            leased_until=None,
        )
        if updated:
            moved.append(TaskRow(*row))
    return moved


def upsert_products(*, run_id: int, batch: PreparedBatch, now) -> tuple[dict[str, int], int]:
    rows = batch.sorted_products()
    existing: dict[str, Product] = {}
    for chunk in _chunks([r.asin for r in rows]):
        qs = Product.objects.filter(asin__in=chunk)
        if _on_postgres():
            qs = qs.select_for_update().order_by("asin")
        existing.update((p.asin, p) for p in qs)
    new, changed = [], []
    for row in rows:
        product = existing.get(row.asin)
        if product is None:
            new.append(
                Product(
                    asin=row.asin,
                    title=row.title,
                    price=row.price,
                    currency=row.currency,
                    rating=row.rating,
                    ratings_count=row.ratings_count,
                    url=row.url,
                    first_seen_run_id=run_id,
                    price_run_id=run_id if row.price is not None else None,
                )
            )
            continue
        product.title = row.title or product.title
        if row.price is not None:  # the lowest within a run; a later run's replaces
            if product.price is None or product.price_run_id != run_id:
                product.price = row.price
            else:
                product.price = min(product.price, row.price)
            product.price_run_id = run_id
        product.currency = row.currency or product.currency
        product.rating = row.rating if row.rating is not None else product.rating
        if row.ratings_count is not None:
            product.ratings_count = row.ratings_count
        product.url = row.url or product.url
        product.updated_at = now
        changed.append(product)
    if new:
        Product.objects.bulk_create(new, batch_size=CHUNK)
    if changed:
        _rows_update(
            changed,
            [
                "title",
                "price",
                "price_run_id",
                "currency",
                "rating",
                "ratings_count",
                "url",
                "updated_at",
            ],
        )
    ids = {p.asin: p.pk for p in [*new, *changed]}
    already: set[int] = set()
    for chunk in _chunks(list(ids.values())):
        already.update(
            ProductCategory.objects.filter(run_id=run_id, product_id__in=chunk)
            .values_list("product_id", flat=True)
            .distinct()
        )
    return ids, len(ids) - len(already)


def upsert_links(*, run_id: int, links: list[tuple[int, int, int | None]], now) -> None:
    if not links:
        return
    existing: dict[tuple[int, int], ProductCategory] = {}
    for chunk in _chunks(sorted({link[0] for link in links})):
        existing.update(
            ((pc.product_id, pc.category_id), pc)
            for pc in ProductCategory.objects.filter(product_id__in=chunk)
        )
    new, changed = [], []
    for product_id, category_id, rank in links:
        link = existing.get((product_id, category_id))
        if link is None:
            new.append(
                ProductCategory(
                    product_id=product_id, category_id=category_id, rank=rank, run_id=run_id
                )
            )
            continue
        if link.run_id == run_id:
            ranks = [r for r in (link.rank, rank) if r is not None]
            link.rank = min(ranks) if ranks else None
        elif rank is not None:
            link.rank = rank
        link.run_id = run_id
        link.updated_at = now
        changed.append(link)
    if new:
        ProductCategory.objects.bulk_create(new, batch_size=CHUNK)
    if changed:
        _rows_update(changed, ["rank", "run_id", "updated_at"])


def create_tasks(*, run_id: int, tasks: list[tuple[str, int, int, str]]) -> int:
    if not tasks:
        return 0
    existing: set[str] = set()
    for chunk in _chunks([t[0] for t in tasks]):
        existing.update(
            RunTask.objects.filter(run_id=run_id, key__in=chunk).values_list("key", flat=True)
        )
    new = [
        RunTask(
            run_id=run_id,
            phase=RunTask.Phase.EBAY,
            key=key,
            product_id=product_id,
            page=page,
            query=query,
        )
        for key, product_id, page, query in tasks
        if key not in existing
    ]
    RunTask.objects.bulk_create(new, batch_size=CHUNK, ignore_conflicts=True)
    return len(new)


SIGHTING_EVIDENCE_FIELDS = [
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
]


def _sighting_fill(sighting: SellerSighting, row: SightingRow) -> None:
    sighting.item_id, sighting.listing_price, sighting.currency = (
        row.item_id,
        row.price,
        row.currency,
    )
    sighting.title, sighting.item_url = row.title, row.url
    sighting.shipping_cost, sighting.location, sighting.query = (
        row.shipping_cost,
        row.location,
        row.query,
    )
    sighting.match_score, sighting.is_match, sighting.price_ratio = (
        row.match_score,
        row.is_match,
        row.price_ratio,
    )


def _feedback_rank(score, percent):
    return (
        FEEDBACK_SCORE_NONE if score is None else score,
        FEEDBACK_PERCENT_NONE if percent is None else percent,
    )


def _pairs_by_seller(pairs: Iterable[tuple[int, int]]) -> dict[int, list[int]]:
    grouped: dict[int, list[int]] = {}
    for seller_id, product_id in pairs:
        grouped.setdefault(seller_id, []).append(product_id)
    return grouped


def store_sellers(*, run_id: int, batch: PreparedBatch, now, counters: str = "per_batch") -> dict:
    """Sellers, `added` changes, sightings and seller counters; returns counts.

    ``counters`` is accepted for the same signature as ``_postgres`` and ignored: this
    path always moves the counters with the batch (SQLite has one writer at a time, so
    staging them would save nothing).
    """
    if _on_postgres():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SELLERS_LOCK])

    rows = batch.sorted_sellers()
    existing: dict[str, Seller] = {}
    for chunk in _chunks([r.key for r in rows]):
        qs = Seller.objects.filter(normalized__in=chunk)
        if _on_postgres():
            qs = qs.select_for_update().order_by("normalized")
        existing.update((s.normalized, s) for s in qs)

    new: list[Seller] = []
    for row in rows:
        seller = existing.get(row.key)
        if seller is None:
            new.append(
                Seller(
                    username=row.username,
                    normalized=row.key,
                    ebay_user_id=row.user_id,
                    feedback_score=row.feedback_score,
                    feedback_percent=row.feedback_percent,
                    first_seen_run_id=run_id,
                    last_seen_run_id=run_id,
                    first_seen_at=now,
                    last_seen_at=now,
                )
            )
            continue
        has_feedback = row.feedback_score is not None or row.feedback_percent is not None
        last_run = seller.last_seen_run_id
        if has_feedback and (
            last_run is None
            or run_id > last_run
            or (
                run_id == last_run
                and _feedback_rank(row.feedback_score, row.feedback_percent)
                > _feedback_rank(seller.feedback_score, seller.feedback_percent)
            )
        ):
            seller.feedback_score = row.feedback_score
            seller.feedback_percent = row.feedback_percent
        if row.user_id:
            seller.ebay_user_id = row.user_id
        if seller.first_seen_run_id == run_id and row.username < seller.username:
            seller.username = row.username
        seller.last_seen_run_id = run_id if last_run is None else max(last_run, run_id)
        seller.last_seen_at = now if seller.last_seen_at is None else max(seller.last_seen_at, now)
        seller.updated_at = now

    new_keys = sorted(s.normalized for s in new)
    if new:
        Seller.objects.bulk_create(new, batch_size=CHUNK)
        total = Seller.objects.filter(deleted_at__isnull=True).count()
        first = total - len(new)
        by_key = {s.normalized: s for s in new}
        SellerChange.objects.bulk_create(
            [
                SellerChange(
                    action=SellerChange.Action.ADDED,
                    source=SellerChange.Source.RUN,
                    seller_id=by_key[key].pk,
                    run_id=run_id,
                    details={"normalized": key},
                    seller_count_after=first + index,
                )
                for index, key in enumerate(new_keys, start=1)
            ],
            batch_size=CHUNK,
        )
    sellers = {**existing, **{s.normalized: s for s in new}}

    # Sightings: per (run, seller, product) a match beats a look-alike, then the lowest
    # (price, item id, query) wins.
    wanted = {(sellers[s.key].pk, s.product_id): s for s in batch.sightings.values()}
    present: dict[tuple[int, int], SellerSighting] = {}
    for chunk in _chunks(sorted({pair[0] for pair in wanted})):
        for sighting in SellerSighting.objects.filter(run_id=run_id, seller_id__in=chunk):
            pair = (sighting.seller_id, sighting.product_id)
            if pair in wanted:
                present[pair] = sighting
    to_insert, to_update = [], []
    for pair in sorted(wanted):
        sighting_row = wanted[pair]
        old = present.get(pair)
        if old is None:
            sighting = SellerSighting(run_id=run_id, seller_id=pair[0], product_id=pair[1])
            _sighting_fill(sighting, sighting_row)
            to_insert.append(sighting)
        elif sighting_row.rank() < (
            not old.is_match,
            old.listing_price is None,
            old.listing_price or 0,
            old.item_id,
            old.query,
        ):
            _sighting_fill(old, sighting_row)
            to_update.append(old)
    if to_insert:
        SellerSighting.objects.bulk_create(to_insert, batch_size=CHUNK)
    if to_update:
        _rows_update(to_update, SIGHTING_EVIDENCE_FIELDS)

    # Seller listing counters move by what this transaction inserted (see
    # _postgres.store_sellers); the score is settled when the run finishes.
    inserted = _pairs_by_seller((s.seller_id, s.product_id) for s in to_insert)
    in_run: Counter = Counter()
    for chunk in _chunks(sorted(inserted)):
        in_run.update(
            dict(
                SellerSighting.objects.filter(run_id=run_id, seller_id__in=chunk)
                .values("seller_id")
                .annotate(n=Count("id"))
                .values_list("seller_id", "n")
            )
        )
    by_id = {s.pk: s for s in sellers.values()}
    sellers_found = 0
    for seller_id, products in inserted.items():
        seller = by_id[seller_id]
        first_in_run = in_run[seller_id] == len(products)
        sellers_found += first_in_run
        seller.times_seen += len(products)
        seller.runs_seen += int(first_in_run)
    touched = list(existing.values()) + [s for s in new if s.pk in inserted]
    if touched:
        _rows_update(
            touched,
            [
                "username",
                "ebay_user_id",
                "feedback_score",
                "feedback_percent",
                "last_seen_run_id",
                "last_seen_at",
                "updated_at",
                "times_seen",
                "runs_seen",
            ],
        )
    return {
        "new_keys": new_keys,
        "sightings_new": len(to_insert),
        "sellers_found": sellers_found,
        "new_usernames": {k: batch.sellers[k].username for k in new_keys[:20]},
    }
