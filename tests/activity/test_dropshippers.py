"""The operator pages: leaderboard (filters, keyset paging, samples in one query), seller
page (evidence paged, links out), product page, the run's top sellers; hostile text stays
text and scraped URLs never become links."""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from activity.links import ebay_feedback_url, ebay_item_url, ebay_store_url
from collection.models import Seller
from collection.selectors import (
    LeaderboardCursor,
    LeaderboardFilters,
    run_top_sellers_get,
    seller_leaderboard_get,
    seller_samples_get,
)

from . import dropshippers as make
from .conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def seller_viewer(db):
    return make_user("analyst", staff=True, perms=("view_seller", "view_collectionrun"))


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def names(page) -> list[str]:
    return [row.seller.username for row in page.rows]


@pytest.fixture
def world():
    """Two runs, three products in two departments, sellers with and without matches."""
    home = make.category("1055398", "Home & Kitchen", "Home & Kitchen")
    toys = make.category("165793011", "Toys & Games", "Toys & Games")
    run1, run2 = make.run(categories=[home]), make.run(categories=[home, toys])
    lamp = make.product("B0LAMP0001", price="20.00", in_category=home)
    mug = make.product("B0MUG00001", price="10.00", in_category=home)
    kite = make.product("B0KITE0001", price="30.00", in_category=toys)
    top = make.seller(
        "top-dropship",
        score=90,
        products_matched=3,
        median_price_ratio=1.9,
        feedback_score=5000,
        first_seen_run=run1,
    )
    mid = make.seller(
        "mid-reseller",
        score=60,
        products_matched=1,
        median_price_ratio=1.5,
        feedback_score=40,
        flagged=True,
        first_seen_run=run2,
    )
    low = make.seller("honest-shop", score=5, products_matched=0, first_seen_run=run1)
    gone = make.seller("deleted-one", score=99, products_matched=2, first_seen_run=run1)
    Seller.objects.filter(pk=gone.pk).update(deleted_at="2025-01-01T00:00:00Z")
    make.sighting(seller=top, product=lamp, run=run1, ratio=1.8, match_score=95)
    make.sighting(seller=top, product=lamp, run=run2, ratio=2.0, match_score=96)  # same product
    make.sighting(seller=top, product=mug, run=run2, ratio=1.9, match_score=88)
    make.sighting(seller=top, product=kite, run=run2, ratio=1.7, match_score=91)
    make.sighting(seller=top, product=kite, run=run1, ratio=3.0, match_score=40, is_match=False)
    make.sighting(seller=mid, product=kite, run=run2, ratio=1.5, match_score=90)
    make.sighting(seller=low, product=mug, run=run1, ratio=1.1, match_score=30, is_match=False)
    return {
        "run1": run1,
        "run2": run2,
        "home": home,
        "toys": toys,
        "lamp": lamp,
        "mug": mug,
        "kite": kite,
        "top": top,
        "mid": mid,
        "low": low,
    }


def test_leaderboard_ranks_active_sellers_by_score(world):
    page = seller_leaderboard_get(filters=LeaderboardFilters())
    assert names(page) == ["top-dropship", "mid-reseller", "honest-shop"]  # deleted left out
    assert page.next_cursor is None and page.previous_cursor is None


def test_samples_are_one_listing_per_product_strongest_match_first_and_range_over_matches(world):
    page = seller_leaderboard_get(filters=LeaderboardFilters())
    top = page.rows[0]
    assert [s.asin for s in top.samples] == ["B0LAMP0001", "B0KITE0001", "B0MUG00001"]
    assert top.samples[0].markup_percent == 100.0  # the latest lamp sighting (ratio 2.0)
    assert (top.markup_min_percent, top.markup_max_percent) == (70.0, 100.0)  # look-alike out
    assert top.markup_median_percent == 90.0
    assert page.rows[2].samples == []  # only a look-alike


