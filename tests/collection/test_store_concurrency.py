"""Several processes on one run (PostgreSQL): no duplicate, no deadlock, exact counts.

Each thread has its own database connection, i.e. its own PostgreSQL session, exactly
like two worker processes.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Count

from collection.models import Product, RunTask, Seller, SellerChange, SellerSighting
from collection.store import (
    results_store,
    run_counters_get,
    run_plan,
    seller_counters_settle,
    seller_scores_settle,
    tasks_claim,
)
from collection.store._postgres import SELLERS_LOCK

from .builders import (
    best_seller,
    best_seller_page,
    claim_all,
    done,
    listing,
    listing_page,
)
from .store_scenario import new_run

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def run_threads(*targets) -> list:
    """Start the targets together; return their results; re-raise the first error."""
    barrier = threading.Barrier(len(targets))
    results: list = [None] * len(targets)
    errors: list[BaseException] = []

    def wrap(index, target):
        try:
            barrier.wait()
            results[index] = target()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrap, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung (deadlock?)"
    if errors:
        raise errors[0]
    return results


def make_ebay_tasks(run, count: int):
    products = Product.objects.bulk_create(
        [
            Product(asin=f"B0CONC{i:04d}", title=f"P{i}", price=Decimal("10.00"))
            for i in range(count)
        ]
    )
    RunTask.objects.bulk_create(
        [RunTask(run=run, phase="ebay", key=f"ebay:{p.asin}:1", product=p) for p in products]
    )
    return claim_all(run.pk, "ebay")


@pytest.fixture(params=["per_batch", "per_run"])
def seller_counters(request, settings) -> str:
    """Both ways known sellers' counters move (``COLLECTION_SELLER_COUNTERS``)."""
    settings.COLLECTION_SELLER_COUNTERS = request.param
    return request.param


def test_overlapping_sellers_in_opposite_orders_from_two_processes(seller_counters):
    run = new_run()
    tasks = make_ebay_tasks(run, 60)
    names = [f"Seller{i:03d}" for i in range(150)]
    Seller.objects.bulk_create(  # a third already known
        [Seller(username=n, normalized=n.lower()) for n in names[::3]]
    )
    known = len(names[::3])

    def pages(my_tasks, order):
        rng = random.Random(order)
        outcomes = []
        for number, task in enumerate(my_tasks):
            if number % 2:
                # Sellers no other batch has: batches that add sellers without sharing
                # one run side by side, and their seller_count_after must still be exact.
                chosen = [f"{order}-only-{task.id}-{i}" for i in range(40)]
            else:
                chosen = sorted(rng.sample(names, 40), reverse=order == "desc")
            # Variant spellings too: the store must fold them under one key.
            chosen = [n.upper() if rng.random() < 0.3 else n for n in chosen]
            outcomes.append(
                done(
                    task.id,
                    listing_page(
                        [listing(n, item_id=f"{task.id}-{i}") for i, n in enumerate(chosen)]
                    ),
                )
            )
        return outcomes

    def worker(my_tasks, order):
        outcomes = pages(my_tasks, order)
        stored = Counter()
        for outcome in outcomes:
            result = results_store(run_id=run.pk, outcomes=[outcome])
            stored.update(
                new=result.sellers_new,
                sightings=result.sightings_new,
                found=result.sellers_found,
                done=result.tasks_done,
            )
        return stored

    a, b = run_threads(lambda: worker(tasks[::2], "asc"), lambda: worker(tasks[1::2], "desc"))
    keys = list(Seller.objects.values_list("normalized", flat=True))
    private = 30 * 40  # half the tasks list 40 sellers of their own
    assert len(keys) == len(set(keys)) == len(names) + private
    new = len(names) + private - known
    assert a["new"] + b["new"] == new == SellerChange.objects.filter(run=run).count()
    after = sorted(SellerChange.objects.values_list("seller_count_after", flat=True))
    assert after == list(range(known + 1, len(keys) + 1))  # exact and gap-free
    sightings = SellerSighting.objects.filter(run=run).count()
    assert a["sightings"] + b["sightings"] == sightings == 60 * 40
    counters = run_counters_get(run_id=run.pk)
    assert (counters["sellers_new"], counters["sightings"], counters["ebay_searches"]) == (
        new,
        sightings,
        60,
    )
    seen = SellerSighting.objects.filter(run=run).values("seller").distinct().count()
    assert counters["sellers_found"] == a["found"] + b["found"]
    if seller_counters == "per_batch":
        assert counters["sellers_found"] == seen
    else:  # known sellers are counted when the run settles
        assert counters["sellers_found"] < seen
    seller_scores_settle(run_id=run.pk)
    assert run_counters_get(run_id=run.pk)["sellers_found"] == seen
    exact = Seller.objects.annotate(
        n=Count("sightings"), products=Count("sightings__product", distinct=True)
    ).values_list("times_seen", "n", "products_matched", "products", "runs_seen")
    for times_seen, n, products_matched, products, runs_seen in exact:
        assert (times_seen, products_matched, runs_seen) == (n, products, 1 if n else 0)


