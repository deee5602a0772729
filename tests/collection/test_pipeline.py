"""The pipeline: a claimed task becomes the right adapter call and the right outcome."""

import json
from decimal import Decimal

import pytest

from collection import pipeline
from collection.marketplaces.base import (
    BestSeller,
    BestSellerPage,
    Listing,
    ListingPage,
    ListingQuery,
    Marketplace,
)
from collection.matching import search_queries
from collection.store import ClaimedTask

OPTIONS = pipeline.RunOptions(
    markup_min_percent=Decimal("80"),
    markup_max_percent=Decimal("120"),
    category_names={"172282": "Electronics"},
)


def amazon_task(page=1, node_id="172282"):
    return ClaimedTask(
        id=1, key=f"amazon:{node_id}:{page}", phase="amazon", page=page, attempts=0, node_id=node_id
    )


TITLE = (
    "Sonvik Q47 Wireless Earbuds with Charging Case, Bluetooth 5.3 Headphones, 40H Playtime, "
    "IPX7 Waterproof Sport Earphones for iPhone Android, Black"
)


def ebay_task(price="10.00", title=TITLE, page=2, attempts=0, query="", key=None):
    return ClaimedTask(
        id=7,
        key=key or f"ebay:B0TEST:{page}",
        phase="ebay",
        page=page,
        attempts=attempts,
        product_id=3,
        asin="B0TEST",
        title=title,
        price=None if price is None else Decimal(price),
        query=query,
    )


@pytest.mark.parametrize(
    "price, low, high",
    [
        ("10.00", "18.00", "22.00"),
        ("9.99", "17.99", "21.97"),  # 17.982 → up, 21.978 → down: inside the band
        ("1299.99", "2339.99", "2859.97"),
        ("0.01", "0.02", "0.02"),
    ],
)
def test_price_band_is_the_markup_band_in_cents(price, low, high):
    band = pipeline.price_band(
        price=Decimal(price),
        markup_min_percent=Decimal("80"),
        markup_max_percent=Decimal("120"),
    )
    assert band == (Decimal(low), Decimal(high))


def test_price_band_follows_the_run_options():
    assert pipeline.price_band(
        price=Decimal("50"), markup_min_percent=Decimal("0"), markup_max_percent=Decimal("50.5")
    ) == (Decimal("50.00"), Decimal("75.25"))


def test_ebay_task_sends_its_planned_query_with_the_price_band():
    query = pipeline.listing_query(ebay_task(query="wireless earbuds q47"), OPTIONS)
    assert query == ListingQuery(
        keywords="wireless earbuds q47",
        price_min=Decimal("18.00"),
        price_max=Decimal("22.00"),
        page=2,
    )
    assert query.page_size == 200


def test_a_task_without_a_planned_query_builds_the_one_its_key_names():
    first, second = search_queries(TITLE, limit=2)
    assert pipeline.listing_query(ebay_task(), OPTIONS).keywords == first
    task = ebay_task(key="ebay:B0TEST:1:q2", page=1)
    assert pipeline.listing_query(task, OPTIONS).keywords == second
    # Short: an edited copy of the title holds every word of it.
    assert len(first.split()) <= 5 and len(first) < len(TITLE) / 2


def _page(*titles):
    return ListingPage(
        listings=tuple(
            Listing(
                item_id=str(i),
                title=t,
                price=Decimal("19"),
                currency="USD",
                seller_username=f"s{i}",
            )
            for i, t in enumerate(titles)
        ),
        has_next=False,
    )


COPIES = (
    "Wireless Earbuds Charging Case Bluetooth 5.3 Headphones 40H Playtime IPX7 Waterproof",
    "NEW Sonvik Q47 Wireless Earbuds with Charging Case, Bluetooth 5.3 Headphones, 40H",
    "Q47 Wireless Earbuds w/ Charging Case Bluetooth 5.3 40H Playtime Fast Free Shipping",
)
LOOK_ALIKE = "Zentrix Wireless Earbuds Bluetooth 5.3 IPX7 Waterproof Headphones Black"


