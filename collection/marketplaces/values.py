"""Pure parsers for the untrusted scalars that marketplaces send.

Every function takes whatever the wire gave (number, string, None, garbage) and returns a
clean typed value or ``None``; none of them raises. They only ever look at one short field,
never at a whole document.

Prices are parsed exactly: ``29.99`` (a JSON number) is ``Decimal("29.99")``, ``25`` is
twenty-five dollars (never 0.25: integers are not cents), ``"$1,299.99"`` is
``Decimal("1299.99")``. Missing, zero, negative, non-finite and absurd prices are unusable
and come back as ``None``.
"""

from __future__ import annotations

import functools
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from urllib.parse import urljoin, urlsplit

# Above this a "price" is a parsing accident or hostile data, not a product we can resell.
MAX_PRICE = Decimal("1000000")
CENT = Decimal("0.01")

# Scraped text is capped before it reaches the database or a page.
MAX_TITLE_LENGTH = 1000
MAX_USERNAME_LENGTH = 255
MAX_URL_LENGTH = 2000
MAX_ITEM_ID_LENGTH = 100

_MAX_SCALAR_CHARS = 64  # a price/count string longer than this is not a price/count

# A whole price string: optional currency (code and/or symbol), one number with optional
# US thousands separators and decimals, optionally a range ("- $24.99", "to $20.00"),
# optionally a trailing currency code. Anything else ("1e400", "Free", "12 abc") is not a
# price.
_CURRENCY_PREFIX = r"(?:[A-Z]{1,3}\s?)?[$£€]?\s*"
_US_NUMBER = re.compile(
    r"^" + _CURRENCY_PREFIX + r"(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?"
    r"(?:\s*(?:-|–|to)\s*" + _CURRENCY_PREFIX + r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)?"
    r"(?:\s*[A-Z]{3})?$"
)
# European form used by some non-.com pages: 1.299,99
_PLAIN_NUMBER = re.compile(r"^\d{1,15}(?:\.\d{1,15})?$")
_EU_NUMBER = re.compile(r"^(\d{1,3}(?:\.\d{3})+|\d+),(\d{1,2})$")
_COUNT = re.compile(r"^\(?\s*(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*([KkMm])?\s*\)?$")
_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%?")

_CURRENCY_SYMBOLS = (
    ("US $", "USD"),
    ("C $", "CAD"),
    ("AU $", "AUD"),
    ("$", "USD"),
    ("£", "GBP"),
    ("€", "EUR"),
    ("EUR", "EUR"),
    ("GBP", "GBP"),
    ("USD", "USD"),
)

_URL_CONTROL = re.compile(r"[\x00-\x20\x7f]")
_SAFE_ABSOLUTE_URL = re.compile(
    r"^https?://[A-Za-z0-9.\-]+(?::\d{1,5})?(?:[/?#][^\x00-\x20\x7f]*)?$"
)
# C0 and C1 control characters (NUL included) become spaces; whitespace is then collapsed.
_CONTROL_TO_SPACE = {code: " " for code in (*range(0, 32), *range(127, 160))}


def _finite_decimal(value: object) -> Decimal | None:
    if isinstance(value, bool):  # bool is an int: True is not a price
        return None
    try:
        if isinstance(value, int):
            number = Decimal(value)
        elif isinstance(value, float):
            number = Decimal(repr(value))  # shortest round-trip form: 29.99, not 29.98999…
        elif isinstance(value, Decimal):
            number = value
        else:
            return None
    except (InvalidOperation, ValueError, OverflowError):
        return None
    return number if number.is_finite() else None


def _decimal_from_text(text: str) -> Decimal | None:
    text = text.strip()
    if not text or len(text) > _MAX_SCALAR_CHARS:
        return None
    if _PLAIN_NUMBER.match(text):  # the common case, eBay's "59.99"
        return Decimal(text)
    eu = _EU_NUMBER.match(text.lstrip("€£$ ").rstrip("€£$ "))
    if eu:
        try:
            return Decimal(eu.group(1).replace(".", "") + "." + eu.group(2))
        except InvalidOperation:
            return None
    match = _US_NUMBER.match(text)  # "-5.00" and "$-5" do not match: negative
    if not match:
        return None
    try:
        return Decimal(match.group(1).replace(",", "") + (match.group(2) or ""))
    except InvalidOperation:
        return None