def test_shared_products_from_two_processes_are_found_once():
    run = new_run(amazon_pages=2)
    run_plan(run_id=run.pk)
    tasks = claim_all(run.pk, "amazon")  # 2 categories × 2 pages
    asins = [f"B0SHARE{i:03d}" for i in range(80)]

    def worker(my_tasks, reverse):
        total = 0
        for task in my_tasks:
            ordered = sorted(asins, reverse=reverse)
            page = best_seller_page(
                task.node_id,
                [best_seller(a, rank=r + 1, price="5.00") for r, a in enumerate(ordered)],
            )
            total += results_store(run_id=run.pk, outcomes=[done(task.id, page)]).products_found
        return total

    a, b = run_threads(lambda: worker(tasks[:2], False), lambda: worker(tasks[2:], True))
    assert a + b == 80 == run_counters_get(run_id=run.pk)["products_found"]
    assert Product.objects.count() == 80
    assert RunTask.objects.filter(run=run, phase="ebay").count() == 80


def test_concurrent_claimers_never_share_a_task():
    run = new_run()
    products = Product.objects.bulk_create(
        [Product(asin=f"B0CLM{i:05d}", title="p", price=Decimal("1.00")) for i in range(300)]
    )
    RunTask.objects.bulk_create(
        [RunTask(run=run, phase="ebay", key=f"ebay:{p.asin}:1", product=p) for p in products]
    )

    def claimer(name):
        got = []
        while batch := tasks_claim(
            run_id=run.pk, phase="ebay", executor=name, limit=7, lease_seconds=60
        ):
            got.extend(t.id for t in batch)
        return got

    results = run_threads(*(lambda n=n: claimer(f"w{n}") for n in range(4)))
    every = [task_id for got in results for task_id in got]
    assert len(every) == len(set(every)) == 300
    assert all(results), "every claimer got work (SKIP LOCKED, no waiting in line)"
    owners = dict(RunTask.objects.values_list("id", "leased_by"))
    for n, got in enumerate(results):
        assert all(owners[t] == f"w{n}" for t in got)


def test_a_duplicate_delivery_racing_the_original_applies_once(seller_counters):
    run = new_run()
    tasks = make_ebay_tasks(run, 30)
    outcomes = [
        done(t.id, listing_page([listing(f"dup{t.id % 7}", item_id=str(t.id))])) for t in tasks
    ]

    def deliver(order):
        ordered = outcomes if order else list(reversed(outcomes))
        return sum(
            results_store(run_id=run.pk, outcomes=ordered[i : i + 5]).tasks_done
            for i in range(0, 30, 5)
        )

    a, b = run_threads(lambda: deliver(True), lambda: deliver(False))
    assert a + b == 30
    counters = run_counters_get(run_id=run.pk)
    assert (counters["ebay_searches"], counters["sightings"]) == (30, 30)
    assert counters["sellers_new"] == 7
    seller_counters_settle(run_id=run.pk)  # per_run: the staged counters; per_batch: nothing
    assert sum(Seller.objects.values_list("times_seen", flat=True)) == 30
    assert run_counters_get(run_id=run.pk)["sellers_found"] == 7


