"""A run's rows do not depend on batching, order, crashes or the database path."""

import pytest

from collection.models import CollectionRun, Seller, SellerChange, SellerSighting
from collection.store import _orm, _postgres

from .store_scenario import two_runs, wipe

pytestmark = pytest.mark.django_db


def test_one_batch_is_consistent_with_its_counters():
    state = two_runs(batch_size=10_000, seed=None)
    runs = list(CollectionRun.objects.order_by("pk"))
    for run in runs:
        sightings = SellerSighting.objects.filter(run=run)
        assert run.sightings == sightings.count()
        assert run.sellers_found == sightings.values("seller").distinct().count()
        assert run.sellers_new == SellerChange.objects.filter(run=run, action="added").count()
    assert runs[0].sellers_new == Seller.objects.filter(first_seen_run=runs[0]).count() > 5
    assert runs[1].sellers_new == 1  # variant 1 brings one new product, few new names
    for seller in Seller.objects.all():
        rows = SellerSighting.objects.filter(seller=seller)
        assert seller.times_seen == rows.count()
        assert seller.products_matched == (
            rows.filter(is_match=True).values("product").distinct().count()
        )
        assert seller.runs_seen == rows.values("run").distinct().count()
    # Consecutive active counts, one per added seller.
    assert state["counts_after"] == list(range(1, len(state["counts_after"]) + 1))


@pytest.mark.parametrize(
    ("batch_size", "seed", "crash_after"),
    [(1, 3, None), (3, 11, None), (2, 5, 3), (1, 8, 9)],
    ids=["one-per-batch", "shuffled-3", "crash-early", "crash-late"],
)
def test_rows_do_not_depend_on_batching_order_or_crashes(batch_size, seed, crash_after):
    expected = two_runs(batch_size=10_000, seed=None)
    wipe()
    assert two_runs(batch_size=batch_size, seed=seed, crash_after=crash_after) == expected


@pytest.mark.postgres_only
def test_orm_path_stores_what_the_sql_path_stores():
    expected = two_runs(batch_size=4, seed=2, backend=_postgres)
    wipe()
    assert two_runs(batch_size=4, seed=2, backend=_orm) == expected