def test_a_page_costs_two_queries_whatever_its_size(world):
    with CaptureQueriesContext(connection) as queries:
        seller_leaderboard_get(filters=LeaderboardFilters())
    assert len(queries) == 2
    samples, _ = seller_samples_get(seller_ids=[world["top"].pk], per_seller=2)
    assert len(samples[world["top"].pk]) == 2


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (LeaderboardFilters(search="DROP"), ["top-dropship"]),
        (LeaderboardFilters(department="Toys & Games"), ["top-dropship", "mid-reseller"]),
        (LeaderboardFilters(department="Home & Kitchen"), ["top-dropship"]),  # low: look-alike
        (LeaderboardFilters(asin="b0kite0001"), ["top-dropship", "mid-reseller"]),
        (LeaderboardFilters(asin="B0MUG00001"), ["top-dropship"]),
        (LeaderboardFilters(score_min=50), ["top-dropship", "mid-reseller"]),
        (LeaderboardFilters(markup_min_percent=40, markup_max_percent=60), ["mid-reseller"]),
        (LeaderboardFilters(markup_min_percent=60, markup_max_percent=80), []),
        (LeaderboardFilters(markup_min_percent=85), ["top-dropship"]),
        (LeaderboardFilters(feedback_min=100), ["top-dropship", "honest-shop"]),
        (LeaderboardFilters(flagged=True), ["mid-reseller"]),
        (LeaderboardFilters(flagged=False), ["top-dropship", "honest-shop"]),
        (LeaderboardFilters(asin="B0NOTHERE1"), []),
    ],
)
def test_leaderboard_filters(world, filters, expected):
    assert names(seller_leaderboard_get(filters=filters)) == expected


def test_run_filters(world):
    run1, run2 = world["run1"], world["run2"]

    def by_run(**kw):
        return names(seller_leaderboard_get(filters=LeaderboardFilters(**kw)))

    assert by_run(new_in_run_id=run1.pk) == ["top-dropship", "honest-shop"]
    assert by_run(new_in_run_id=run2.pk) == ["mid-reseller"]
    assert by_run(seen_in_run_id=run2.pk) == ["top-dropship", "mid-reseller"]
    assert by_run(seen_in_run_id=run1.pk) == ["top-dropship"]  # honest-shop: look-alike only
    assert by_run(category_id=world["toys"].pk) == ["top-dropship", "mid-reseller"]


def test_keyset_paging_walks_forward_and_back_through_ties():
    run = make.run()
    for i in range(7):
        make.seller(f"tied-{i}", score=50)  # ties broken by id
    make.seller("best", score=80)
    seen = []
    page = seller_leaderboard_get(filters=LeaderboardFilters(), limit=3)
    pages = [names(page)]
    while page.next_cursor:
        page = seller_leaderboard_get(filters=LeaderboardFilters(), after=page.next_cursor, limit=3)
        pages.append(names(page))
    seen = [name for p in pages for name in p]
    assert seen == ["best"] + [f"tied-{i}" for i in range(7)]
    assert [len(p) for p in pages] == [3, 3, 2]
    # Back from the last page: the same pages in reverse.
    back = seller_leaderboard_get(
        filters=LeaderboardFilters(), before=page.previous_cursor, limit=3
    )
    assert names(back) == pages[1]
    back = seller_leaderboard_get(
        filters=LeaderboardFilters(), before=back.previous_cursor, limit=3
    )
    assert names(back) == pages[0] and back.previous_cursor is None
    assert run  # the run only provides a category for run_create


def test_cursor_parameters_that_are_not_positions_are_ignored():
    assert LeaderboardCursor.from_param("90.5_12") == LeaderboardCursor(90.5, 12)
    for junk in ("", None, "abc", "nan_3", "1_x", "_"):
        assert LeaderboardCursor.from_param(junk) is None


