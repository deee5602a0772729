"""History: the seller list as of a snapshot or a date, and the difference between runs."""

import datetime as dt
import time
from decimal import Decimal

import pytest
from django.utils import timezone

from collection.models import (
    CollectionRun,
    Product,
    RunTask,
    Seller,
    SellerChange,
    SellerSighting,
    SellerSnapshot,
)
from collection.selectors import (
    run_outcome_get,
    run_sellers_added,
    run_sellers_seen_again,
    runs_diff,
    sellers_as_of,
    sellers_as_of_run,
)
from collection.services.sellers import sellers_active_count, sellers_delete, sellers_restore

pytestmark = pytest.mark.django_db


def _tick():
    time.sleep(0.002)  # distinct timestamps between the steps of a story


def _product(asin):
    return Product.objects.get_or_create(asin=asin, defaults={"title": asin})[0]


def _run_sees(run, names, *, asin="B0HIST0001"):
    """What the store writes for a batch: new sellers + `added` changes, sightings."""
    product = _product(asin)
    sellers = []
    for name in names:
        seller = Seller.objects.filter(normalized=name).first()
        if seller is None:
            seller = Seller.objects.create(
                username=name, normalized=name, first_seen_run=run, first_seen_at=timezone.now()
            )
            SellerChange.objects.create(
                action="added",
                source="run",
                seller=seller,
                run=run,
                seller_count_after=sellers_active_count(),
            )
        SellerSighting.objects.create(
            run=run, seller=seller, product=product, listing_price=Decimal("19.99")
        )
        sellers.append(seller)
    return sellers


def _finish(run):
    _tick()
    CollectionRun.objects.filter(pk=run.pk).update(
        status=CollectionRun.Status.COMPLETED, finished_at=timezone.now()
    )
    SellerSnapshot.objects.create(
        run=run,
        total_sellers=sellers_active_count(),
        new_sellers=SellerChange.objects.filter(run=run, action="added").count(),
        flagged_sellers=0,
        products_searched=1,
    )
    _tick()


def _names(queryset):
    return sorted(queryset.values_list("normalized", flat=True))


def test_runs_diff_and_as_of_snapshot_are_exact_across_bulk_deletes_and_restores():
    run1 = CollectionRun.objects.create()
    a, b, c, e = _run_sees(run1, ["a", "b", "c", "e"])
    _finish(run1)

    sellers_delete(seller_ids=[a.pk, b.pk, e.pk])  # one bulk action
    _tick()
    sellers_restore(seller_ids=[a.pk])

    run2 = CollectionRun.objects.create()
    _run_sees(run2, ["c", "d", "e"])
    _finish(run2)

    sellers_delete(seller_ids=[c.pk])  # after run 2: not part of its picture

    assert _names(sellers_as_of_run(run_id=run1.pk)) == ["a", "b", "c", "e"]
    assert _names(sellers_as_of_run(run_id=run2.pk)) == ["a", "c", "d"]
    for run in (run1, run2):
        assert sellers_as_of_run(run_id=run.pk).count() == run.snapshot.total_sellers

    diff = runs_diff(from_run_id=run1.pk, to_run_id=run2.pk)
    assert _names(diff.added) == ["d"]
    assert _names(diff.removed) == ["b", "e"]
    assert _names(diff.newly_seen) == ["d"]
    assert _names(diff.no_longer_seen) == ["a", "b"]
    assert run1.snapshot.total_sellers + diff.added.count() - diff.removed.count() == (
        run2.snapshot.total_sellers
    )

    assert _names(run_sellers_added(run_id=run2.pk)) == ["d"]
    assert _names(run_sellers_seen_again(run_id=run2.pk)) == ["c", "e"]

    # The reverse direction is the mirror image.
    back = runs_diff(from_run_id=run2.pk, to_run_id=run1.pk)
    assert (_names(back.added), _names(back.removed)) == (["b", "e"], ["d"])


def _section(diff, words):
    (queryset,) = [qs for title, qs in diff.sections if words in title]
    return _names(queryset)


def test_a_diff_asked_backwards_labels_its_sellers_right():
    """Issue 14: run 6 → run 1 listed the sellers new since run 1 as "soft-deleted"."""
    run1 = CollectionRun.objects.create()
    _, gone = _run_sees(run1, ["kept", "gone"])
    _finish(run1)
    sellers_delete(seller_ids=[gone.pk])
    run6 = CollectionRun.objects.create()
    _run_sees(run6, ["kept", "new1", "new2"])
    _finish(run6)

    forward = runs_diff(from_run_id=run1.pk, to_run_id=run6.pk)
    backward = runs_diff(from_run_id=run6.pk, to_run_id=run1.pk)
    assert forward.forward and not backward.forward
    for diff in (forward, backward):
        assert _section(diff, "soft-deleted") == ["gone"]
        assert _section(diff, "new or restored") == ["new1", "new2"]
        assert _section(diff, f"Sighted by run {run6.pk} only") == ["new1", "new2"]
        assert _section(diff, f"Sighted by run {run1.pk} only") == ["gone"]


def test_sellers_as_of_a_date():
    run = CollectionRun.objects.create()
    old, recent = _run_sees(run, ["old", "recent"])
    day = dt.timedelta(days=1)
    now = timezone.now()
    Seller.objects.filter(pk=old.pk).update(created_at=now - 10 * day)
    Seller.objects.filter(pk=recent.pk).update(created_at=now - 2 * day)
    sellers_delete(seller_ids=[old.pk])
    SellerChange.objects.filter(action="deleted").update(created_at=now - 5 * day)

    def on(days_ago):
        return _names(sellers_as_of(at=timezone.localdate(now - days_ago * day)))

    assert on(11) == []
    assert on(8) == ["old"]
    assert on(4) == []  # deleted five days ago
    assert on(1) == ["recent"]
    assert _names(sellers_as_of(at=now)) == ["recent"]


def test_run_outcome_lists_added_seen_again_snapshot_and_failed_tasks():
    run1 = CollectionRun.objects.create()
    _run_sees(run1, ["x", "y"])
    _finish(run1)
    run2 = CollectionRun.objects.create()
    _run_sees(run2, ["y", "z"])
    RunTask.objects.create(
        run=run2,
        phase="ebay",
        key="ebay:B0X:1",
        status="failed",
        error_type="timeout",
        error_message="read timed out",
    )
    RunTask.objects.create(
        run=run2, phase="ebay", key="ebay:B0X:2", status="failed", error_type="timeout"
    )
    RunTask.objects.create(
        run=run2, phase="ebay", key="ebay:B0Y:1", status="failed", error_type="http_5xx"
    )
    RunTask.objects.create(run=run2, phase="ebay", key="ebay:B0Y:2", status="done")
    _finish(run2)

    outcome = run_outcome_get(run_id=run2.pk)
    assert [s.normalized for s in outcome.added] == ["z"] and outcome.added_count == 1
    assert [s.normalized for s in outcome.seen_again] == ["y"]
    assert outcome.snapshot.total_sellers == 3
    assert outcome.failed_by_type == [("timeout", 2), ("http_5xx", 1)]
    assert [t["key"] for t in outcome.failed_tasks] == ["ebay:B0X:1", "ebay:B0X:2", "ebay:B0Y:1"]
    assert outcome.failed_tasks[0]["error_message"] == "read timed out"
