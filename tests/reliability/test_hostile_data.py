"""A corpus of bad marketplace payloads through the real adapters, the engine and the store.

The corpus (``tests/reliability/corpus``) is served over loopback HTTP in front of the
sandbox marketplace, so a run sees truncated JSON, HTML where JSON is expected, captcha
and robot-check pages, records missing what they need, prices as strings, zero, negative
or absurd, 100 KB titles and ids, NUL bytes, markup and script in every text field,
Unicode look-alikes of a seller already in the database and listings repeated across
pages — next to ordinary pages of the sandbox. Nothing may crash the run; every bad
payload becomes a skipped record, a dropped value or a failed task with a specific error
type; nothing valid next to it is lost.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.apps import apps
from django.db import models

from activity.models import RunEvent
from collection.engine import run_execute
from collection.marketplaces.sandbox import SandboxConfig
from collection.models import Product, RunTask, Seller, SellerChange, SellerSighting
from collection.normalize import seller_key
from tests.collection.engine_helpers import forget_results, make_run, produced
from tests.collection.test_engine_loopback import live_settings

from .corpus import (
    CARDS_NODE,
    CLEAN_NODE,
    HTML_NODE,
    MARKUP_TITLE,
    MIXED_NODE,
    ROBOT_NODE,
    TRUNCATED_NODE,
    serve_corpus,
)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

CATALOGUE = SandboxConfig(
    seed=13, best_sellers_per_page=10, best_seller_pages=1, max_listings=60, dropshippers=80
)

EXPECTED_FAILED = {
    f"amazon:{TRUNCATED_NODE}:1": "parse_error",  # truncated JSON
    f"amazon:{HTML_NODE}:1": "parse_error",  # HTML where JSON is expected
    f"amazon:{ROBOT_NODE}:1": "parse_error",  # Amazon's robot check instead of the list
    "ebay:B0CORPUS06:1": "parse_error",  # truncated JSON
    "ebay:B0CORPUS07:1": "parse_error",  # HTML error page
    "ebay:B0CORPUS08:1": "parse_error",  # eBay's captcha page where JSON is expected
    "ebay:B0CORPUS09:1": "http_4xx",  # a 400 whose message is markup
}
MARKUP_TITLE_ASIN = "B0CORPUS03"
PRICED = {f"B0CORPUS{i:02d}" for i in range(1, 13)}
UNPRICED = {f"B0CORPUS{i:02d}" for i in range(14, 21)}  # Free, 0, -19.99, 1e15, NaN, true, 0.001
MARKUP_SELLERS = {
    '<script>alert("seller")</script>',
    '"><img src=x onerror=alert(2)>',
    "{{7*7}} ${7*7} <svg onload=alert(3)>",
    "</textarea><iframe src=javascript:alert(4)>",
    '=HYPERLINK("https://evil.example","x")',
}


def _text_values() -> list[str]:
    """Every stored text value of every table."""
    values = []
    for model in apps.get_models():
        fields = [
            f.name
            for f in model._meta.concrete_fields
            if isinstance(f, (models.CharField, models.TextField, models.JSONField))
        ]
        for row in model.objects.values_list(*fields) if fields else ():
            values += [str(v) for v in row if v is not None]
    return values


def _sightings(run_id: int, asins: set[str]) -> dict[str, set]:
    rows = SellerSighting.objects.filter(run_id=run_id, product__asin__in=asins).values_list(
        "product__asin", "seller__username", "listing_price"
    )
    found: dict[str, set] = {}
    for asin, username, price in rows:
        found.setdefault(asin, set()).add((username, price))
    return found


def test_the_corpus_crashes_nothing_and_loses_no_valid_data(settings):
    with serve_corpus(CATALOGUE) as (base_url, app):
        live_settings(settings, base_url, COLLECTION_MAX_CONSECUTIVE_FAILURES=0)
        # The valid data: the clean category alone, straight from the sandbox.
        reference = make_run(node_ids=[CLEAN_NODE], workers=4, ebay_pages=2)
        assert run_execute(run_id=reference.pk).status == "completed"
        clean = produced(reference.pk)
        forget_results()

        existing = Seller.objects.create(username="AcmeDeals", normalized=seller_key("AcmeDeals"))
        run = make_run(
            node_ids=[MIXED_NODE, TRUNCATED_NODE, HTML_NODE, ROBOT_NODE, CLEAN_NODE],
            workers=4,
            ebay_pages=2,
        )
        report = run_execute(run_id=run.pk)
        assert report.status == "completed", report.message
        assert len(app.served) == 14  # every corpus payload was asked for

    tasks = RunTask.objects.filter(run=run)
    assert not tasks.filter(status__in=["pending", "running"]).exists()
    # Each bad page failed its task with a specific error type, and is listed as such.
    failed = {t.key: t.error_type for t in tasks.filter(status="failed")}
    assert failed == EXPECTED_FAILED
    assert {row["key"]: row["error_type"] for row in report.failed} == EXPECTED_FAILED
    assert all(0 < len(row["error_message"]) <= 2000 for row in report.failed)
    errors = RunEvent.objects.filter(run=run, action="error")
    assert {e.data["task"]: e.data["error_type"] for e in errors} == EXPECTED_FAILED

    # The mixed best-seller page: 19 products kept, 10 records skipped (no ASIN, a bad or
    # 100 KB ASIN, no title, a duplicate, not an object), unusable prices dropped.
    corpus = {p.asin: p for p in Product.objects.filter(asin__startswith="B0CORPUS")}
    assert set(corpus) == PRICED | UNPRICED
    [found] = [
        e
        for e in RunEvent.objects.filter(run=run, action="found", phase="amazon")
        if f"query={MIXED_NODE}" in e.data["url"]
    ]
    assert (found.data["count"], found.data["skipped"]) == (19, 10)
    assert corpus["B0CORPUS01"].price == Decimal("20.00")
    assert corpus["B0CORPUS02"].price == Decimal("25.00")  # "$25.00"
    assert all(corpus[asin].price is None for asin in UNPRICED)
    assert corpus["B0CORPUS02"].url == "https://www.amazon.com/dp/B0CORPUS02"  # javascript:
    assert corpus["B0CORPUS02"].rating is None and corpus["B0CORPUS02"].ratings_count is None
    assert corpus["B0CORPUS03"].title == MARKUP_TITLE  # markup stays text
    assert corpus["B0CORPUS03"].ratings_count == 1234
    assert corpus["B0CORPUS10"].title == "Corpus Null Byte Pen"
    assert corpus["B0CORPUS11"].title.startswith("Corpus Huge Title Lorem ipsum")
    assert len(corpus["B0CORPUS11"].title) <= 1000
    assert all(p.url.startswith("https://www.amazon.com/") for p in corpus.values())
    # Only products with a usable price were searched on eBay.
    searched = {k.split(":")[1] for k in tasks.filter(phase="ebay").values_list("key", flat=True)}
    assert PRICED <= searched and not (UNPRICED & searched)

    sightings = _sightings(run.pk, PRICED)
    assert sightings["B0CORPUS01"] == {
        ("AcmeDeals", Decimal("40.00")),
        ("lampking", Decimal("38.50")),
        ("nopricestore", None),
    }
    assert sightings["B0CORPUS02"] == {
        ("price-plain", Decimal("50.00")),
        ("price-dollar", Decimal("50.00")),
        *(
            (name, None)
            for name in (
                "price-zero",
                "price-negative",
                "price-exponent",
                "price-absurd",
                "price-nan",
                "price-words",
            )
        ),
    }  # out-of-band listings skipped; an unusable price is dropped, never stored
    assert {name for name, _ in sightings[MARKUP_TITLE_ASIN]} == MARKUP_SELLERS
    # Look-alikes that are the same account fold into the existing seller; other letters
    # (Cyrillic А, a capital I for an l) are other accounts; an empty name is skipped.
    assert {name for name, _ in sightings["B0CORPUS04"]} == {
        "AcmeDeals",
        "AcmeDeaIs",
        "\u0410cmeDeals",
    }
    existing.refresh_from_db()
    assert existing.times_seen >= 2
    assert SellerSighting.objects.filter(seller=existing).values("product").distinct().count() == 2
    assert not SellerChange.objects.filter(seller=existing, action="added").exists()
    assert Seller.objects.filter(normalized__contains="acme").count() == 2
    assert Seller.objects.filter(normalized="\u0430cmedeals").count() == 1
    # Listings repeated on a page and across pages: one sighting per seller and product.
    assert tasks.get(key="ebay:B0CORPUS05:2").status == "done"
    assert sightings["B0CORPUS05"] == {
        ("cablecorner", Decimal("10.00")),
        ("wirehouse", Decimal("9.50")),
    }
    assert sightings["B0CORPUS10"] == {("null byte store", None)}
    assert "B0CORPUS06" not in sightings and "B0CORPUS09" not in sightings

    # Nothing unstorable reached the database; nothing valid around the corpus was lost.
    assert not [v for v in _text_values() if "\x00" in v]
    result = produced(run.pk)
    clean_asins = {asin for _, asin, _ in clean["sightings"]}
    assert {s for s in result["sightings"] if s[1] in clean_asins} == clean["sightings"]
    clean_keys = {key for key, _ in clean["tasks"]}
    assert {(k, s) for k, s in result["tasks"] if k in clean_keys} == clean["tasks"]
    assert run.__class__.objects.get(pk=run.pk).skipped_records >= 10 + 8 + 2


def test_hostile_ebay_pages_through_oxylabs(settings):
    """The eBay search pages fetched through Oxylabs: a captcha (retried once, then
    ``captcha``), an unrecognised and an empty page (``parse_error``), and cards whose
    text is markup, kept as text next to the cards that are skipped."""
    with serve_corpus(CATALOGUE) as (base_url, app):
        live_settings(
            settings, base_url, EBAY_PROVIDER="oxylabs", COLLECTION_MAX_CONSECUTIVE_FAILURES=0
        )
        run = make_run(node_ids=[CARDS_NODE], workers=2, ebay_pages=1)
        report = run_execute(run_id=run.pk)
        assert report.status == "completed", report.message

    failed = {
        t.key: (t.error_type, t.attempts) for t in RunTask.objects.filter(run=run, status="failed")
    }
    assert failed == {
        "ebay:B0CORPUSH0:1": ("captcha", 2),
        "ebay:B0CORPUSH1:1": ("parse_error", 1),
        "ebay:B0CORPUSH2:1": ("parse_error", 1),
    }
    assert app.served["Corpus Html Captcha Drill"] == 2
    assert _sightings(run.pk, {"B0CORPUSH3"}) == {
        "B0CORPUSH3": {
            ('<script>alert("card-seller")</script>', Decimal("20.00")),
            ("wrench&co", Decimal("21.00")),
        }
    }
    found = RunEvent.objects.filter(run=run, action="found", phase="ebay")  # + a fallback query
    assert (2, 2) in [(event.data["count"], event.data["skipped"]) for event in found]
