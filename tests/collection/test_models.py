"""Constraints the database itself enforces (real PostgreSQL in CI)."""

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from collection.models import (
    Category,
    CategoryPreset,
    CollectionRun,
    Product,
    RunTask,
    Seller,
    SellerChange,
    SellerSighting,
)

pytestmark = pytest.mark.django_db


def test_catalogue_is_loaded_with_every_department():
    departments = Category.objects.filter(is_department=True)
    assert departments.count() >= 29
    assert Category.objects.get(node_id="172282").name == "Electronics"
    headphones = Category.objects.get(node_id="12097479011")
    assert headphones.parent.name == "Electronics"
    preset = CategoryPreset.objects.get(name=CategoryPreset.ALL_DEPARTMENTS)
    assert preset.is_builtin
    assert preset.categories.count() == departments.count()


def test_duplicate_asin_is_rejected():
    Product.objects.create(asin="B0TEST0001", title="One")
    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.create(asin="B0TEST0001", title="Two")


def test_duplicate_normalized_seller_is_rejected():
    Seller.objects.create(username="DxbDxb", normalized="dxbdxb")
    with pytest.raises(IntegrityError), transaction.atomic():
        Seller.objects.create(username="ｄｘｂｄｘｂ", normalized="dxbdxb")


def test_duplicate_sighting_is_rejected():
    run = CollectionRun.objects.create()
    seller = Seller.objects.create(username="a", normalized="a")
    product = Product.objects.create(asin="B0TEST0002", title="P")
    SellerSighting.objects.create(
        run=run, seller=seller, product=product, listing_price=Decimal("9.99")
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        SellerSighting.objects.create(run=run, seller=seller, product=product)


def test_duplicate_task_key_in_a_run_is_rejected():
    run = CollectionRun.objects.create()
    RunTask.objects.create(run=run, phase="amazon", key="amazon:172282:1")
    with pytest.raises(IntegrityError), transaction.atomic():
        RunTask.objects.create(run=run, phase="amazon", key="amazon:172282:1")


def test_a_run_adds_a_seller_once():
    run = CollectionRun.objects.create()
    seller = Seller.objects.create(username="a", normalized="a")
    SellerChange.objects.create(action="added", source="run", seller=seller, run=run)
    SellerChange.objects.create(action="flagged", source="admin", seller=seller, run=run)
    with pytest.raises(IntegrityError), transaction.atomic():
        SellerChange.objects.create(action="added", source="run", seller=seller, run=run)


def test_inverted_markup_band_is_rejected():
    with pytest.raises(IntegrityError), transaction.atomic():
        CollectionRun.objects.create(markup_min_percent=150, markup_max_percent=100)


def test_models_and_migrations_agree():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
