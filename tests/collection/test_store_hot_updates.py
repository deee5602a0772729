"""A known seller's update stays on its page (a HOT update: no new index entries), PostgreSQL.

The store moves a known seller's counters with every batch (per_batch) or once when the run
stops (per_run). Neither changes an indexed column, so PostgreSQL can keep the new row
version on the same page without touching the table's nine indexes — if the page has room
(migration 0005's fillfactor, 70) and no index covers what the update writes. Either missing
made every such update write all nine indexes (two trigram GIN): ~5× the cost at 1M sellers.
"""

from __future__ import annotations

import pytest
from django.db import connection

from collection.models import Seller
from collection.store import results_store, seller_counters_settle

from .builders import done, listing, listing_page
from .store_scenario import new_run
from .test_store import ebay_tasks

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db]

SELLERS = 2_000
SEEN_AGAIN = range(0, SELLERS, 10)  # scattered over the pages, as in a real batch


def seller_updates() -> tuple[int, int]:
    """(updates, HOT updates) of the seller table in this transaction so far."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables"
            " WHERE relid = %s::regclass",
            [Seller._meta.db_table],
        )
        return cursor.fetchone()


@pytest.mark.parametrize("counters", ["per_batch", "per_run"])
def test_known_sellers_are_updated_in_place(settings, counters):
    settings.COLLECTION_SELLER_COUNTERS = counters
    run = new_run()
    first, second = ebay_tasks(run, ["B0HOT00001", "B0HOT00002"])
    names = [f"seller{n:05d}" for n in range(SELLERS)]
    results_store(
        run_id=run.pk,
        outcomes=[done(first.id, listing_page(listing(n, item_id=n) for n in names))],
    )
    assert Seller.objects.count() == SELLERS
    before, before_hot = seller_updates()

    results_store(
        run_id=run.pk,
        outcomes=[
            done(
                second.id,
                listing_page(
                    listing(names[n], item_id=f"again-{n}", feedback_score=500) for n in SEEN_AGAIN
                ),
            )
        ],
    )
    if counters == "per_run":
        assert seller_counters_settle(run_id=run.pk) == len(SEEN_AGAIN)

    updates, hot = seller_updates()
    assert updates - before == len(SEEN_AGAIN)
    assert hot - before_hot == len(SEEN_AGAIN)
    assert Seller.objects.filter(times_seen=2).count() == len(SEEN_AGAIN)
    assert Seller.objects.filter(feedback_score=500).count() == len(SEEN_AGAIN)
