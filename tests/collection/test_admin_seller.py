"""The admin seller page: a top seller's evidence is paged, and renaming it works (issue 14)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from collection.models import CollectionRun, Product, Seller, SellerChange, SellerSighting

pytestmark = pytest.mark.django_db

HOSTILE_NAME = '<script>alert("seller")</script>'
HOSTILE_TITLE = '"><img src=x onerror=alert(2)> Wireless Earbuds'


@pytest.fixture
def client():
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", None)
    client = Client()
    client.force_login(user)
    return client


class _FormFields(HTMLParser):
    """The name/value pairs a browser would submit for the form with id ``form_id``."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.fields: list[tuple[str, str]] = []
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        if not self.inside or "name" not in attrs:
            return
        if tag == "input" and attrs.get("type") not in ("submit", "checkbox", "radio"):
            self.fields.append((attrs["name"], attrs.get("value") or ""))
        elif tag == "input" and "checked" in attrs:
            self.fields.append((attrs["name"], attrs.get("value") or "on"))
        elif tag == "textarea":
            self._textarea = attrs["name"]

    def handle_data(self, data):
        if self._textarea:
            self.fields.append((self._textarea, data))
            self._textarea = None

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False


def _submitted(html: str, form_id: str) -> dict:
    parser = _FormFields(form_id)
    parser.feed(html)
    data: dict[str, list[str]] = {}
    for name, value in parser.fields:
        data.setdefault(name, []).append(value)
    return data


def _top_seller(sightings: int, *, username: str = "gadget_hub") -> Seller:
    seller = Seller.objects.create(
        username=username, normalized=username.lower(), products_matched=sightings, score=91.5
    )
    run = CollectionRun.objects.create()
    products = Product.objects.bulk_create(
        Product(asin=f"B0TOP{i:05d}", title=f"Amazon product {i}", price=Decimal("10.00"))
        for i in range(sightings)
    )
    start = timezone.now() - dt.timedelta(days=1)
    SellerSighting.objects.bulk_create(
        SellerSighting(
            run=run,
            seller=seller,
            product=product,
            item_id=f"{100000 + i}",
            listing_price=Decimal("19.50"),
            title=f"Listing {i}",
            query=f"query {i}",
            match_score=88.0,
            is_match=i % 2 == 0,
            price_ratio=1.95,
            shipping_cost=Decimal("0"),
            location="US",
        )
        for i, product in enumerate(products)
    )
    # Distinct creation times, so "newest first" means something: sighting i at start + i s.
    for i, sighting in enumerate(SellerSighting.objects.filter(seller=seller).order_by("pk")):
        SellerSighting.objects.filter(pk=sighting.pk).update(
            created_at=start + dt.timedelta(seconds=i)
        )
    return seller


def test_renaming_a_seller_with_700_sightings_saves(client):
    """The read-only inline posted two fields per sighting: 400 TooManyFieldsSent at ~500."""
    seller = _top_seller(700)
    url = reverse("admin:collection_seller_change", args=[seller.pk])
    page = client.get(url)
    assert page.status_code == 200
    data = _submitted(page.content.decode(), "seller_form")
    data["display_name"] = ["Gadget Hub"]
    response = client.post(url, data)
    assert response.status_code == 302, response.content[:500]
    assert len(data) < 20  # the form posts the name, not the evidence
    seller.refresh_from_db()
    assert seller.display_name == "Gadget Hub"
    assert SellerChange.objects.get(action="renamed").details == {"from": "", "to": "Gadget Hub"}


def _evidence_rows(html: str) -> list[str]:
    return re.findall(r'<tr class="evidence-row[^"]*"[^>]*>(.*?)</tr>', html, flags=re.S)


def test_the_seller_page_pages_its_evidence_newest_first(client):
    seller = _top_seller(643)
    url = reverse("admin:collection_seller_change", args=[seller.pk])
    page = client.get(url)
    html = page.content.decode()
    rows = _evidence_rows(html)
    assert len(rows) == 25
    assert len(page.content) < 200_000  # was ~1 MB for the top seller
    # Newest first: sighting 642 (the last created) leads.
    assert "Listing 642" in rows[0] and "Listing 618" in rows[24]
    first = rows[0]
    assert "B0TOP00642" in first and "Amazon product 642" in first
    assert 'href="https://www.ebay.com/itm/100642"' in first
    assert 'href="https://www.amazon.com/dp/B0TOP00642"' in first
    assert "$19.50" in first and "$10.00" in first
    assert "+95 %" in first  # markup from the price ratio 1.95
    assert "88" in first and "query 642" in first and "US" in first and "Free" in first
    assert "match" in first and "look-alike" in rows[1]
    assert "643 sightings" in html
    # A link to more, which shows the next 25.
    assert "?evidence=2" in html
    second = _evidence_rows(client.get(url, {"evidence": "2"}).content.decode())
    assert len(second) == 25 and "Listing 617" in second[0]
    last = _evidence_rows(client.get(url, {"evidence": "26"}).content.decode())
    assert len(last) == 643 - 25 * 25 and "Listing 0" in last[-1]
    # A page past the end or garbage shows the last / first page, never an error.
    assert client.get(url, {"evidence": "999"}).status_code == 200
    assert client.get(url, {"evidence": "x"}).status_code == 200


def test_the_evidence_table_escapes_scraped_text_and_links_only_http(client):
    seller = Seller.objects.create(username=HOSTILE_NAME, normalized="hostile")
    run = CollectionRun.objects.create()
    product = Product.objects.create(
        asin='B0"><b>X', title="<i>Amazon</i> title", price=Decimal("10")
    )
    SellerSighting.objects.create(
        run=run,
        seller=seller,
        product=product,
        item_id='1"><script>x</script>',
        title=HOSTILE_TITLE,
        query="<b>q</b>",
        location="<u>US</u>",
        listing_price=Decimal("20"),
        item_url="javascript:alert(1)",
    )
    other = Product.objects.create(asin="B0PLAIN001", title="Plain", price=Decimal("10"))
    SellerSighting.objects.create(
        run=run,
        seller=seller,
        product=other,
        item_id="",
        item_url="javascript:alert(1)",
        title="No id",
        listing_price=Decimal("20"),
    )
    html = client.get(reverse("admin:collection_seller_change", args=[seller.pk])).content.decode()
    assert "<script>alert" not in html and "&lt;script&gt;alert(&quot;seller&quot;)" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "<i>Amazon</i>" not in html and "<b>q</b>" not in html and "<u>US</u>" not in html
    assert "javascript:" not in html
    # Ids are quoted into the URL path: nothing breaks out of the attribute.
    assert "https://www.ebay.com/itm/1%22%3E%3Cscript%3Ex%3C%2Fscript%3E" in html
    assert "https://www.amazon.com/dp/B0%22%3E%3Cb%3EX" in html
