import re

import pytest

from collection.matching import TOO_LITTLE, product_terms, search_queries
from collection.matching.queries import GROUP_WORDS, MAX_WORDS

from .corpus import PRODUCTS
from .edits import HABITS, cut80

TITLES = [p["title"] for p in PRODUCTS]
SONVIK = PRODUCTS[0]["title"]


def words_of(text: str) -> set[str]:
    """The words eBay would see in a title (case- and punctuation-insensitive)."""
    return set(re.findall(r"[^\W_]+", text.lower().replace("'", "").replace("’", "")))


def query_words(query: str) -> list[str]:
    return re.findall(r"[^\W_]+", query)


def plain_and_groups(query: str) -> tuple[list[str], list[list[str]]]:
    groups = [g.split(", ") for g in re.findall(r"\(([^)]*)\)", query)]
    return re.sub(r"\([^)]*\)", " ", query).split(), groups


def matches(query: str, title: str) -> bool:
    """Browse semantics: every word, and at least one word of each (a, b) group."""
    have = words_of(title)
    groups = re.findall(r"\(([^)]*)\)", query)
    plain = re.sub(r"\([^)]*\)", " ", query).split()
    return all(w in have for w in plain) and all(
        any(w.strip() in have for w in g.split(",")) for g in groups
    )


def test_sonvik_example():
    queries = search_queries(SONVIK)
    # the product phrase, narrowed by any one of the next words
    assert queries[0] == "wireless earbuds (bluetooth, headphones, charging)"
    assert queries[1] == "q47 earbuds"  # the model code with the product noun


@pytest.mark.parametrize("title", TITLES)
def test_queries_are_short_and_from_the_title(title):
    queries = search_queries(title)
    assert 1 <= len(queries) <= 2
    assert len(set(queries)) == len(queries)
    title_words = words_of(title)
    for q in queries:
        plain, groups = plain_and_groups(q)
        assert 1 <= len(plain) <= MAX_WORDS and len(groups) <= 1
        assert all(2 <= len(g) <= GROUP_WORDS for g in groups), q
        assert all(w in title_words for w in query_words(q)), (q, title)
        assert q == q.lower()


@pytest.mark.parametrize("title", TITLES)
def test_deterministic_and_pure(title):
    assert search_queries(title) == search_queries(title) == search_queries(str(title))


@pytest.mark.parametrize("title", TITLES)
def test_brand_is_optional(title):
    brand = set(product_terms(title).brand)
    assert not brand & set(query_words(search_queries(title)[0])), title


def test_a_known_brand_is_left_out():
    q = search_queries(
        "Utopia Kitchen Cast Iron Skillet 12 Inch Pre-Seasoned Frying Pan", brand="Utopia Kitchen"
    )[0]
    assert "utopia" not in q and "kitchen" not in q
    assert q.startswith("cast iron skillet")


def test_limit():
    assert search_queries(SONVIK, limit=0) == ()
    assert len(search_queries(SONVIK, limit=1)) == 1
    more = search_queries(SONVIK, limit=5)
    assert more[:2] == search_queries(SONVIK)
    assert "sonvik q47" in more


def test_no_filler_colour_decoration_or_figures():
    q = search_queries(
        "[2024 Upgraded] Wireless Earbuds with Charging Case for iPhone, Black, 2 Pack, 40H"
    )[0]
    for word in ("new", "2024", "with", "for", "black", "2", "pack", "40h"):
        assert word not in query_words(q)
    assert q.startswith("wireless earbuds")


def test_hyphenated_pieces_are_not_query_words():
    q = search_queries("Hamilton Beach 2-Slice Toaster with Extra-Wide Slots, Bagel Setting")[0]
    assert "slice" not in q and "extra" not in q and "wide" not in q


@pytest.mark.parametrize(
    "title",
    [
        "",
        "   ",
        "\x00\x00",
        ",,,;;;---!!!",
        "🔥🔥🔥 ✨",
        "<script>alert(1)</script>",
        "&amp;&lt;&gt;",
        "(((((",
        "-",
        "()",
        "a" * 100_000,
        "Sonvik " * 20_000,
        "\x00Sonvik\x00 Q47\x00 Wireless\x00 Earbuds",
        "<b>Sonvik</b> Q47 Wireless Earbuds",
        "🎧 Sonvik Q47 Wireless Earbuds 🎧",
        "ＳＯＮＶＩＫ　Ｑ４７　Ｗｉｒｅｌｅｓｓ　Ｅａｒｂｕｄｓ",
        "1234 5678",
        "B0CXYZ1234",
        "Wireless, Earbuds",
        None,
    ],
)
def test_hostile_input_never_raises(title):
    queries = search_queries(title)
    assert isinstance(queries, tuple)
    for q in queries:
        assert 1 <= len(query_words(q)) <= MAX_WORDS + GROUP_WORDS
        assert len(q) <= 200
        assert "\x00" not in q and "<" not in q and "-" not in q.replace(" ", "")[:1]


@pytest.mark.parametrize("title", ["", "\x00", ",,,", "🔥", "<br>", "1234", "with for and"])
def test_an_unusable_title_gives_no_query(title):
    assert search_queries(title) == ()


def test_markup_and_wide_forms_are_read_as_text():
    assert search_queries("<b>Sonvik</b> Q47 Wireless Earbuds")[0] == "wireless earbuds"
    assert (
        search_queries("ＳＯＮＶＩＫ　Ｑ４７　Ｗｉｒｅｌｅｓｓ　Ｅａｒｂｕｄｓ")[0]
        == "wireless earbuds"
    )
    assert search_queries("Sonvik&#39;s Q47 Wireless Earbuds &amp; Case")[0] == (
        "wireless earbuds case"
    )


def test_query_one_matches_the_hand_written_copies():
    copies = [(p["title"], c) for p in PRODUCTS for c in p["copies"]]
    found = [matches(search_queries(t)[0], c) for t, c in copies]
    assert sum(found) / len(found) >= 0.9, [
        c for (t, c), ok in zip(copies, found, strict=True) if not ok
    ]


def test_one_of_the_two_queries_matches_nearly_every_copy():
    copies = [(p["title"], c) for p in PRODUCTS for c in p["copies"]]
    found = [any(matches(q, c) for q in search_queries(t)) for t, c in copies]
    assert sum(found) / len(found) >= 0.95


@pytest.mark.parametrize("habit", sorted(HABITS))
def test_query_one_survives_each_edit(habit):
    edit = HABITS[habit]
    found = []
    for title in TITLES:
        copy = edit(title)
        assert len(copy) <= 80
        found.append(matches(search_queries(title)[0], copy))
    assert sum(found) / len(found) >= 0.9, habit


def test_a_product_line_next_to_the_brand_is_dropped_in_query_two():
    title = (
        "Stanley Quencher H2.0 FlowState Stainless Steel Vacuum Insulated Tumbler "
        "with Lid and Straw, 40 oz"
    )
    assert search_queries(title) == ("flowstate stainless steel vacuum", "stainless steel vacuum")


def test_cut_at_80_keeps_the_query():
    copy = cut80(SONVIK)
    assert len(copy) <= 80 and matches(search_queries(SONVIK)[0], copy)


def test_too_little_is_a_small_count():
    assert 1 <= TOO_LITTLE <= 10
