import pytest

from collection.matching import MATCH_THRESHOLD, listing_match, product_terms

from .corpus import PRODUCTS, UNRELATED
from .edits import HABITS

SONVIK = PRODUCTS[0]["title"]
T = MATCH_THRESHOLD


@pytest.fixture(scope="module")
def sonvik():
    return product_terms(SONVIK)


def test_product_terms(sonvik):
    assert sonvik.brand == ("sonvik",)
    assert sonvik.codes == {"q47"}
    assert ("h", "40") in sonvik.specs
    assert sonvik.colours == {"black"}
    assert sonvik.usable


def test_brand_can_be_given():
    terms = product_terms("Hot Wheels Monster Trucks Glow in the Dark 4-Pack", brand="Hot Wheels")
    assert terms.brand == ("hot", "wheel")


@pytest.mark.parametrize(
    "title,codes",
    [
        ("DEWALT 20V Max Cordless Drill/Driver Kit (DCD771C2)", {"dcd771c2"}),
        ("Acme XR-200 Blender, 1200W, 64 oz", {"xr200"}),
        ("Sony WH-1000XM5 Wireless Noise Canceling Headphones", {"wh1000xm5"}),
        # features and figures are not model codes
        ("Wireless Earbuds IPX7 40H 10000mAh 4K 1080p USB-C 3-in-1 2nd Gen", set()),
        ("Phone Case B0CXYZ1234 50x60 Inch", set()),
    ],
)
def test_model_codes(title, codes):
    assert product_terms(title).codes == codes


def test_a_code_after_for_is_what_it_fits():
    terms = product_terms("Replacement Filter for Dyson V8 Cordless Vacuum, 2 Pack")
    assert terms.codes == set() and terms.compat_codes == {"v8"}


# ---------------------------------------------------------------- tricky pairs (Sonvik)


@pytest.mark.parametrize(
    "listing",
    [
        # cut at 80, brand stripped
        "Q47 Wireless Earbuds with Charging Case, Bluetooth 5.3 Headphones, 40H Playtime",
        # brand and model code stripped, filler and punctuation dropped
        "Wireless Earbuds Charging Case Bluetooth 5.3 Headphones 40H Playtime IPX7",
        # decorated
        "NEW Wireless Earbuds Charging Case Bluetooth 5.3 Headphones Fast Free Shipping",
        # reordered, a feature dropped
        "Wireless Earbuds IPX7 Waterproof Bluetooth 5.3 Headphones Charging Case 40H",
        # the brand kept, lower case
        "sonvik q47 wireless earbuds with charging case bluetooth 5.3 headphones 40h",
    ],
)
def test_copies_match(sonvik, listing):
    assert len(listing) <= 80
    assert listing_match(sonvik, listing) >= T


@pytest.mark.parametrize(
    "listing",
    [
        # look-alike of another brand sharing the noun phrase and features
        "TOZO T6 Wireless Earbuds Bluetooth 5.3 Headphones IPX8 Waterproof 50H Playtime",
        "Soundcore Wireless Earbuds with Charging Case Bluetooth 5.3 Headphones IPX7",
        # no brand, but its own figures
        "Wireless Earbuds Bluetooth 5.3 Headphones Waterproof 60H Playtime Charging Case",
        # only the generic noun phrase shared
        "Wireless Earbuds",
        "Wireless Earbuds Bluetooth",
        # an ordinary seller's own title for the same product
        "Sonvik Q47 Earbuds Black",
        # a colour variant: another ASIN's copy
        "Wireless Earbuds with Charging Case Bluetooth 5.3 Headphones 40H Playtime White",
        # a completely different product
        "Stainless Steel Insulated Water Bottle 32 oz with Straw Lid",
        "",
        "NEW Fast Free Shipping US Seller",
    ],
)
def test_non_copies_do_not_match(sonvik, listing):
    assert listing_match(sonvik, listing) < T


def test_the_same_model_code_is_strong_evidence(sonvik):
    with_code = "Q47 Wireless Earbuds Bluetooth Headphones"
    without = "Wireless Earbuds Bluetooth Headphones"
    assert listing_match(sonvik, with_code) > listing_match(sonvik, without)


def test_another_model_code_is_counter_evidence(sonvik):
    mine = "Wireless Earbuds with Charging Case Bluetooth 5.3 Headphones 40H Playtime IPX7"
    other = "X9 Wireless Earbuds with Charging Case Bluetooth 5.3 Headphones 40H Playtime IPX7"
    assert listing_match(sonvik, mine) >= T > listing_match(sonvik, other)


def test_another_brand_word_is_counter_evidence(sonvik):
    mine = "Wireless Earbuds with Charging Case Bluetooth 5.3 Headphones Sport Earphones"
    assert listing_match(sonvik, "Jabrix " + mine) < listing_match(sonvik, mine)