def test_leaderboard_page_renders_filters_rows_and_pager(world, seller_viewer):
    client = logged_in(seller_viewer)
    response = client.get(reverse("activity:leaderboard"))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.index("top-dropship") < html.index("mid-reseller") < html.index("honest-shop")
    assert "deleted-one" not in html
    seller_url = reverse("activity:seller_detail", args=[world["top"].pk])
    assert f'href="{seller_url}"' in html
    assert "https://www.ebay.com/itm/" in html
    assert "+90 %" in html and "+70 % … +100 %" in html  # median, range
    # Filters through the query string; a bad value is reported, not a 500.
    response = client.get(reverse("activity:leaderboard"), {"asin": "B0MUG00001", "score_min": "x"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "top-dropship" in html and "mid-reseller" not in html
    assert "Enter a number." in html
    response = client.get(reverse("activity:leaderboard"), {"department": "d:Toys & Games"})
    assert "mid-reseller" in response.content.decode()
    assert "honest-shop" not in response.content.decode()
    kites = make.category("11111", "Kites", "Toys & Games")
    make.product("B0KITE0002", in_category=kites)
    response = client.get(reverse("activity:leaderboard"), {"department": f"c:{kites.pk}"})
    assert f'<option value="c:{kites.pk}" selected>Kites</option>' in response.content.decode()
    assert "No seller matches these filters." in response.content.decode()


def test_leaderboard_pager_links_keep_the_filters(seller_viewer):
    make.run()
    for i in range(55):
        make.seller(f"s{i:02d}", score=100 - i, feedback_score=500)
    client = logged_in(seller_viewer)
    response = client.get(reverse("activity:leaderboard"), {"feedback_min": "10"})
    html = response.content.decode()
    next_link = re.search(r'rel="next" href="\?([^"]+)"', html).group(1).replace("&amp;", "&")
    assert "feedback_min=10" in next_link and "after=" in next_link
    response = client.get(reverse("activity:leaderboard") + "?" + next_link)
    html = response.content.decode()
    assert "s50" in html and "s49" not in html
    assert 'rel="prev"' in html and 'rel="next"' not in html


def test_root_is_the_leaderboard_and_login_lands_there(client, settings):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert "next=/" in response["Location"]
    assert reverse("activity:leaderboard") == "/"
    from django.shortcuts import resolve_url

    assert resolve_url(settings.LOGIN_REDIRECT_URL) == "/"


def test_operator_pages_need_staff_with_the_permission_to_view_sellers(world, viewer):
    urls = [
        reverse("activity:leaderboard"),
        reverse("activity:seller_detail", args=[world["top"].pk]),
        reverse("activity:product_detail", args=["B0LAMP0001"]),
        reverse("activity:run_top_sellers", args=[world["run1"].pk]),
    ]
    for url in urls:
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
        assert logged_in(viewer).get(url).status_code == 403  # may view runs, not sellers
    customer = make_user("customer", staff=False, perms=("view_seller", "view_collectionrun"))
    for url in urls:
        assert logged_in(customer).get(url).status_code == 403


def test_seller_page_explains_pages_evidence_and_links_out(world, seller_viewer):
    top, run1 = world["top"], world["run1"]
    for i in range(60):
        extra = make.product(f"B0EXTRA{i:03d}", price="10.00")
        make.sighting(
            seller=top,
            product=extra,
            run=run1,
            item_id=f"1{i:05d}",
            ratio=1.5,
            match_score=80,
            is_match=i % 2 == 0,
        )
    client = logged_in(seller_viewer)
    url = reverse("activity:seller_detail", args=[top.pk])
    response = client.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Copies 3 best sellers at a median 90 % markup" in html  # dropshipper_why
    assert 'href="https://www.ebay.com/str/top-dropship"' in html
    assert 'href="https://www.ebay.com/fdbk/feedback_profile/top-dropship"' in html
    assert 'href="https://www.amazon.com/dp/B0EXTRA059"' in html
    rows = re.findall(r'<tr data-sighting-id="(\d+)" class="(is-match|is-lookalike)"', html)
    assert len(rows) == 50  # paged
    ids = [int(pk) for pk, _ in rows]
    assert ids == sorted(ids, reverse=True)  # newest first
    assert {kind for _, kind in rows} == {"is-match", "is-lookalike"}
    assert "look-alike</span>" in html and "match</span>" in html
    assert "page 1 of 2" in html
    second = client.get(url, {"page": 2}).content.decode()
    assert len(re.findall(r'<tr data-sighting-id="', second)) == 15
    assert client.get(url, {"page": "junk"}).status_code == 200
    chart = json.loads(
        re.search(
            r'<script id="runs-chart-data" type="application/json">(.*?)</script>', html, re.DOTALL
        ).group(1)
    )
    by_run = {point["run_id"]: point for point in chart}
    assert by_run[world["run2"].pk]["products_matched"] == 3
    assert by_run[run1.pk]["sightings"] == 62
    assert client.get(reverse("activity:seller_detail", args=[999999])).status_code == 404


def test_product_page_lists_resellers_matched_first(world, seller_viewer):
    client = logged_in(seller_viewer)
    response = client.get(reverse("activity:product_detail", args=["B0KITE0001"]))
    assert response.status_code == 200
    html = response.content.decode()
    rows = re.findall(r'<tr data-seller-id="(\d+)" class="(is-match|is-lookalike)"', html)
    # top's latest kite sighting is its match (run 2); mid matched too.
    assert [int(pk) for pk, _ in rows] == [world["top"].pk, world["mid"].pk]
    response = client.get(reverse("activity:product_detail", args=["B0MUG00001"]))
    rows = re.findall(
        r'<tr data-seller-id="(\d+)" class="(is-match|is-lookalike)"', response.content.decode()
    )
    assert rows == [(str(world["top"].pk), "is-match"), (str(world["low"].pk), "is-lookalike")]
    assert "https://www.amazon.com/dp/B0MUG00001" in response.content.decode()
    assert client.get(reverse("activity:product_detail", args=["NOPE"])).status_code == 404


def test_run_top_sellers_by_products_matched_in_the_run(world, seller_viewer):
    run1, run2 = world["run1"], world["run2"]
    top = run_top_sellers_get(run_id=run2.pk)
    assert [(row["username"], row["products_in_run"]) for row in top] == [
        ("top-dropship", 3),
        ("mid-reseller", 1),
    ]
    assert [row["username"] for row in run_top_sellers_get(run_id=run2.pk, new_only=True)] == [
        "mid-reseller"
    ]
    assert [row["username"] for row in run_top_sellers_get(run_id=run1.pk)] == ["top-dropship"]
    response = logged_in(seller_viewer).get(reverse("activity:run_top_sellers", args=[run2.pk]))
    data = response.json()
    assert [row["name"] for row in data["top"]] == ["top-dropship", "mid-reseller"]
    assert data["new"][0]["median_markup_percent"] == 50.0
    page = logged_in(seller_viewer).get(reverse("activity:run_detail", args=[run2.pk]))
    html = page.content.decode()
    assert f'href="/?seen_in_run={run2.pk}"' in html and f'href="/?new_in_run={run2.pk}"' in html
    assert "top-dropship" in html


def test_links_out_are_built_from_identifiers_and_encoded():
    assert ebay_item_url("1234567890") == "https://www.ebay.com/itm/1234567890"
    assert (
        ebay_item_url("../../evil?x=1#y") == "https://www.ebay.com/itm/..%2F..%2Fevil%3Fx%3D1%23y"
    )
    assert ebay_store_url("a b/c") == "https://www.ebay.com/str/a%20b%2Fc"
    assert ebay_feedback_url("é") == "https://www.ebay.com/fdbk/feedback_profile/%C3%A9"
    assert ebay_item_url("") == ""


def test_hostile_seller_and_listing_stay_text_and_scraped_urls_never_become_links(seller_viewer):
    run = make.run()
    evil_product = make.product("B0EVIL0001", title=make.HOSTILE_TITLE)
    evil = make.seller(
        make.HOSTILE_SELLER,
        score=70,
        products_matched=1,
        median_price_ratio=2.0,
        display_name=make.HOSTILE_SELLER,
        first_seen_run=run,
    )
    make.sighting(
        seller=evil,
        product=evil_product,
        run=run,
        item_id="javascript:alert(1)",
        title=make.HOSTILE_TITLE,
        item_url=make.JAVASCRIPT_URL,
        query=make.HOSTILE_TITLE,
        location="<b>US</b>",
    )
    client = logged_in(seller_viewer)
    pages = [
        reverse("activity:leaderboard"),
        reverse("activity:seller_detail", args=[evil.pk]),
        reverse("activity:product_detail", args=["B0EVIL0001"]),
        reverse("activity:run_detail", args=[run.pk]),
        reverse("activity:leaderboard") + "?q=%3Cscript%3E",
    ]
    for url in pages:
        html = client.get(url).content.decode()
        assert "<script>alert" not in html and "<img src=x" not in html, url
        assert "<script>window.__pwned" not in html and "<b>US</b>" not in html, url
        assert "&lt;script&gt;" in html or "\\u003Cscript\\u003E" in html, url
        hrefs = re.findall(r'href="([^"]*)"', html)
        assert all(not h.lower().startswith("javascript") for h in hrefs), url
        assert make.JAVASCRIPT_URL not in hrefs
        assert " style=" not in html and "<style" not in html
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, (url, tag)
    # The listing link is built from the item id, percent-encoded: still on ebay.com.
    html = client.get(reverse("activity:seller_detail", args=[evil.pk])).content.decode()
    assert 'href="https://www.ebay.com/itm/javascript%3Aalert%281%29"' in html


def test_run_top_sellers_leave_out_soft_deleted_sellers(world):
    run2 = world["run2"]
    Seller.objects.filter(pk=world["top"].pk).update(deleted_at="2025-01-01T00:00:00Z")
    assert [row["username"] for row in run_top_sellers_get(run_id=run2.pk)] == ["mid-reseller"]
    assert [row["username"] for row in run_top_sellers_get(run_id=run2.pk, limit=1)] == [
        "mid-reseller"
    ]
