"""Reads for the operator pages: the leaderboard, a seller's evidence, a product's resellers,
a run's top dropshippers.

Past 400 lines: the leaderboard, its keyset paging, its filters and the sample listings of
its rows are one read path (bench/leaderboard.py times them together); split, each piece
would import the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Lower

from collection.matching.score import dropshipper_why
from collection.models import (
    CollectionRun,
    Product,
    Seller,
    SellerSighting,
    SellerSnapshot,
)
from collection.normalize import seller_key

# --- Dropshippers: the leaderboard, a seller's evidence, a product's resellers ----------
#
# Read by the operator pages (``activity.views``). Markup is shown in percent of the Amazon
# price: markup % = (price_ratio − 1) × 100, over matched sightings only (a look-alike is
# kept as evidence but says nothing about what the seller charges for the best seller).

LEADERBOARD_PAGE_SIZE = 50
LEADERBOARD_SAMPLES = 3  # sample listings per leaderboard row
EVIDENCE_PAGE_SIZE = 50
RUN_TOP_LIMIT = 10


def markup_percent(ratio: float | None) -> float | None:
    """``price_ratio`` (listing ÷ Amazon) as a markup in percent, rounded to one place."""
    return None if ratio is None else round((ratio - 1.0) * 100.0, 1)


def _ratio_from_markup(percent: float) -> float:
    return 1.0 + percent / 100.0


def seller_score_why(*, seller: Seller) -> str:
    """The seller's score in words (one sentence)."""
    return dropshipper_why(
        products_matched=seller.products_matched,
        median_price_ratio=seller.median_price_ratio,
        copy_share=seller.copy_share,
    )


@dataclass(frozen=True, slots=True)
class LeaderboardFilters:
    """What an operator narrowed the leaderboard to; every field optional (None/"" = any)."""

    search: str = ""  # part of the seller's name
    department: str = ""  # sellers with a match on a best seller of this department
    category_id: int | None = None  # … or of this one category
    asin: str = ""  # "who resells ASIN X?" (a matched listing of it)
    score_min: float | None = None
    markup_min_percent: float | None = None  # on the seller's median markup
    markup_max_percent: float | None = None
    feedback_min: int | None = None  # eBay feedback score
    flagged: bool | None = None
    new_in_run_id: int | None = None  # first seen by this run
    seen_in_run_id: int | None = None  # a matched listing in this run


@dataclass(frozen=True, slots=True)
class LeaderboardCursor:
    """A position in the ranking (score desc, id asc): keyset paging, no OFFSET scan."""

    score: float
    seller_id: int

    def as_param(self) -> str:
        return f"{self.score!r}_{self.seller_id}"

    @classmethod
    def from_param(cls, value: str | None) -> LeaderboardCursor | None:
        if not value:
            return None
        score, _, seller_id = value.rpartition("_")
        try:
            cursor = cls(score=float(score), seller_id=int(seller_id))
        except ValueError:
            return None
        return cursor if cursor.score == cursor.score else None  # NaN is no position


@dataclass(slots=True)
class SampleListing:
    """One listing as evidence: the eBay price against the Amazon price."""

    sighting_id: int
    item_id: str
    title: str
    item_url: str
    listing_price: object  # Decimal | None
    currency: str
    shipping_cost: object
    amazon_price: object
    asin: str
    product_title: str
    markup_percent: float | None
    match_score: float | None
    is_match: bool


@dataclass(slots=True)
class LeaderboardRow:
    seller: Seller
    markup_min_percent: float | None = None
    markup_max_percent: float | None = None
    samples: list[SampleListing] = field(default_factory=list)

    @property
    def markup_median_percent(self) -> float | None:
        return markup_percent(self.seller.median_price_ratio)


@dataclass(slots=True)
class LeaderboardPage:
    rows: list[LeaderboardRow]
    next_cursor: LeaderboardCursor | None
    previous_cursor: LeaderboardCursor | None


def _matched_on_products(products: QuerySet) -> Exists:
    return Exists(
        SellerSighting.objects.filter(
            seller=OuterRef("pk"), is_match=True, product_id__in=products.values("pk")
        )
    )


