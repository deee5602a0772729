"""listing_match with the search page's context: evidence from words rare among the kind."""

import random
import time

from collection.matching import MATCH_THRESHOLD, listing_match, page_context, product_terms

T = MATCH_THRESHOLD

CASALUNA = (
    "Casaluna Bed Sheet Set for Bedroom Living Room, Non-Toxic with Storage Bag, "
    "Space Saving, Machine Washable, Queen, Grey"
)

# What a search for "bed sheet set" returns: copies of other bed sheet sets of the kind
# (sharing "bedroom living room" and "space saving"), look-alikes, and a few copies of ours.
SIBLINGS = [
    "Bed Sheet Set for Bedroom Living Room, Space Saving, Large Capacity",
    "NEW Bed Sheet Set Bedroom Living Room Space Saving Large Capacity Free Shipping",
    "Pureview Bed Sheet Set for Bedroom Living Room, Space Saving, Large Capacity",
    "Bed Sheet Set Space Saving Quiet Operation for Bedroom Living Room - Ships Fast",
    "HOT Bed Sheet Set, Space Saving, Quiet Operation, Bedroom Living Room",
    "Bed Sheet Set for Bedroom Living Room with Handles, Space Saving, Rust Resistant",
    "Homelux Bed Sheet Set for Bedroom Living Room, Easy to Clean, Space Saving",
    "Bed Sheet Set Bedroom Living Room Easy to Clean Space Saving | US Seller",
    "Bed Sheet Set Deep Pocket Microfiber Cooling Space Saving Bedroom",
    "Bed Sheet Set Space Saving Large Capacity Bedroom Living Room Grey",
]
COPIES = [
    "Bed Sheet Set for Bedroom Living Room, Non-Toxic with Storage Bag, Space Saving",
    "NEW Bed Sheet Set Bedroom Living Room Non-Toxic Storage Bag Fast Free Shipping",
    "Casaluna Bed Sheet Set for Bedroom Living Room, Non-Toxic with Storage Bag",
]
# A copy of a sibling that kept only the phrases the kind shares with ours.
SIBLING_SUBSET = "Bed Sheet Set for Bedroom Living Room, Space Saving - Ships Fast"


def _page(extra=()):
    return SIBLINGS + COPIES + [SIBLING_SUBSET, *extra]


def test_a_siblings_copy_on_a_page_of_the_shared_phrases_is_not_a_match():
    terms = product_terms(CASALUNA)
    context = page_context(terms, _page())
    assert listing_match(terms, SIBLING_SUBSET, context=context) < T


def test_real_copies_still_match_on_the_same_page():
    terms = product_terms(CASALUNA)
    context = page_context(terms, _page())
    for copy in COPIES:
        assert listing_match(terms, copy, context=context) >= T, copy


def test_the_model_code_is_product_specific_evidence():
    terms = product_terms("Homelux XR-200 Bed Sheet Set for Bedroom Living Room, Space Saving")
    listing = "XR-200 Bed Sheet Set for Bedroom Living Room, Space Saving - Ships Fast"
    context = page_context(terms, _page([listing]))
    assert listing_match(terms, listing, context=context) >= T


def test_without_context_the_score_is_the_context_free_one():
    terms = product_terms(CASALUNA)
    for title in _page():
        assert listing_match(terms, title) == listing_match(terms, title, context=None)


def test_context_is_deterministic_and_order_free():
    terms = product_terms(CASALUNA)
    page = _page()
    shuffled = page[:]
    random.Random(7).shuffle(shuffled)
    a, b = page_context(terms, page), page_context(terms, shuffled)
    assert [listing_match(terms, t, context=a) for t in page] == [
        listing_match(terms, t, context=b) for t in page
    ]


def test_a_title_not_on_the_page_is_judged_like_the_others():
    terms = product_terms(CASALUNA)
    context = page_context(terms, SIBLINGS)
    assert listing_match(terms, COPIES[0], context=context) >= T
    assert listing_match(terms, SIBLING_SUBSET, context=context) < T


def test_an_empty_or_hostile_page():
    terms = product_terms(CASALUNA)
    context = page_context(terms, [])
    assert listing_match(terms, COPIES[0], context=context) >= T
    context = page_context(terms, ["", "\x00" * 50, "<b>" * 1000, "🔥" * 300])
    assert 0.0 <= listing_match(terms, "\x00", context=context) <= 100.0


def test_an_own_short_title_holding_only_the_product_noun_is_not_a_copy():
    terms = product_terms(
        "Homelux Vacuum Sealer Machine - Easy to Clean for Countertop - "
        "Gift Idea - 1500W with Lid - Premium, Black"
    )
    assert listing_match(terms, "Vacuum Sealer Machine") < T
    assert (
        listing_match(terms, "Vacuum Sealer Machine Easy to Clean for Countertop Gift Idea 1500W")
        >= T
    )


def test_cost_per_listing_with_context():
    terms = product_terms(CASALUNA)
    page = [f"{t} {i}" for i in range(12) for t in _page()]  # ~170 distinct titles
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        context = page_context(terms, page)
        for title in page:
            listing_match(terms, title, context=context)
        best = min(best, (time.perf_counter() - start) / len(page))
    assert best < 0.0003  # 0.1 ms on a quiet core; loose for a loaded test machine
