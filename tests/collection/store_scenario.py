"""A small deterministic two-phase run, stored through the real store in any batching.

Shared by the store tests (imported, not collected: the name does not start with test_).
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.utils import timezone

from collection.models import (
    Category,
    CollectionRun,
    Product,
    ProductCategory,
    RunTask,
    Seller,
    SellerChange,
    SellerSighting,
    SellerSnapshot,
)
from collection.store import results_store, run_plan, seller_scores_settle, tasks_claim

from .builders import (
    best_seller,
    best_seller_page,
    done,
    failed,
    listing,
    listing_page,
)

# Seller spellings that must dedupe: full-width, case, ß, spaces, NUL.
SELLER_POOL = [
    "DxbDxb",
    "ｄｘｂｄｘｂ",
    "dxbDXB",
    "Straße",
    "STRASSE",
    "strasse",
    "bob",
    "Bob ",
    "  BOB",
    "alice",
    "Alice",
    "carol  shop",
    "Carol Shop",
    "dave\x00",
    "DAVE",
    "eve",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
]


def categories() -> list[Category]:
    out = []
    for node_id, name in (("90000001", "Store test one"), ("90000002", "Store test two")):
        category, _ = Category.objects.get_or_create(node_id=node_id, defaults={"name": name})
        out.append(category)
    return out


def new_run(*, ebay_pages: int = 2, amazon_pages: int = 1) -> CollectionRun:
    run = CollectionRun.objects.create(
        status=CollectionRun.Status.RUNNING, ebay_pages=ebay_pages, amazon_pages=amazon_pages
    )
    run.categories.set(categories())
    return run


def amazon_page(node_id: str, page: int, variant: int):
    if node_id == "90000001":
        products = [
            best_seller("B0STORE001", rank=1, price="10.00"),
            best_seller("B0STORE002", rank=2, price="20.00"),
            best_seller("B0STORE003", rank=3, price="30.00"),
            best_seller("B0STORE004", rank=4, price=None),  # no usable price: no search
        ]
    else:
        products = [
            best_seller("B0STORE003", rank=1, price="30.00"),  # in both categories
            best_seller("B0STORE005", rank=2, price="50.00"),
        ]
        if variant:
            products.append(best_seller("B0STORE006", rank=3, price="60.00"))
    return best_seller_page(node_id, products, page=page)


def ebay_page(asin: str, page: int, variant: int):
    """Listings of one product page; sellers recur across products and pages."""
    seed = sum(map(ord, asin)) * 31 + page * 7 + variant
    rng = random.Random(seed)
    sellers = rng.sample(SELLER_POOL, 6)
    listings = [
        listing(
            name,
            item_id=f"{asin}-{page}-{i}",
            price=Decimal(40 + rng.randint(0, 20)) + Decimal("0.99"),
            feedback_score=100 + len(name),
            feedback_percent="99.1",
        )
        for i, name in enumerate(sellers)
    ]
    # The same seller twice on a page at two prices: the lower one is kept.
    listings.append(
        listing(
            sellers[0],
            item_id=f"{asin}-{page}-dup",
            price="1.50",
            feedback_score=100 + len(sellers[0]),
            feedback_percent="99.1",
        )
    )
    return listing_page(listings, has_next=page == 1, skipped=1 if page == 2 else 0)


def outcome_for(task, variant: int):
    if task.phase == RunTask.Phase.AMAZON:
        return done(task.id, amazon_page(task.node_id, task.page, variant))
    if task.asin == "B0STORE005" and task.page == 2:
        return failed(task.id)
    page = ebay_page(task.asin, task.page, variant)
    # Every third listing a look-alike: a match must win its (seller, product) whatever
    # the batch it arrives in.
    scores = [20.0 if i % 3 == 2 else 80.0 + i for i in range(len(page.listings))]
    return done(
        task.id, page, scores=scores, reference_price=task.price, query=f"query {task.asin}"
    )


def execute(
    run: CollectionRun,
    *,
    batch_size: int,
    seed: int | None,
    variant: int = 0,
    crash_after: int | None = None,
    backend=None,
) -> None:
    """Claim and store every task of the run, in batches of ``batch_size``.

    ``seed`` shuffles the order outcomes are stored in (None: id order). ``crash_after``
    simulates a process killed after that many batches: its other claimed outcomes are
    lost, the leases expire, a new executor reclaims and stores them, and then the dead
    process's late deliveries arrive (and must change nothing).
    """
    run_plan(run_id=run.pk)
    rng = random.Random(seed)
    lost = []
    batches_stored = 0
    for phase in (RunTask.Phase.AMAZON, RunTask.Phase.EBAY):
        while True:
            claimed = tasks_claim(
                run_id=run.pk, phase=phase, executor="w1", limit=10_000, lease_seconds=60
            )
            if not claimed:
                break
            outcomes = [outcome_for(task, variant) for task in claimed]
            if seed is not None:
                rng.shuffle(outcomes)
            for start in range(0, len(outcomes), batch_size):
                chunk = outcomes[start : start + batch_size]
                if crash_after is not None and batches_stored >= crash_after and not lost:
                    # The process dies: everything it still holds is lost in flight.
                    lost = outcomes[start:]
                    RunTask.objects.filter(run=run, status=RunTask.Status.RUNNING).update(
                        leased_until=timezone.now() - dt.timedelta(seconds=1)
                    )
                    break
                results_store(
                    run_id=run.pk,
                    outcomes=chunk,
                    counters={"requests": len(chunk)},
                    backend=backend,
                )
                batches_stored += 1
    assert crash_after is None or lost, "the scenario is too short to crash there"
    if lost:  # late deliveries from the dead process
        for start in range(0, len(lost), batch_size):
            result = results_store(
                run_id=run.pk, outcomes=lost[start : start + batch_size], backend=backend
            )
            assert result.tasks_done == result.tasks_failed == 0
    seller_scores_settle(run_id=run.pk)  # as the engine does when the run stops


def wipe() -> None:
    SellerChange.objects.all().delete()
    SellerSnapshot.objects.all().delete()
    SellerSighting.objects.all().delete()
    Seller.objects.all().delete()
    RunTask.objects.all().delete()
    ProductCategory.objects.all().delete()
    Product.objects.all().delete()
    CollectionRun.objects.all().delete()


def state(runs: list[CollectionRun]) -> dict:
    """Everything a run wrote, minus ids, timestamps and commit-order details."""
    index = {run.pk: i for i, run in enumerate(runs)}
    sellers = sorted(
        Seller.objects.values_list(
            "normalized",
            "username",
            "feedback_score",
            "feedback_percent",
            "times_seen",
            "products_matched",
            "runs_seen",
            "score",
            "median_price_ratio",
            "copy_share",
            "first_seen_run_id",
            "last_seen_run_id",
        )
    )
    sellers = [(*s[:10], index.get(s[10]), index.get(s[11])) for s in sellers]
    sightings = sorted(
        (index[row[0]], *row[1:])
        for row in SellerSighting.objects.values_list(
            "run_id",
            "seller__normalized",
            "product__asin",
            "item_id",
            "listing_price",
            "currency",
            "title",
            "query",
            "match_score",
            "is_match",
            "price_ratio",
        )
    )
    changes = sorted(
        (index[r], n, a, src)
        for r, n, a, src in SellerChange.objects.values_list(
            "run_id", "seller__normalized", "action", "source"
        )
    )
    counts_after = sorted(SellerChange.objects.values_list("seller_count_after", flat=True))
    products = sorted(
        Product.objects.values_list("asin", "title", "price", "rating", "ratings_count", "url")
    )
    links = sorted(
        (a, n, rank, index.get(r))
        for a, n, rank, r in ProductCategory.objects.values_list(
            "product__asin", "category__node_id", "rank", "run_id"
        )
    )
    tasks = sorted(
        (index[r], k, s, c, e)
        for r, k, s, c, e in RunTask.objects.values_list(
            "run_id", "key", "status", "result_count", "error_type"
        )
    )
    counters = [
        CollectionRun.objects.values(
            "products_found",
            "ebay_searches",
            "sellers_found",
            "sellers_new",
            "sightings",
            "failed_tasks",
            "skipped_records",
        ).get(pk=run.pk)
        for run in runs
    ]
    return {
        "sellers": sellers,
        "sightings": sightings,
        "changes": changes,
        "counts_after": counts_after,
        "products": products,
        "links": links,
        "tasks": tasks,
        "counters": counters,
    }


def two_runs(**execute_kwargs) -> dict:
    """Run 1 (variant 0) then run 2 (variant 1) over the same sellers; return the state."""
    runs = []
    for variant in (0, 1):
        run = new_run()
        execute(run, variant=variant, **execute_kwargs)
        runs.append(run)
    return state(runs)