def seller_leaderboard_queryset(*, filters: LeaderboardFilters) -> QuerySet[Seller]:
    """Active sellers matching ``filters``, unordered (the caller ranks and pages).

    Every filter is a condition PostgreSQL can check while it walks
    ``seller_leaderboard_idx`` (score desc, id) or, for the narrow ones (a product, a run,
    the flagged), a semi-join from their own index; bench/leaderboard.py times each.
    """
    sellers = Seller.objects.filter(deleted_at__isnull=True)
    f = filters
    if f.search.strip():
        # LOWER(normalized) (the key is case-folded already, so the same text) is what the
        # trigram index covers (migration 0007): an index on the bare column would also
        # answer the store's equality lookups of known sellers, badly.
        sellers = sellers.alias(name_key=Lower("normalized")).filter(
            Q(name_key__contains=seller_key(f.search)) | Q(display_name__icontains=f.search.strip())
        )
    if f.category_id is not None:
        sellers = sellers.filter(
            _matched_on_products(Product.objects.filter(rankings__category_id=f.category_id))
        )
    elif f.department:
        sellers = sellers.filter(
            _matched_on_products(
                Product.objects.filter(rankings__category__department=f.department)
            )
        )
    if f.asin.strip():
        sellers = sellers.filter(
            _matched_on_products(Product.objects.filter(asin=f.asin.strip().upper()))
        )
    if f.score_min is not None:
        sellers = sellers.filter(score__gte=f.score_min)
    if f.markup_min_percent is not None:
        sellers = sellers.filter(median_price_ratio__gte=_ratio_from_markup(f.markup_min_percent))
    if f.markup_max_percent is not None:
        sellers = sellers.filter(median_price_ratio__lte=_ratio_from_markup(f.markup_max_percent))
    if f.feedback_min is not None:
        sellers = sellers.filter(feedback_score__gte=f.feedback_min)
    if f.flagged is not None:
        sellers = sellers.filter(flagged=f.flagged)
    if f.new_in_run_id is not None:
        sellers = sellers.filter(first_seen_run_id=f.new_in_run_id)
    if f.seen_in_run_id is not None:
        sellers = sellers.filter(
            Exists(
                SellerSighting.objects.filter(
                    run_id=f.seen_in_run_id, seller=OuterRef("pk"), is_match=True
                )
            )
        )
    return sellers


def seller_leaderboard_get(
    *,
    filters: LeaderboardFilters,
    after: LeaderboardCursor | None = None,
    before: LeaderboardCursor | None = None,
    limit: int = LEADERBOARD_PAGE_SIZE,
) -> LeaderboardPage:
    """One page of the ranking: sellers by score (then id), with their sample listings.

    Two queries whatever the page: the sellers (one more than a page, to know whether a
    next page exists) and ``seller_samples_get`` for all of them.
    """
    sellers = seller_leaderboard_queryset(filters=filters)
    if before is not None:
        # ``score >= cursor`` repeats what the OR implies: it bounds the index scan, which
        # otherwise starts at the far end and filters its way to the cursor.
        sellers = sellers.filter(
            Q(score__gt=before.score) | Q(score=before.score, id__lt=before.seller_id),
            score__gte=before.score,
        ).order_by("score", "-id")
        found = list(sellers[: limit + 1])
        more_before = len(found) > limit
        found = list(reversed(found[:limit]))
        more_after = True
    else:
        if after is not None:
            sellers = sellers.filter(
                Q(score__lt=after.score) | Q(score=after.score, id__gt=after.seller_id),
                score__lte=after.score,  # the index bound (see ``before``)
            )
        found = list(sellers.order_by("-score", "id")[: limit + 1])
        more_after = len(found) > limit
        found = found[:limit]
        more_before = after is not None
    samples, ranges = seller_samples_get(seller_ids=[s.pk for s in found])
    rows = [
        LeaderboardRow(
            seller=seller,
            markup_min_percent=markup_percent(ranges.get(seller.pk, (None, None))[0]),
            markup_max_percent=markup_percent(ranges.get(seller.pk, (None, None))[1]),
            samples=samples.get(seller.pk, []),
        )
        for seller in found
    ]

    def cursor(seller: Seller) -> LeaderboardCursor:
        return LeaderboardCursor(score=seller.score, seller_id=seller.pk)

    return LeaderboardPage(
        rows=rows,
        next_cursor=cursor(found[-1]) if found and more_after else None,
        previous_cursor=cursor(found[0]) if found and more_before else None,
    )


