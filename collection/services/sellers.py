"""Operator changes to sellers: flag, unflag, soft-delete, restore, rename.

Every change writes one ``SellerChange`` per seller with the actor and the number of active
(not soft-deleted) sellers after that change, so the history selectors can answer "how many
sellers did we have then?" from the log alone. A bulk action on N sellers writes N changes
whose counts step one by one, as if the sellers had been changed one after another.
Sellers already in the wanted state are left alone and get no change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from collection.models import Seller, SellerChange
from collection.store._postgres import SELLERS_LOCK

logger = logging.getLogger(__name__)

Action = SellerChange.Action
Source = SellerChange.Source

_CHUNK = 1000  # ids per statement (SQLite caps bound parameters)


class SellerError(Exception):
    """A seller change that cannot be made, with a message fit for an operator."""


def sellers_active_count() -> int:
    """Sellers that are not soft-deleted (what ``seller_count_after`` counts)."""
    return Seller.objects.filter(deleted_at__isnull=True).count()


def _sellers_change(
    *,
    seller_ids: Iterable[int],
    action: str,
    needs_change: Q,
    update: dict,
    count_delta: int,
    actor,
    source: str,
    details: dict | None = None,
) -> int:
    """Apply ``update`` to the sellers that need it; one change row each. Returns how many."""
    ids = sorted({int(pk) for pk in seller_ids})
    changed = 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # The store's seller section lock first: a soft delete or restore takes the
            # active-count row (a trigger) after its first chunk of sellers, the store takes
            # sellers then that row; one lock in front of both keeps them from deadlocking.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SELLERS_LOCK])
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            # Lock in id order (like the store's upserts) so concurrent writers never deadlock.
            sellers = list(
                Seller.objects.select_for_update()
                .filter(pk__in=chunk)
                .filter(needs_change)
                .order_by("pk")
                .only("pk")
            )
            if not sellers:
                continue
            Seller.objects.filter(pk__in=[s.pk for s in sellers]).update(
                **update, updated_at=timezone.now()
            )
            after = sellers_active_count()
            last = len(sellers) - 1
            SellerChange.objects.bulk_create(
                SellerChange(
                    action=action,
                    source=source,
                    seller_id=seller.pk,
                    actor=actor,
                    details=details or {},
                    # The i-th seller of the chunk changed before the ones after it.
                    seller_count_after=after - count_delta * (last - i),
                )
                for i, seller in enumerate(sellers)
            )
            changed += len(sellers)
    logger.info("%s %d seller(s) (%s)", action, changed, source)
    return changed


def sellers_flag(*, seller_ids: Iterable[int], actor=None, source: str = Source.ADMIN) -> int:
    """Flag sellers as dropshippers worth a look."""
    return _sellers_change(
        seller_ids=seller_ids,
        action=Action.FLAGGED,
        needs_change=Q(flagged=False),
        update={"flagged": True},
        count_delta=0,
        actor=actor,
        source=source,
    )


def sellers_unflag(*, seller_ids: Iterable[int], actor=None, source: str = Source.ADMIN) -> int:
    return _sellers_change(
        seller_ids=seller_ids,
        action=Action.UNFLAGGED,
        needs_change=Q(flagged=True),
        update={"flagged": False},
        count_delta=0,
        actor=actor,
        source=source,
    )


def sellers_delete(
    *, seller_ids: Iterable[int], actor=None, source: str = Source.ADMIN, reason: str = ""
) -> int:
    """Soft-delete: the seller stays (with its sightings and history) but is not counted."""
    return _sellers_change(
        seller_ids=seller_ids,
        action=Action.DELETED,
        needs_change=Q(deleted_at__isnull=True),
        update={"deleted_at": timezone.now()},
        count_delta=-1,
        actor=actor,
        source=source,
        details={"reason": reason} if reason else None,
    )


def sellers_restore(*, seller_ids: Iterable[int], actor=None, source: str = Source.ADMIN) -> int:
    return _sellers_change(
        seller_ids=seller_ids,
        action=Action.RESTORED,
        needs_change=Q(deleted_at__isnull=False),
        update={"deleted_at": None},
        count_delta=+1,
        actor=actor,
        source=source,
    )


def seller_rename(
    *, seller_id: int, display_name: str, actor=None, source: str = Source.ADMIN
) -> Seller:
    """Set the display name (the username stays as first seen); empty clears it."""
    display_name = " ".join((display_name or "").split())
    max_length = Seller._meta.get_field("display_name").max_length
    assert max_length is not None  # a CharField's
    if len(display_name) > max_length:
        raise SellerError(f"A display name has at most {max_length} characters.")
    with transaction.atomic():
        seller = Seller.objects.select_for_update().get(pk=seller_id)
        old = seller.display_name
        if old == display_name:
            return seller
        seller.display_name = display_name
        seller.save(update_fields=["display_name", "updated_at"])
        SellerChange.objects.create(
            action=Action.RENAMED,
            source=source,
            seller=seller,
            actor=actor,
            details={"from": old, "to": display_name},
            seller_count_after=sellers_active_count(),
        )
    logger.info("seller %s renamed (%s)", seller_id, source)
    return seller