def parse_price(value: object) -> Decimal | None:
    """A usable price (> 0, <= MAX_PRICE, rounded to cents) or None.

    Strings may carry a currency ("$1,299.99", "US $59.99", "USD 12") or be a range
    ("$12.99 - $24.99", "$10.00 to $20.00"): the first (lowest) price is taken.
    """
    number = _decimal_from_text(value) if isinstance(value, str) else _finite_decimal(value)
    if number is None or number <= 0 or number > MAX_PRICE:
        return None
    if number.as_tuple().exponent < -2:  # type: ignore[operator]
        number = number.quantize(CENT, rounding=ROUND_HALF_UP)
        if number <= 0:
            return None
    return number


def currency_from_text(text: object, default: str = "USD") -> str:
    """The currency of a price string by its symbol or code ("C $12" → CAD)."""
    if isinstance(text, str):
        head = text.strip()[:8]
        for symbol, code in _CURRENCY_SYMBOLS:
            if head.startswith(symbol):
                return code
        if _ISO_CODE.match(head[:3]) and (len(head) == 3 or not head[3].isalpha()):
            return head[:3]  # "KRW83,569.98", "ILS 138.31": never the default
    return default


def clean_currency(value: object, default: str = "USD") -> str:
    if value == default:  # the common case: "USD" for "USD"
        return default
    if isinstance(value, str):
        code = value.strip().upper()
        if len(code) == 3 and code.isascii() and code.isalpha():
            return code
        return currency_from_text(value, default)
    return default


# Money in page text, with its currency: "$59.99", "US $59.99", "C $15.00", "£12.99",
# "KRW83,569.98", "EUR 19,75 bis EUR 20,80", "19,75 €", "ILS 138.31". A price whose
# currency cannot be told ("RM 12.00", "¥1,200": yen or yuan?) has no usable value.
_MONEY_SYMBOLS = {
    "$": "USD",
    "US $": "USD",
    "US$": "USD",
    "C $": "CAD",
    "C$": "CAD",
    "CA $": "CAD",
    "AU $": "AUD",
    "AU$": "AUD",
    "A $": "AUD",
    "NZ $": "NZD",
    "HK $": "HKD",
    "S $": "SGD",
    "£": "GBP",
    "€": "EUR",
    "₩": "KRW",
    "₹": "INR",
}
_MONEY_AMOUNT = (
    r"(?P<{n}pre>(?:[A-Z]{{1,3}}\s?)?[$£€¥₩₹]?)\s*"
    r"(?P<{n}num>\d[\d.,]*)\s*"
    r"(?P<{n}post>[A-Z]{{3}}|[$£€¥₩₹])?"
)
_MONEY = re.compile(
    r"^\+?"
    + _MONEY_AMOUNT.format(n="")
    + r"(?:\s*(?:-|–|to|bis|à|a|tot)\s*"
    + _MONEY_AMOUNT.format(n="hi_")
    + r")?$"
)
_MONEY_US = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")  # 1,299.99 / 59.99
_MONEY_EU = re.compile(r"^(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d{1,2})?$")  # 1.299,99 / 19,75
_ISO_CODE = re.compile(r"^[A-Z]{3}$")


def _money_currency(pre: str, post: str, default: str) -> str:
    """The ISO code of a price's markers; the page's ``default`` when it has none, ""
    when it has one we cannot tell."""
    codes = []
    for marker in (pre.strip(), (post or "").strip()):
        if not marker:
            continue
        code = _MONEY_SYMBOLS.get(marker) or (marker if _ISO_CODE.match(marker) else "")
        if not code:
            return ""
        codes.append(code)
    if not codes:
        return default
    return codes[0] if all(code == codes[0] for code in codes) else ""


def _money_number(text: str) -> Decimal | None:
    if _MONEY_US.match(text):
        return Decimal(text.replace(",", ""))
    if _MONEY_EU.match(text):
        return Decimal(text.replace(".", "").replace(",", "."))
    return None


@functools.lru_cache(maxsize=4096)
def _money_from_text(text: str, default: str) -> tuple[Decimal | None, str]:
    text = " ".join(text.split())
    if not text or len(text) > _MAX_SCALAR_CHARS:
        return None, default
    match = _MONEY.match(text)
    if not match:
        return None, currency_from_text(text, default)
    currency = _money_currency(match.group("pre"), match.group("post"), default)
    if not currency:
        return None, ""
    if match.group("hi_num") is not None:  # a range: both ends in the same currency
        high = _money_currency(match.group("hi_pre"), match.group("hi_post"), currency)
        if high != currency:
            return None, ""
    try:
        number = _money_number(match.group("num"))
    except InvalidOperation:
        return None, currency
    return (parse_price(number) if number is not None else None), currency


