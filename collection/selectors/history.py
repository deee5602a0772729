"""Reads of the seller history: the list as of a run or a date, diffs, per-run outcomes, exports."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone as _timezone

from collection.models import (
    CollectionRun,
    RunTask,
    Seller,
    SellerChange,
    SellerSighting,
    SellerSnapshot,
)

# --- Seller history, per-run reports and exports (operations) ---------------------------
#
# Every question about the past is answered from the change log, the sightings and the
# snapshots: a seller exists from the moment its row was inserted (the same transaction
# as its ``added`` change), and is in the seller list at a time T unless its last
# ``deleted``/``restored`` change at or before T is a deletion. Bulk soft-deletes and
# restores write one change per seller, so they are answered exactly too.


def run_point_in_time(*, run_id: int) -> _dt.datetime:
    """When a run's view of the seller list was taken: its snapshot, else its end, else now."""
    run = CollectionRun.objects.select_related("snapshot").get(pk=run_id)
    snapshot = getattr(run, "snapshot", None)
    if snapshot is not None:
        return snapshot.created_at
    return run.finished_at or _timezone.now()


def _end_of_day(day: _dt.date) -> _dt.datetime:
    start = _dt.datetime.combine(day + _dt.timedelta(days=1), _dt.time.min)
    return _timezone.make_aware(start, _timezone.get_current_timezone()) - _dt.timedelta(
        microseconds=1
    )


def sellers_as_of(*, at: _dt.datetime | _dt.date) -> QuerySet[Seller]:
    """The seller list (not soft-deleted) as it was at ``at`` (a date means its last instant)."""
    if not isinstance(at, _dt.datetime):
        at = _end_of_day(at)
    last_state = (
        SellerChange.objects.filter(
            seller=OuterRef("pk"),
            action__in=[SellerChange.Action.DELETED, SellerChange.Action.RESTORED],
            created_at__lte=at,
        )
        .order_by("-created_at", "-id")
        .values("action")[:1]
    )
    return (
        Seller.objects.filter(created_at__lte=at)
        .annotate(_state_then=Subquery(last_state))
        .filter(Q(_state_then__isnull=True) | Q(_state_then=SellerChange.Action.RESTORED))
    )


def sellers_as_of_run(*, run_id: int) -> QuerySet[Seller]:
    """The seller list as the run's snapshot saw it."""
    return sellers_as_of(at=run_point_in_time(run_id=run_id))


def run_sellers_added(*, run_id: int) -> QuerySet[Seller]:
    """Sellers first seen in this run (its ``added`` changes)."""
    added = SellerChange.objects.filter(
        run_id=run_id, action=SellerChange.Action.ADDED, seller=OuterRef("pk")
    )
    return Seller.objects.filter(Exists(added))


def run_sellers_seen(*, run_id: int) -> QuerySet[Seller]:
    """Sellers this run has sightings of."""
    sighted = SellerSighting.objects.filter(run_id=run_id, seller=OuterRef("pk"))
    return Seller.objects.filter(Exists(sighted))


def run_sellers_seen_again(*, run_id: int) -> QuerySet[Seller]:
    """Sellers this run saw that an earlier run had already added."""
    added = SellerChange.objects.filter(
        run_id=run_id, action=SellerChange.Action.ADDED, seller=OuterRef("pk")
    )
    return run_sellers_seen(run_id=run_id).exclude(Exists(added))


@dataclass(slots=True)
class RunDiff:
    """How the seller list differs between two runs, in the direction asked for.

    ``added`` / ``removed``: in the list at ``to`` and not at ``from`` / the reverse.
    ``newly_seen`` / ``no_longer_seen``: sighted by ``to`` and not by ``from`` / the reverse
    — the evidence view. What those sets *mean* depends on the direction: from an earlier
    run to a later one, ``removed`` are sellers soft-deleted in between; asked the other
    way (``forward`` False, e.g. run 6 → run 1), ``removed`` are the sellers that came
    after the earlier run. ``sections`` names each set accordingly, for the history page.
    """

    from_run_id: int
    to_run_id: int
    from_at: _dt.datetime
    to_at: _dt.datetime
    added: QuerySet
    removed: QuerySet
    newly_seen: QuerySet
    no_longer_seen: QuerySet
    forward: bool = True
    sections: list[tuple[str, QuerySet]] = field(default_factory=list)