# ---------------------------------------------------------------- variants (documented choice)


@pytest.mark.parametrize(
    "title,copy,variant",
    [
        (
            "Chuckit! Ultra Ball Dog Toy, Medium (2.5 Inch Diameter) Pack of 2,"
            " for breeds 20-60 lbs",
            "Ultra Ball Dog Toy Medium 2.5 Inch Diameter Pack of 2 for breeds 20-60 lbs",
            "Ultra Ball Dog Toy Medium 2.5 Inch Diameter 4 Pack for breeds 20-60 lbs",
        ),
        (
            "Kasa Smart Plug HS103P4, Smart Home Wi-Fi Outlet Works with Alexa, 2-Pack",
            "Smart Plug HS103P4 Smart Home Wi-Fi Outlet Works with Alexa 2 Pack",
            "Smart Plug HS103P4 Smart Home Wi-Fi Outlet Works with Alexa 4-Pack",
        ),
        (
            "Stanley Quencher H2.0 FlowState Stainless Steel Vacuum Insulated Tumbler, 40 oz",
            "Quencher H2.0 FlowState Stainless Steel Vacuum Insulated Tumbler 40oz",
            "Quencher H2.0 FlowState Stainless Steel Vacuum Insulated Tumbler 30 oz",
        ),
        (
            "Carhartt Men's Knit Cuffed Beanie, Black, One Size",
            "Men's Knit Cuffed Beanie Black One Size",
            "Men's Knit Cuffed Beanie Brown One Size",
        ),
    ],
)
def test_a_variant_of_size_pack_or_colour_is_not_a_copy_of_this_asin(title, copy, variant):
    terms = product_terms(title)
    assert listing_match(terms, copy) >= T
    assert listing_match(terms, variant) < T


def test_a_figure_cut_off_is_no_evidence_either_way():
    terms = product_terms(
        "Kasa Smart Plug HS103P4, Smart Home Wi-Fi Outlet Works with "
        "Alexa, Echo, Google Home & IFTTT, No Hub Required, 4-Pack"
    )
    assert (
        listing_match(
            terms, "Smart Plug Smart Home Wi-Fi Outlet Works with Alexa Echo Google Home IFTTT"
        )
        >= T
    )


# ---------------------------------------------------------------- the corpus


def _rate(kind):
    pairs = [(product_terms(p["title"]), listing) for p in PRODUCTS for listing in p[kind]]
    hits = [listing_match(terms, listing) >= T for terms, listing in pairs]
    return sum(hits) / len(hits), [
        listing for (_, listing), h in zip(pairs, hits, strict=True) if h != (kind == "copies")
    ]


def test_corpus_copies_match():
    rate, misses = _rate("copies")
    assert rate >= 0.95, misses


@pytest.mark.parametrize("kind,most", [("lookalikes", 0.05), ("own", 0.0), ("variants", 0.0)])
def test_corpus_non_copies_do_not_match(kind, most):
    rate, wrong = _rate(kind)
    assert rate <= most, wrong


def test_unrelated_listings_never_match():
    for p in PRODUCTS:
        terms = product_terms(p["title"])
        for listing in UNRELATED:
            assert listing_match(terms, listing) < 30, (p["title"], listing)


@pytest.mark.parametrize("habit", sorted(HABITS))
def test_generated_copies_match(habit):
    edit = HABITS[habit]
    scores = [listing_match(product_terms(p["title"]), edit(p["title"])) for p in PRODUCTS]
    assert sum(s >= T for s in scores) / len(scores) >= 0.9, (habit, scores)


def test_the_exact_title_matches_every_product():
    for p in PRODUCTS:
        assert listing_match(product_terms(p["title"]), p["title"][:80]) >= T, p["title"]


# ---------------------------------------------------------------- robustness


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\x00",
        "🔥" * 1000,
        "<script>x</script>",
        "a" * 100_000,
        ",,,",
        None,
        "   ",
        "Sonvik " * 20_000,
        "&amp;" * 1000,
    ],
)
def test_hostile_text_never_raises(sonvik, text):
    score = listing_match(sonvik, text)
    assert 0.0 <= score <= 100.0
    terms = product_terms(text)
    assert 0.0 <= listing_match(terms, "Wireless Earbuds") <= 100.0


def test_an_unusable_product_matches_nothing():
    assert listing_match(product_terms(""), "Wireless Earbuds") == 0.0


def test_score_is_bounded_and_rounded(sonvik):
    for p in PRODUCTS:
        for listing in p["copies"] + p["lookalikes"]:
            s = listing_match(sonvik, listing)
            assert 0.0 <= s <= 100.0 and s == round(s, 2)