def seller_samples_get(
    *, seller_ids: list[int], per_seller: int = LEADERBOARD_SAMPLES
) -> tuple[dict[int, list[SampleListing]], dict[int, tuple[float | None, float | None]]]:
    """Sample listings and the markup range of many sellers, in one query.

    Samples: each seller's best-matching listings, one per product (its latest sighting of
    that product), strongest match first. Range: min and max ``price_ratio`` over all the
    seller's matched sightings. Window functions (PostgreSQL and SQLite ≥ 3.25 alike).
    """
    from django.db import connection

    if not seller_ids:
        return {}, {}
    sighting = SellerSighting._meta.db_table
    product = Product._meta.db_table
    placeholders = ", ".join(["%s"] * len(seller_ids))
    sql = f"""
        SELECT id, seller_id, item_id, title, item_url, listing_price, currency,
               shipping_cost, price_ratio, match_score, asin, product_title, amazon_price,
               ratio_min, ratio_max, by_seller
        FROM (
            SELECT s.*, ROW_NUMBER() OVER (
                PARTITION BY s.seller_id
                ORDER BY s.match_score DESC, s.id DESC
            ) AS by_seller
            FROM (
                SELECT s.id, s.seller_id, s.item_id, s.title, s.item_url, s.listing_price,
                       s.currency, s.shipping_cost, s.price_ratio,
                       COALESCE(s.match_score, 0) AS match_score,
                       p.asin, p.title AS product_title, p.price AS amazon_price,
                       ROW_NUMBER() OVER (
                           PARTITION BY s.seller_id, s.product_id ORDER BY s.id DESC
                       ) AS by_product,
                       MIN(s.price_ratio) OVER (PARTITION BY s.seller_id) AS ratio_min,
                       MAX(s.price_ratio) OVER (PARTITION BY s.seller_id) AS ratio_max
                FROM {sighting} s
                JOIN {product} p ON p.id = s.product_id
                WHERE s.seller_id IN ({placeholders}) AND s.is_match
            ) s
            WHERE s.by_product = 1
        ) ranked
        WHERE by_seller <= %s
        ORDER BY seller_id, by_seller
    """
    samples: dict[int, list[SampleListing]] = {}
    ranges: dict[int, tuple[float | None, float | None]] = {}
    decimal = SellerSighting._meta.get_field("listing_price")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*seller_ids, per_seller])
        for row in cursor.fetchall():
            (
                sid,
                seller_id,
                item_id,
                title,
                item_url,
                price,
                currency,
                shipping,
                ratio,
                match_score,
                asin,
                product_title,
                amazon_price,
                ratio_min,
                ratio_max,
                _,
            ) = row
            ranges[seller_id] = (ratio_min, ratio_max)
            samples.setdefault(seller_id, []).append(
                SampleListing(
                    sighting_id=sid,
                    item_id=item_id,
                    title=title,
                    item_url=item_url,
                    listing_price=decimal.to_python(price),
                    currency=currency,
                    shipping_cost=decimal.to_python(shipping),
                    amazon_price=decimal.to_python(amazon_price),
                    asin=asin,
                    product_title=product_title,
                    markup_percent=markup_percent(ratio),
                    match_score=match_score,
                    is_match=True,
                )
            )
    return samples, ranges


def seller_get(*, seller_id: int) -> Seller | None:
    """A seller for its page, soft-deleted ones included (the page says so)."""
    return (
        Seller.objects.select_related("first_seen_run", "last_seen_run")
        .filter(pk=seller_id)
        .first()
    )


def seller_evidence_queryset(*, seller_id: int) -> QuerySet[SellerSighting]:
    """Every sighting of a seller, newest first, with its product (page it: it grows)."""
    return (
        SellerSighting.objects.filter(seller_id=seller_id)
        .select_related("product")
        .order_by("-created_at", "-id")
    )


