"""Seller management: every change is logged with its actor and the seller count after it."""

import pytest
from django.contrib.auth import get_user_model

from collection.models import CategoryPreset, Seller, SellerChange
from collection.services.presets import PresetError, presets_delete
from collection.services.sellers import (
    SellerError,
    seller_rename,
    sellers_active_count,
    sellers_delete,
    sellers_flag,
    sellers_restore,
    sellers_unflag,
)

pytestmark = pytest.mark.django_db

Action = SellerChange.Action


@pytest.fixture
def operator():
    return get_user_model().objects.create_user("ops", password=None)


def _sellers(n, prefix="s"):
    return [
        Seller.objects.create(username=f"{prefix}{i}", normalized=f"{prefix}{i}") for i in range(n)
    ]


def _changes(action):
    return list(SellerChange.objects.filter(action=action).order_by("id"))


def test_bulk_soft_delete_writes_one_change_per_seller_with_stepping_counts(operator):
    sellers = _sellers(5)
    assert sellers_delete(seller_ids=[s.pk for s in sellers[:3]], actor=operator) == 3
    assert sellers_active_count() == 2
    changes = _changes(Action.DELETED)
    assert [c.seller_id for c in changes] == [s.pk for s in sellers[:3]]
    assert [c.seller_count_after for c in changes] == [4, 3, 2]
    assert {(c.actor_id, c.source) for c in changes} == {(operator.pk, "admin")}
    assert Seller.objects.filter(deleted_at__isnull=False).count() == 3

    # Deleting again is a no-op for the already deleted ones: no duplicate change.
    assert sellers_delete(seller_ids=[s.pk for s in sellers], actor=operator) == 2
    assert [c.seller_count_after for c in _changes(Action.DELETED)][-2:] == [1, 0]

    assert sellers_restore(seller_ids=[sellers[0].pk, sellers[4].pk], actor=operator) == 2
    assert [c.seller_count_after for c in _changes(Action.RESTORED)] == [1, 2]
    assert sellers_active_count() == 2


def test_flag_and_unflag_log_only_real_changes(operator):
    sellers = _sellers(3)
    sellers_delete(seller_ids=[sellers[2].pk])
    assert sellers_flag(seller_ids=[s.pk for s in sellers], actor=operator, source="command") == 3
    assert sellers_flag(seller_ids=[sellers[0].pk], actor=operator) == 0
    assert Seller.objects.filter(flagged=True).count() == 3
    flagged = _changes(Action.FLAGGED)
    assert len(flagged) == 3
    # Flagging does not change the active count (one seller is soft-deleted).
    assert {c.seller_count_after for c in flagged} == {2}
    assert {c.source for c in flagged} == {"command"}
    assert sellers_unflag(seller_ids=[sellers[1].pk], actor=operator) == 1
    assert not Seller.objects.get(pk=sellers[1].pk).flagged


def test_bulk_actions_work_over_more_ids_than_one_statement_takes(operator):
    Seller.objects.bulk_create(
        Seller(username=f"bulk{i}", normalized=f"bulk{i}") for i in range(2500)
    )
    ids = list(Seller.objects.values_list("pk", flat=True))
    assert sellers_delete(seller_ids=ids, actor=operator) == 2500
    counts = [c.seller_count_after for c in _changes(Action.DELETED)]
    assert counts == list(range(2499, -1, -1))


def test_rename_sets_the_display_name_and_logs_old_and_new(operator):
    (seller,) = _sellers(1)
    seller_rename(seller_id=seller.pk, display_name="  Gadget   Hub ", actor=operator)
    seller.refresh_from_db()
    assert (seller.username, seller.display_name) == ("s0", "Gadget Hub")
    (change,) = _changes(Action.RENAMED)
    assert change.details == {"from": "", "to": "Gadget Hub"}
    assert change.seller_count_after == 1 and change.actor == operator
    seller_rename(seller_id=seller.pk, display_name="Gadget Hub", actor=operator)
    assert len(_changes(Action.RENAMED)) == 1  # unchanged name: nothing logged
    with pytest.raises(SellerError, match="at most 255"):
        seller_rename(seller_id=seller.pk, display_name="x" * 256)


def test_the_builtin_preset_cannot_be_deleted_by_the_service():
    builtin = CategoryPreset.objects.get(name=CategoryPreset.ALL_DEPARTMENTS)
    mine = CategoryPreset.objects.create(name="Mine")
    with pytest.raises(PresetError, match="All departments"):
        presets_delete(preset_ids=[builtin.pk, mine.pk])
    assert CategoryPreset.objects.filter(pk__in=[builtin.pk, mine.pk]).count() == 2
    assert presets_delete(preset_ids=[mine.pk]) == 1
    assert not CategoryPreset.objects.filter(pk=mine.pk).exists()
