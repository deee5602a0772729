"""Known sellers' counters per batch or per run (``COLLECTION_SELLER_COUNTERS``), PostgreSQL.

per_run stages what a batch saw of a known seller (``SellerRunPending``) and settles it
when the run stops; once settled, every seller column and run counter must be what
per_batch wrote batch by batch.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Count

from collection.models import Seller, SellerRunPending, SellerSighting
from collection.store import (
    results_store,
    run_counters_get,
    seller_counters_settle,
    seller_scores_settle,
)

from .builders import done, listing, listing_page
from .store_scenario import new_run
from .test_store import ebay_tasks

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db]

SELLER_COLUMNS = (
    "normalized",
    "username",
    "ebay_user_id",
    "feedback_score",
    "feedback_percent",
    "times_seen",
    "runs_seen",
    "first_seen_run_id",
    "last_seen_run_id",
)


@pytest.fixture(params=["per_batch", "per_run"])
def seller_counters(request, settings) -> str:
    settings.COLLECTION_SELLER_COUNTERS = request.param
    return request.param


def store(run, task, listings) -> None:
    results_store(run_id=run.pk, outcomes=[done(task.id, listing_page(listings))])


def sellers() -> dict[str, tuple]:
    return {row[0]: row[1:] for row in Seller.objects.values_list(*SELLER_COLUMNS)}


def scenario() -> tuple:
    """An earlier run's seller seen again over four batches: spellings, feedback that goes
    up and down, a user id in one batch, a product found twice (a sighting that conflicts),
    and a seller new in the first batch seen again later."""
    old_run = new_run()
    Seller.objects.create(
        username="Known",
        normalized="known",
        feedback_score=5,
        feedback_percent=Decimal("90.0"),
        first_seen_run=old_run,
        last_seen_run=old_run,
        times_seen=3,
        runs_seen=1,
    )
    run = new_run()
    t1, t2, t3 = ebay_tasks(run, ["B0CTR00001", "B0CTR00002", "B0CTR00003"])
    store(
        run,
        t1,
        [
            listing("KNOWN", item_id="a1", feedback_score=40, feedback_percent="98.0"),
            listing("zeta", item_id="a2", feedback_score=7),
        ],
    )
    store(
        run,
        t2,
        [
            listing("known", item_id="b1", feedback_score=41, feedback_percent="97.0"),
            listing("Zeta", item_id="b2", feedback_score=9, user_id="u-zeta"),
        ],
    )
    store(run, t3, [listing("Known", item_id="c1", feedback_score=39, user_id="u-known")])
    # The same product's second page lists the known seller again: no new sighting.
    (t4,) = ebay_tasks(run, ["B0CTR00003"], page=2)
    store(run, t4, [listing("known", item_id="c0", feedback_score=41, feedback_percent="99.0")])
    return old_run, run


def test_settled_per_run_counters_are_what_per_batch_writes(seller_counters):
    _, run = scenario()
    if seller_counters == "per_run":
        assert SellerRunPending.objects.filter(run=run).count() == 5  # known ×4, zeta ×1
        assert sellers()["known"][4:6] == (3, 1)  # not moved yet
        assert run_counters_get(run_id=run.pk)["sellers_found"] == 1  # zeta, new
    seller_scores_settle(run_id=run.pk)
    assert not SellerRunPending.objects.exists()
    rows = sellers()
    known, zeta = rows["known"], rows["zeta"]
    # Largest feedback pair of the run, the user id, the spelling of the run that added it.
    assert known[:6] == ("Known", "u-known", 41, Decimal("99.00"), 3 + 3, 2)
    assert known[7] == run.pk
    assert zeta[:6] == ("Zeta", "u-zeta", 9, Decimal("99.50"), 2, 1)
    c = run_counters_get(run_id=run.pk)
    assert (c["sellers_found"], c["sellers_new"], c["sightings"]) == (2, 1, 5)


def test_a_run_settled_at_each_pause_counts_each_seller_once(settings):
    settings.COLLECTION_SELLER_COUNTERS = "per_run"
    old_run = new_run()
    Seller.objects.create(
        username="again", normalized="again", first_seen_run=old_run, last_seen_run=old_run
    )
    run = new_run()
    tasks = ebay_tasks(run, [f"B0PAUSE{i:03d}" for i in range(4)])
    for number, task in enumerate(tasks):
        store(run, task, [listing("again", item_id=f"p{number}")])
        assert seller_counters_settle(run_id=run.pk) == 1  # paused and resumed every time
        assert seller_counters_settle(run_id=run.pk) == 0  # idempotent
    seller = Seller.objects.get()
    assert (seller.times_seen, seller.runs_seen) == (4, 1)
    assert run_counters_get(run_id=run.pk)["sellers_found"] == 1


def test_switching_to_per_run_within_a_run_stays_exact(settings):
    """A run resumed after the setting changed: per_batch batches, then per_run ones."""
    old_run = new_run()
    Seller.objects.create(
        username="switch", normalized="switch", first_seen_run=old_run, last_seen_run=old_run
    )
    run = new_run()
    tasks = ebay_tasks(run, [f"B0SWITCH{i:02d}" for i in range(4)])
    settings.COLLECTION_SELLER_COUNTERS = "per_batch"
    store(run, tasks[0], [listing("switch", item_id="s0"), listing("other", item_id="o0")])
    settings.COLLECTION_SELLER_COUNTERS = "per_run"
    for number, task in enumerate(tasks[1:], start=1):
        store(run, task, [listing("switch", item_id=f"s{number}"), listing("other")])
    seller_scores_settle(run_id=run.pk)
    counts = dict(
        SellerSighting.objects.values("seller__normalized")
        .annotate(n=Count("id"))
        .values_list("seller__normalized", "n")
    )
    rows = sellers()
    assert rows["switch"][4:6] == (counts["switch"], 1) == (4, 1)
    assert rows["other"][4:6] == (counts["other"], 1) == (4, 1)
    assert run_counters_get(run_id=run.pk)["sellers_found"] == 2


def test_switching_back_to_per_batch_settles_what_was_staged(settings):
    """per_run batches, then per_batch ones (no stop in between): the first per_batch batch
    folds in what was staged, so each seller is counted once."""
    old_run = new_run()
    Seller.objects.create(
        username="back", normalized="back", first_seen_run=old_run, last_seen_run=old_run
    )
    run = new_run()
    tasks = ebay_tasks(run, [f"B0BACK{i:04d}" for i in range(4)])
    settings.COLLECTION_SELLER_COUNTERS = "per_run"
    store(run, tasks[0], [listing("back", item_id="k0"), listing("fresh", item_id="f0")])
    store(run, tasks[1], [listing("back", item_id="k1"), listing("fresh", item_id="f1")])
    settings.COLLECTION_SELLER_COUNTERS = "per_batch"
    store(run, tasks[2], [listing("back", item_id="k2")])
    assert not SellerRunPending.objects.exists()
    store(run, tasks[3], [listing("back", item_id="k3"), listing("fresh", item_id="f3")])
    rows = sellers()
    assert rows["back"][4:6] == (4, 1)
    assert rows["fresh"][4:6] == (3, 1)
    assert run_counters_get(run_id=run.pk)["sellers_found"] == 2
    seller_scores_settle(run_id=run.pk)
    assert sellers()["back"][4:6] == (4, 1)