def test_listings_are_judged_and_the_next_query_named_only_when_too_few_match():
    task = ebay_task(page=1, key="ebay:B0TEST:1")
    plenty = pipeline.outcome_done(task, _page(*COPIES, LOOK_ALIKE), attempts=1, options=OPTIONS)
    matched = [s >= plenty.match_threshold for s in plenty.match_scores]
    assert matched == [True, True, True, False]
    assert plenty.follow_up_query == "" and plenty.reference_price == Decimal("10.00")
    assert plenty.query == search_queries(TITLE, limit=1)[0]
    few = pipeline.outcome_done(task, _page(LOOK_ALIKE), attempts=1, options=OPTIONS)
    assert few.follow_up_query == search_queries(TITLE, limit=2)[1]
    # The run's cap: one query per product page, or already the last query.
    one = pipeline.RunOptions(
        markup_min_percent=Decimal("80"), markup_max_percent=Decimal("120"), ebay_queries=1
    )
    assert pipeline.outcome_done(task, _page(), attempts=1, options=one).follow_up_query == ""
    second = ebay_task(page=1, key="ebay:B0TEST:1:q2")
    assert pipeline.outcome_done(second, _page(), attempts=1, options=OPTIONS).follow_up_query == ""
    # Later pages of a query never start another query.
    assert (
        pipeline.outcome_done(
            ebay_task(page=2), _page(), attempts=1, options=OPTIONS
        ).follow_up_query
        == ""
    )


@pytest.mark.parametrize("price, title", [(None, "x"), ("0", "x"), ("-3", "x"), ("5", "  ")])
def test_a_product_without_usable_price_or_title_is_not_fetchable(price, title):
    with pytest.raises(pipeline.NotFetchable):
        pipeline.listing_query(ebay_task(price=price, title=title), OPTIONS)


class RecordingAmazon:
    provider = "oxylabs"

    def __init__(self):
        self.calls = []

    async def best_sellers(self, *, node_id, page):
        self.calls.append((node_id, page))
        return BestSellerPage(
            node_id=node_id,
            page=page,
            products=(
                BestSeller(
                    asin="B01",
                    title="T",
                    price=Decimal("5"),
                    currency="USD",
                    rating=None,
                    ratings_count=None,
                    rank=1,
                    url="",
                ),
            ),
            request_url="https://example.test/v1/queries?query=172282",
        )


class RecordingEbay:
    provider = "ebay"

    def __init__(self):
        self.queries = []

    async def search_listings(self, query):
        self.queries.append(query)
        return ListingPage(
            listings=(
                Listing(
                    item_id="1", title="t", price=Decimal("19"), currency="USD", seller_username="s"
                ),
            ),
            has_next=True,
            skipped=1,
        )


async def test_tasks_go_to_the_right_adapter_and_become_done_outcomes():
    marketplace = Marketplace(amazon=RecordingAmazon(), ebay=RecordingEbay())
    page = await pipeline.task_fetch(amazon_task(page=2), marketplace=marketplace, options=OPTIONS)
    assert marketplace.amazon.calls == [("172282", 2)]
    outcome = pipeline.outcome_done(amazon_task(page=2), page, attempts=1, options=OPTIONS)
    assert outcome.status == "done" and outcome.best_sellers is page and outcome.listings is None

    task = ebay_task(attempts=2)
    listings = await pipeline.task_fetch(task, marketplace=marketplace, options=OPTIONS)
    assert marketplace.ebay.queries[0].price_min == Decimal("18.00")
    outcome = pipeline.outcome_done(task, listings, attempts=3, options=OPTIONS)
    assert (outcome.task_id, outcome.attempts, outcome.listings) == (7, 3, listings)
    assert pipeline.task_provider(task, marketplace) == "ebay"
    assert pipeline.task_provider(amazon_task(), marketplace) == "oxylabs"


def test_event_fields_are_plain_json_and_short():
    title = "<script>alert(1)</script>" + "x" * 500
    fields = pipeline.task_event_fields(ebay_task(title=title), OPTIONS)
    assert json.loads(json.dumps(fields)) == fields
    assert len(fields["product"]) <= pipeline.EVENT_TITLE_CHARS
    assert fields["params"]["price_min"] == "18.00"
    amazon = pipeline.task_event_fields(amazon_task(), OPTIONS)
    assert amazon["category"] == "Electronics"
    found = pipeline.result_event_fields(
        ListingPage(listings=(), has_next=False, skipped=2, request_url="u")
    )
    assert found == {"count": 0, "skipped": 2, "has_next": False, "url": "u"}


def test_failed_and_skipped_outcomes_carry_the_reason():
    failed = pipeline.outcome_failed(
        ebay_task(), error_type="parse_error", message="m" * 5000, attempts=1
    )
    assert failed.status == "failed" and failed.error_type == "parse_error"
    assert len(failed.error_message) == 2000
    skipped = pipeline.outcome_skipped(ebay_task(price=None), reason="no price")
    assert skipped.status == "skipped"