def _diff_sections(diff: RunDiff) -> list[tuple[str, QuerySet]]:
    a, b = diff.from_run_id, diff.to_run_id
    if diff.forward:
        added = f"Added (in the list at run {b}, not at run {a}: new or restored in between)"
        removed = f"Removed (in the list at run {a}, not at run {b}: soft-deleted in between)"
    else:  # going back in time: the earlier list still had what was deleted since
        added = f"Only in the earlier list (at run {b}, not at run {a}: soft-deleted after run {b})"
        removed = (
            f"Not yet in the earlier list (at run {a}, not at run {b}: new or restored "
            f"after run {b})"
        )
    return [
        (added, diff.added),
        (removed, diff.removed),
        (f"Sighted by run {b} only (not by run {a})", diff.newly_seen),
        (f"Sighted by run {a} only (not by run {b})", diff.no_longer_seen),
    ]


def runs_diff(*, from_run_id: int, to_run_id: int) -> RunDiff:
    from_at = run_point_in_time(run_id=from_run_id)
    to_at = run_point_in_time(run_id=to_run_id)
    before = sellers_as_of(at=from_at).values("pk")
    after = sellers_as_of(at=to_at).values("pk")
    seen_before = SellerSighting.objects.filter(run_id=from_run_id, seller=OuterRef("pk"))
    seen_after = SellerSighting.objects.filter(run_id=to_run_id, seller=OuterRef("pk"))
    diff = RunDiff(
        from_run_id=from_run_id,
        to_run_id=to_run_id,
        from_at=from_at,
        to_at=to_at,
        added=Seller.objects.filter(pk__in=after).exclude(pk__in=before),
        removed=Seller.objects.filter(pk__in=before).exclude(pk__in=after),
        newly_seen=Seller.objects.filter(Exists(seen_after)).exclude(Exists(seen_before)),
        no_longer_seen=Seller.objects.filter(Exists(seen_before)).exclude(Exists(seen_after)),
        # By the moments the lists were taken, not by id: a later id can finish first.
        forward=(from_at, from_run_id) <= (to_at, to_run_id),
    )
    diff.sections = _diff_sections(diff)
    return diff


@dataclass(slots=True)
class RunOutcome:
    """What a run did to the seller list, for the per-run page in the admin."""

    run: CollectionRun
    snapshot: SellerSnapshot | None
    added_count: int
    seen_again_count: int
    added: list
    seen_again: list
    failed_by_type: list[tuple[str, int]]
    failed_tasks: list[dict]


def run_outcome_get(*, run_id: int, limit: int = 100) -> RunOutcome:
    run = CollectionRun.objects.get(pk=run_id)
    added = run_sellers_added(run_id=run_id).order_by("normalized")
    seen_again = run_sellers_seen_again(run_id=run_id).order_by("normalized")
    failed_by_type = list(
        RunTask.objects.filter(run_id=run_id, status=RunTask.Status.FAILED)
        .values_list("error_type")
        .annotate(n=Count("id"))
        .order_by("-n", "error_type")
    )
    return RunOutcome(
        run=run,
        snapshot=SellerSnapshot.objects.filter(run_id=run_id).first(),
        added_count=added.count(),
        seen_again_count=seen_again.count(),
        added=list(added[:limit]),
        seen_again=list(seen_again[:limit]),
        failed_by_type=[(error_type or "unknown", n) for error_type, n in failed_by_type],
        failed_tasks=[
            dict(row)
            for row in RunTask.objects.filter(run_id=run_id, status=RunTask.Status.FAILED)
            .order_by("id")
            .values("key", "phase", "attempts", "error_type", "error_message")[:limit]
        ],
    )


def run_sightings_split_get(*, run_id: int) -> dict[str, int]:
    """The run's sightings: matched (copies, they count) and look-alikes (kept, shown)."""
    counts = dict(
        SellerSighting.objects.filter(run_id=run_id)
        .values_list("is_match")
        .annotate(n=Count("id"))
        .values_list("is_match", "n")
    )
    return {"matched": counts.get(True, 0), "lookalike": counts.get(False, 0)}


def sellers_export_queryset(
    *,
    run_id: int | None = None,
    flagged: bool | None = None,
    since: _dt.datetime | _dt.date | None = None,
    include_deleted: bool = False,
) -> QuerySet[Seller]:
    """Sellers to export: seen by ``run_id``, flagged, first seen on/after ``since``."""
    sellers = Seller.objects.all()
    if not include_deleted:
        sellers = sellers.filter(deleted_at__isnull=True)
    if run_id is not None:
        sellers = sellers.filter(
            Exists(SellerSighting.objects.filter(run_id=run_id, seller=OuterRef("pk")))
        )
    if flagged is not None:
        sellers = sellers.filter(flagged=flagged)
    if since is not None:
        if not isinstance(since, _dt.datetime):
            since = _timezone.make_aware(
                _dt.datetime.combine(since, _dt.time.min), _timezone.get_current_timezone()
            )
        sellers = sellers.filter(first_seen_at__gte=since)
    return sellers.order_by("pk")
