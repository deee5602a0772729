"""The admin speaks for Seller Scout: its name, its sections, its labels, its icon (issue 14)."""

from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from collection.models import Category, CollectionRun, Product, ProductCategory

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", None)
    client = Client()
    client.force_login(user)
    return client


def test_the_admin_carries_the_products_name_and_favicon(client):
    for url in (reverse("admin:index"), reverse("admin:collection_seller_changelist")):
        body = client.get(url).content.decode()
        assert "Django administration" not in body and "Django site admin" not in body
        assert ">Seller Scout</a>" in body and "| Seller Scout</title>" in body
        assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in body
        # The operator pages are one click away from every admin page.
        assert f'href="{reverse("activity:leaderboard")}">Dropshipper leaderboard</a>' in body
    login = Client().get(reverse("admin:login")).content.decode()
    assert "Django administration" not in login and "favicon.svg" in login
    icon = Path(settings.BASE_DIR, "static", "favicon.svg")
    assert ElementTree.parse(icon).getroot().tag == "{http://www.w3.org/2000/svg}svg"


def test_internals_are_grouped_apart_from_what_operators_use(client):
    sections = client.get(reverse("admin:index")).context["app_list"]
    names = [section["name"] for section in sections]
    assert names[:2] == ["Seller Scout", "Internals"]
    operators = [m["name"] for m in sections[0]["models"]]
    internals = [m["name"] for m in sections[1]["models"]]
    assert operators[:2] == ["Sellers", "Collection runs"]
    assert {"Category presets", "Schedules", "Products", "Categories"} <= set(operators)
    assert {
        "Change log",
        "Run tasks",
        "Task results (worker queue)",
        "Provider usage (quota windows)",
        "Snapshots (seller counts per run)",
    } <= set(internals)
    assert not set(operators) & set(internals)
    body = client.get(reverse("admin:index")).content.decode()
    assert body.index("Sellers") < body.index("Task results (worker queue)")


def test_labels_read_right(client):
    run = CollectionRun.objects.create()
    body = client.get(reverse("admin:collection_collectionrun_change", args=[run.pk])).content
    assert b"eBay pages: 1" in body and b"eBay queries: 2" in body
    assert b"Searches on eBay" in body and "markup 80–120 %".encode() in body
    assert b"Ebay" not in body and b"EBay" not in body
    listing = client.get(reverse("admin:collection_collectionrun_changelist")).content
    assert b"earches on eBay" in listing and b"Ebay" not in listing
    start = client.get(reverse("admin:collection_collectionrun_start")).content
    assert b"eBay pages" in start and b"eBay queries" in start
    assert f'value="{settings.COLLECTION_EBAY_QUERIES}"'.encode() in start
    from collection.models import Seller

    seller = Seller.objects.create(username="u", normalized="u", ebay_user_id="u1a2b3")
    page = client.get(reverse("admin:collection_seller_change", args=[seller.pk])).content
    assert b"User id on eBay" in page and b"Ebay" not in page and b"EBay" not in page
    product = Product.objects.create(asin="B0LABEL001", title="T", price=Decimal("5"))
    ProductCategory.objects.create(product=product, category=Category.objects.first(), rank=3)
    page = client.get(reverse("admin:collection_product_change", args=[product.pk])).content
    assert b"Product categories" in page and b"categorys" not in page.lower()


def test_scraped_product_fields_are_read_only(client):
    product = Product.objects.create(
        asin="B0SCRAPE01", title="As scraped", price=Decimal("9.99"), url="https://a.example/x"
    )
    url = reverse("admin:collection_product_change", args=[product.pk])
    page = client.get(url).content.decode()
    assert 'name="title"' not in page and 'name="price"' not in page and 'name="asin"' not in page
    assert 'href="https://www.amazon.com/dp/B0SCRAPE01"' in page
    client.post(url, {"asin": "HACKED", "title": "Edited", "price": "0.01"})
    product.refresh_from_db()
    assert (product.asin, product.title, product.price) == (
        "B0SCRAPE01",
        "As scraped",
        Decimal("9.99"),
    )
    assert client.get(reverse("admin:collection_product_add")).status_code == 403
