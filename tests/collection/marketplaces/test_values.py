"""Scalar parsing of untrusted marketplace values."""

from decimal import Decimal

import pytest

from collection.marketplaces.values import (
    clean_currency,
    clean_text,
    clean_url,
    currency_from_text,
    parse_count,
    parse_money,
    parse_percent,
    parse_price,
    parse_rating,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (29.99, Decimal("29.99")),  # a JSON float: exact, not 29.989999…
        (0.1, Decimal("0.1")),
        (25, Decimal("25")),  # an integer is dollars, never cents
        (1299, Decimal("1299")),
        ("$1,299.99", Decimal("1299.99")),
        ("US $59.99", Decimal("59.99")),
        ("USD 12", Decimal("12")),
        ("12.50 USD", Decimal("12.50")),
        ("$12.99 - $19.99", Decimal("12.99")),  # a range: the low end
        ("$10.00 to $20.00", Decimal("10.00")),
        ("€12,50", Decimal("12.50")),
        ("1.299,99", Decimal("1299.99")),
        ("12.345", Decimal("12.35")),  # more than cents: rounded half-up
        (Decimal("7.5"), Decimal("7.5")),
        (1_000_000, Decimal("1000000")),
    ],
)
def test_usable_prices_parse_exactly(raw, expected):
    price = parse_price(raw)
    assert price == expected
    assert isinstance(price, Decimal)


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "Free",
        "N/A",
        0,
        0.0,
        "$0.00",
        -3.5,
        "-5.00",
        "$-5",
        True,
        False,
        float("nan"),
        float("inf"),
        "NaN",
        "1e400",
        1e15,
        "$9,999,999,999.99",
        1_000_000.01,
        "1,2345.00",
        "12 abc",
        "$" + "9" * 80,
        [],
        {},
        0.001,
    ],
)
def test_missing_zero_negative_absurd_or_garbage_prices_are_unusable(raw):
    assert parse_price(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (460, 460),
        ("460", 460),
        ("(460)", 460),
        ("1,234", 1234),
        ("12,345", 12345),
        ("1.2K", 1200),
        ("1.2k", 1200),
        ("12.5K", 12500),
        ("999K", 999000),
        ("1M", 1_000_000),
        ("2.5M", 2_500_000),
        (12.0, 12),
    ],
)
def test_counts_including_abbreviations(raw, expected):
    assert parse_count(raw) == expected


@pytest.mark.parametrize("raw", [None, -4, "-4", "12.5", "abc", "1.2X", True, "", "1,23"])
def test_bad_counts(raw):
    assert parse_count(raw) is None


def test_percent_and_rating():
    assert parse_percent("98.6") == Decimal("98.6")
    assert parse_percent("99.3%") == Decimal("99.3")
    assert parse_percent(100) == Decimal("100")
    assert parse_percent("100.0") == Decimal("100.0")
    assert parse_percent("101") is None
    assert parse_percent(None) is None
    assert parse_rating("4.5 out of 5 stars") == Decimal("4.5")
    assert parse_rating(4.567) == Decimal("4.57")
    assert parse_rating(9.9) is None


def test_currencies():
    assert currency_from_text("C $12.00") == "CAD"
    assert currency_from_text("£3") == "GBP"
    assert currency_from_text("$3") == "USD"
    assert currency_from_text("12", "EUR") == "EUR"
    assert clean_currency("usd") == "USD"
    assert clean_currency("<script>", "USD") == "USD"
    assert clean_currency(None, "GBP") == "GBP"


def test_clean_text_removes_controls_and_caps_length():
    assert clean_text("  Sonvik\x00 Q47  <b>Earbuds</b>\n\t ", 100) == "Sonvik Q47 <b>Earbuds</b>"
    assert clean_text("x" * 100_000, 1000) == "x" * 1000
    assert clean_text(None, 10) == ""
    assert clean_text(12, 10) == ""


def test_clean_url_keeps_http_only():
    assert clean_url("/dp/B0ABC", "https://www.amazon.com") == "https://www.amazon.com/dp/B0ABC"
    assert clean_url("https://www.ebay.com/itm/1", "https://x") == "https://www.ebay.com/itm/1"
    assert clean_url("javascript:alert(1)", "https://x") == ""
    assert clean_url("data:text/html,hi", "https://x") == ""
    assert clean_url("https://user:pw@evil.example/", "https://x") == ""
    assert clean_url("https://x/" + "a" * 3000, "https://x") == ""


@pytest.mark.parametrize(
    ("raw", "price", "currency"),
    [
        ("$59.99", "59.99", "USD"),
        ("US $1,299.99", "1299.99", "USD"),
        ("$330.00 to $345.00", "330.00", "USD"),
        ("C $15.00", "15.00", "CAD"),
        ("£12.99", "12.99", "GBP"),
        ("KRW83,569.98", "83569.98", "KRW"),
        ("83,569.98 KRW", "83569.98", "KRW"),
        ("EUR 19,75 bis EUR 20,80", "19.75", "EUR"),
        ("EUR 1.299,99", "1299.99", "EUR"),
        ("19,75 €", "19.75", "EUR"),
        ("PHP 1,234.00", "1234.00", "PHP"),
        ("59.99", "59.99", "USD"),  # bare: the page's currency
        ("RM 12.00", None, ""),  # a marker we cannot tell
        ("¥1,200", None, ""),
        ("$12.99 - EUR 20,00", None, ""),  # a range across currencies
        ("EUR 0,00", None, "EUR"),
        ("Free", None, "USD"),
        (None, None, "USD"),
    ],
)
def test_money_keeps_its_own_currency(raw, price, currency):
    assert parse_money(raw) == ((Decimal(price) if price else None), currency)


def test_a_leading_iso_code_is_the_currency():
    assert currency_from_text("KRW83,569.98") == "KRW"
    assert currency_from_text("ILS 138.31") == "ILS"
    assert currency_from_text("Free", "USD") == "USD"