def test_per_run_settles_racing_two_writers_stay_exact(settings):
    """A process settling the run (it paused) while two others still store batches."""
    settings.COLLECTION_SELLER_COUNTERS = "per_run"
    run = new_run()
    tasks = make_ebay_tasks(run, 40)
    names = [f"Racer{i:02d}" for i in range(30)]
    Seller.objects.bulk_create([Seller(username=n, normalized=n.lower()) for n in names[::3]])
    writing = threading.Semaphore(0)

    def writer(my_tasks, seed):
        rng = random.Random(seed)
        try:
            for task in my_tasks:
                chosen = rng.sample(names, 10) + [f"own-{task.id}"]
                page = listing_page([listing(n, item_id=f"{task.id}-{n}") for n in chosen])
                results_store(run_id=run.pk, outcomes=[done(task.id, page)])
        finally:
            writing.release()

    def settler():
        settled = 0
        while not writing.acquire(blocking=False):
            settled += seller_counters_settle(run_id=run.pk)
        writing.acquire()  # the other writer
        return settled

    run_threads(lambda: writer(tasks[::2], 1), lambda: writer(tasks[1::2], 2), settler)
    seller_scores_settle(run_id=run.pk)
    keys = list(Seller.objects.values_list("normalized", flat=True))
    assert len(keys) == len(set(keys)) == len(names) + 40
    exact = Seller.objects.annotate(n=Count("sightings")).values_list(
        "times_seen", "n", "runs_seen"
    )
    for times_seen, n, runs_seen in exact:
        assert (times_seen, runs_seen) == (n, 1 if n else 0)
    seen = SellerSighting.objects.filter(run=run).values("seller").distinct().count()
    assert run_counters_get(run_id=run.pk)["sellers_found"] == seen
    after = sorted(SellerChange.objects.values_list("seller_count_after", flat=True))
    assert after == list(range(len(names[::3]) + 1, len(keys) + 1))


def test_a_seller_added_between_a_batchs_lookup_and_its_lock_counts_as_known(seller_counters):
    """A batch looks its sellers up before it takes the seller section: one that another
    batch inserts in between is a known seller to it (one row, one `added`, exact
    counters)."""
    run = new_run()
    first, second = make_ebay_tasks(run, 2)
    holding, waiting = threading.Event(), threading.Event()

    def holder():
        # A batch in the seller section: it holds the lock while the other looks up.
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SELLERS_LOCK])
            holding.set()
            assert waiting.wait(60)
            page = listing_page([listing("LateComer", item_id="1")])
            return results_store(run_id=run.pk, outcomes=[done(first.id, page)])

    def latecomer():
        assert holding.wait(60)
        page = listing_page([listing("latecomer", item_id="2")])
        return results_store(run_id=run.pk, outcomes=[done(second.id, page)])

    def watcher():
        # Until the second batch, its lookup done, waits for the seller section.
        for _ in range(600):
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                )
                if cursor.fetchone()[0]:
                    waiting.set()
                    return
            time.sleep(0.05)
        waiting.set()
        raise AssertionError("the second batch never waited for the seller section")

    held, late, _ = run_threads(holder, latecomer, watcher)
    assert (held.sellers_new, late.sellers_new) == (1, 0)
    assert (held.sightings_new, late.sightings_new) == (1, 1)
    seller = Seller.objects.get(normalized="latecomer")
    assert SellerChange.objects.filter(run=run).count() == 1
    assert SellerChange.objects.get(run=run).seller_count_after == Seller.objects.count()
    seller_counters_settle(run_id=run.pk)  # per_run: the staged counters; per_batch: nothing
    seller.refresh_from_db()
    assert (seller.times_seen, seller.runs_seen) == (2, 1)
    counters = run_counters_get(run_id=run.pk)
    assert (counters["sellers_new"], counters["sellers_found"], counters["sightings"]) == (1, 1, 2)
