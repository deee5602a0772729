"""Title text → words, the way eBay's search sees them (case- and punctuation-insensitive).

Pure and defensive: any str (NUL, markup, emoji, 100 KB) gives a bounded result, never
an exception. Only the first MAX_CHARS characters of a title are read: Amazon titles stop
at 200 and eBay titles at 80, so anything longer is junk.
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import NamedTuple

from ._words import GENERIC_CODES, UNITS

MAX_CHARS = 400

_TAG = re.compile(r"<[^<>]{0,200}>")
_APOSTROPHE = re.compile(r"(?<=\w)['’`´](?=\w)")
# Segment boundaries: commas and brackets, and a dash or slash standing between spaces.
_SEGMENT = re.compile(r"[,;|()\[\]{}:•·]+|\s[-–—/~+]+\s|\s[–—]|[–—]\s|\s-(?=\D)")
# A compound: letters/digits joined by - . / (XR-200, 5.3, USB-C, 2-Pack).
_COMPOUND = re.compile(r"[^\W_]+(?:[-./][^\W_]+)*")
_PART = re.compile(r"[^\W_]+")
_HAS_DIGIT = re.compile(r"\d")
_HAS_ALPHA = re.compile(r"[^\W\d_]")
_NUMBER = re.compile(r"^\d+$")
# "40h", "10000mah", "1080p", "2pack", "16oz": a number fused with a unit.
_SPEC = re.compile(r"^(\d+(?:\.\d+)?)([a-z]{1,8})$")
_DIMENSION = re.compile(r"^\d+(?:\.\d+)?x\d+(?:\.\d+)?(?:x\d+(?:\.\d+)?)?[a-z]{0,6}$")
_ASIN = re.compile(r"^b0[a-z0-9]{8}$")


def _prepare(text: object) -> str:
    """NFKC, markup and control characters gone, apostrophes joined; case kept."""
    if not isinstance(text, str):
        return ""
    text = text[: MAX_CHARS * 4]
    if "&" in text:
        text = html.unescape(text)
    if "<" in text:
        text = _TAG.sub(" ", text)
    text = text[: MAX_CHARS * 2]
    if not text.isascii():  # ASCII is its own NFKC form
        text = unicodedata.normalize("NFKC", text)
    text = text[:MAX_CHARS]
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else " " for ch in text)
    if text.isascii() and "'" not in text and "`" not in text:
        return text  # no apostrophe to join (the others are not ASCII)
    return _APOSTROPHE.sub("", text)


def clean(text: object) -> str:
    """Lower-cased, NFKC, markup and control characters gone, apostrophes joined."""
    return _prepare(text).lower()


def stem(word: str) -> str:
    """Singular form for comparison only ("earbuds" = "earbud", "boxes" stays "boxe")."""
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    """The words of an already cleaned text, punctuation-insensitive, stemmed."""
    return [stem(w) for w in _PART.findall(text)]


def squash(compound: str) -> str:
    """ "XR-200" → "xr200" (a compound's letters and digits only)."""
    return compound.replace("-", "").replace(".", "").replace("/", "")


def is_code(squashed: str) -> bool:
    """A model code: letters and digits mixed (Q47, XR200, WH1000XM5), not a spec."""
    if not (2 <= len(squashed) <= 20):
        return False
    if not (_HAS_DIGIT.search(squashed) and _HAS_ALPHA.search(squashed)):
        return False
    if squashed in GENERIC_CODES or _ASIN.match(squashed) or _DIMENSION.match(squashed):
        return False
    spec = _SPEC.match(squashed)
    if spec and (spec.group(2) in UNITS or len(spec.group(2)) <= 3):
        return False
    return True


def spec_of(number: str, unit: str) -> tuple[str, str] | None:
    family = UNITS.get(unit)
    if family is None:
        return None
    try:
        value = float(number)
    except ValueError:
        return None
    return (family, f"{value:g}")


class Token(NamedTuple):
    word: str  # cleaned, stemmed
    text: str  # cleaned, as written (lower case): what a query sends
    raw: str  # as written (original case), for the brand guess
    segment: int  # 0 = the product phrase, then each comma-separated feature phrase
    offset: int  # character offset in the cleaned title
    clean: bool  # a whole word (not a piece of XR-200 / 5.3 / USB-C): safe in a query
    compound: str  # squashed compound it belongs to ("xr200"), or the word itself


def tokenize(title: object) -> tuple[str, list[Token]]:
    """Cleaned text and its tokens, with segment and position."""
    raw_text = _prepare(title)
    text = raw_text.lower()
    if len(text) != len(raw_text):  # a rare letter whose lower case is longer
        raw_text = ""
    tokens: list[Token] = []
    seg = 0
    pos = 0
    bounds = [m.span() for m in _SEGMENT.finditer(text)]
    bounds.append((len(text), len(text)))
    for start, end in bounds:
        chunk = text[pos:start]
        added = False
        for m in _COMPOUND.finditer(chunk):
            comp = m.group(0)
            if comp.isalnum():  # one word, the common case: its own compound
                off = pos + m.start()
                raw = raw_text[off : off + len(comp)] if raw_text else comp
                tokens.append(Token(stem(comp), comp, raw, seg, off, True, comp))
                added = True
                continue
            parts = list(_PART.finditer(comp))
            squashed = "".join(p.group(0) for p in parts)
            for p in parts:
                off = pos + m.start() + p.start()
                raw = raw_text[off : off + len(p.group(0))] if raw_text else p.group(0)
                word = p.group(0)
                tokens.append(Token(stem(word), word, raw, seg, off, len(parts) == 1, squashed))
                added = True
        if added:
            seg += 1
        pos = end
    return text, tokens


# "16 oz", "2-Pack", "40H", "10000mAh", "12.5 inch"; and "Pack of 4", "Set of 6".
_NUM_UNIT = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)?)\s*-?\s*([a-z]+)\b")
_IN_ONE = re.compile(r"\s*-?\s*\d")  # "3 in 1" is not three inches
_UNIT_OF = re.compile(r"\b(pack|set|box|case|bundle|lot|count|pk)\s+of\s+(\d+)\b")


def specs(text: str) -> frozenset[tuple[str, str]]:
    """(unit family, value) pairs a cleaned title states: ("pack", "2"), ("oz", "16")."""
    found = set()
    for m in _NUM_UNIT.finditer(text):
        number, unit = m.groups()
        if unit == "in" and _IN_ONE.match(text, m.end()):
            continue
        spec = spec_of(number.replace(",", "."), unit)
        if spec is not None:
            found.add(spec)
    if "of" in text:  # "Pack of 4" (the regex's scan of a whole title is not cheap)
        for _, number in _UNIT_OF.findall(text):
            found.add(("pack", f"{float(number):g}"))
    return frozenset(found)