def parse_money(value: object, default: str = "USD") -> tuple[Decimal | None, str]:
    """A price shown on a page and its currency: ``(Decimal("83569.98"), "KRW")`` for
    "KRW83,569.98", ``(Decimal("19.75"), "EUR")`` for "EUR 19,75 bis EUR 20,80" (a
    range: the low end). A bare number is in ``default`` (the page's own currency). When
    the currency cannot be told the price is ``(None, "")``: never read as dollars."""
    if value.__class__ is not str:
        return None, default
    return _money_from_text(value, default)  # type: ignore[arg-type]


def parse_count(value: object) -> int | None:
    """A non-negative count: 460, "1,234", "(1,234)", "1.2K", "12.5k", "1M"."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if value == value and 0 <= value < 1e12 else None
    if not isinstance(value, str) or len(value) > _MAX_SCALAR_CHARS:
        return None
    match = _COUNT.match(value.strip())
    if not match:
        return None
    try:
        number = Decimal(match.group(1).replace(",", ""))
    except InvalidOperation:
        return None
    suffix = (match.group(2) or "").upper()
    if suffix == "K":
        number *= 1000
    elif suffix == "M":
        number *= 1_000_000
    elif number != number.to_integral_value():
        return None  # "12.5" without a suffix is not a count
    return int(number)


def _bounded_decimal(value: object, low: Decimal, high: Decimal) -> Decimal | None:
    if isinstance(value, str):
        if len(value) > _MAX_SCALAR_CHARS:
            return None
        match = _PERCENT.search(value)
        if not match:
            return None
        try:
            number: Decimal | None = Decimal(match.group(1))
        except InvalidOperation:
            return None
    else:
        number = _finite_decimal(value)
    if number is None or number < low or number > high:
        return None
    if number.as_tuple().exponent < -2:  # type: ignore[operator]
        number = number.quantize(CENT, rounding=ROUND_HALF_UP)
    return number


_PERCENT_LOW, _PERCENT_HIGH = Decimal(0), Decimal(100)


@functools.lru_cache(maxsize=4096)
def _percent_from_text(value: str) -> Decimal | None:
    return _bounded_decimal(value, _PERCENT_LOW, _PERCENT_HIGH)


def parse_percent(value: object) -> Decimal | None:
    """A feedback percentage in [0, 100]: "98.6", 98.6, "99.3%"."""
    if value.__class__ is str:  # a few hundred distinct values across a run: memoized
        return _percent_from_text(value)
    return _bounded_decimal(value, _PERCENT_LOW, _PERCENT_HIGH)


def parse_rating(value: object) -> Decimal | None:
    """A star rating in [0, 5]: 4.6, "4.6", "4.6 out of 5 stars"."""
    return _bounded_decimal(value, Decimal(0), Decimal(5))


def clean_text(value: object, max_length: int) -> str:
    """Scraped text made safe to store: controls (NUL too) removed, whitespace collapsed,
    length capped. Markup is left as text; escaping is the renderer's job.

    Text longer than ``max_length`` comes back exactly ``max_length`` long (never trimmed
    below it), so a caller asking for ``limit + 1`` characters can tell a value that is
    too long from one that fits.
    """
    if not isinstance(value, str):
        return ""
    text = value[: max_length * 4]  # bound the work on hostile 100 KB strings
    if not text.isprintable():  # controls (or other non-printables): the slow path
        text = text.translate(_CONTROL_TO_SPACE)
    text = " ".join(text.split())
    return text[:max_length]


def clean_url(value: object, base: str) -> str:
    """An absolute http(s) URL (relative ones joined to ``base``) or "" for anything else
    (javascript:, data:, over-long, unparsable)."""
    if not isinstance(value, str):
        return ""
    text = value.strip()
    if not text or len(text) > MAX_URL_LENGTH or _URL_CONTROL.search(text):
        return ""
    if _SAFE_ABSOLUTE_URL.match(text):  # the common case, without urllib's cost
        return text
    try:
        absolute = text if text.startswith(("https://", "http://")) else urljoin(base, text)
        parts = urlsplit(absolute)
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return ""
    return absolute if len(absolute) <= MAX_URL_LENGTH else ""