def seller_runs_chart_get(*, seller_id: int) -> list[dict]:
    """Per run that saw the seller: when, sightings, and distinct products matched."""
    rows = (
        SellerSighting.objects.filter(seller_id=seller_id)
        .values("run_id")
        .annotate(
            sightings=Count("id"),
            products_matched=Count("product_id", filter=Q(is_match=True), distinct=True),
        )
        .order_by("run_id")
    )
    started = {
        pk: started_at or created_at
        for pk, started_at, created_at in CollectionRun.objects.filter(
            pk__in=[r["run_id"] for r in rows]
        ).values_list("pk", "started_at", "created_at")
    }
    return [
        {
            "run_id": row["run_id"],
            "at": started[row["run_id"]].isoformat(),
            "sightings": row["sightings"],
            "products_matched": row["products_matched"],
        }
        for row in rows
        if row["run_id"] in started
    ]


def product_resellers_get(*, asin: str, limit: int = 200) -> tuple[Product, list[dict]] | None:
    """A product and the sellers who list it: each seller's latest matched listing of it
    (else their latest look-alike).

    Matched listings first (then by seller score), look-alikes after them and marked.
    None when no product has that ASIN.
    """
    from django.db.models import F, Window
    from django.db.models.functions import RowNumber

    product = Product.objects.filter(asin=asin).first()
    if product is None:
        return None
    latest = (
        SellerSighting.objects.filter(product=product, seller__deleted_at__isnull=True)
        .select_related("seller")
        .annotate(
            by_seller=Window(
                RowNumber(),
                partition_by=[F("seller_id")],
                order_by=[F("is_match").desc(), F("id").desc()],
            )
        )
        .filter(by_seller=1)
    )
    rows = latest.order_by("-is_match", "-seller__score", "-match_score", "id")[:limit]
    return product, [
        {"sighting": s, "seller": s.seller, "markup_percent": markup_percent(s.price_ratio)}
        for s in rows
    ]


def run_top_sellers_get(
    *, run_id: int, limit: int = RUN_TOP_LIMIT, new_only: bool = False
) -> list[dict]:
    """The run's top dropshippers: sellers by distinct products matched in this run.

    Plain JSON (the run page renders it and its endpoint sends it). ``new_only``: sellers
    this run saw first. Counted on the (run, seller, product) unique index: one row per
    product per seller per run.
    """
    # The aggregate reads every matched sighting of the run (~0.5 s for a run of 1M
    # sightings, bench/leaderboard.py); joining sellers to drop the soft-deleted ones
    # doubled that, so they are dropped from a few spare rows instead.
    sightings = SellerSighting.objects.filter(run_id=run_id, is_match=True)
    if new_only:
        sightings = sightings.filter(
            seller_id__in=Seller.objects.filter(first_seen_run_id=run_id).values("pk")
        )
    spare = limit + 20
    top = list(
        sightings.values("seller_id")
        .annotate(products=Count("id"))
        .order_by("-products", "seller_id")[:spare]
    )
    sellers = Seller.objects.filter(deleted_at__isnull=True).in_bulk(
        [row["seller_id"] for row in top]
    )
    if len(top) == spare and len(sellers) < limit:  # more deleted than spare: ask the join
        top = list(
            sightings.filter(seller__deleted_at__isnull=True)
            .values("seller_id")
            .annotate(products=Count("id"))
            .order_by("-products", "seller_id")[:limit]
        )
        sellers = Seller.objects.in_bulk([row["seller_id"] for row in top])
    result: list[dict] = []
    for row in top:
        seller = sellers.get(row["seller_id"])
        if seller is None or len(result) >= limit:
            continue
        result.append(
            {
                "id": seller.pk,
                "name": str(seller),
                "username": seller.username,
                "products_in_run": row["products"],
                "products_matched": seller.products_matched,
                "median_markup_percent": markup_percent(seller.median_price_ratio),
                "score": seller.score,
                "feedback_score": seller.feedback_score,
                "new": seller.first_seen_run_id == run_id,
            }
        )
    return result


def seller_snapshots_chart_get(*, limit: int = 100) -> list[dict]:
    """Total and new sellers per completed run (its snapshot), oldest first."""
    rows = list(
        SellerSnapshot.objects.order_by("-created_at").values(
            "run_id", "created_at", "total_sellers", "new_sellers", "flagged_sellers"
        )[:limit]
    )
    rows.reverse()
    return [{**row, "created_at": row["created_at"].isoformat()} for row in rows]
