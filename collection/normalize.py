"""The one place where a seller username becomes its dedupe key."""

import re
import unicodedata

# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): characters that
# display as nothing — zero-width space and joiners, soft hyphen, bidi marks, BOM, word
# joiner, variation selectors, tags. "Acme\u200bDeals" looks exactly like "AcmeDeals";
# NFKC_Casefold, the identifier normalization, removes them as well.
_IGNORABLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)


def seller_key(username: str) -> str:
    """Normalize a seller username for deduplication.

    Unicode NFKC (full-width and compatibility forms fold to their plain letters), case
    folding (stronger than lower(): ß → ss), trimmed, inner whitespace collapsed to one
    space. NUL and other control characters are dropped: they are never meaningful in a
    username and PostgreSQL rejects NUL in text. Invisible (default-ignorable) characters
    are dropped too. Letters of other scripts that merely look alike (Cyrillic а for a
    Latin a) are kept: that is another account.

    The store calls this for every name of a batch: printable ASCII (most names) takes a
    fast path with the same result (NFKC is the identity there, casefold is lower(), and
    there are no controls or invisible characters; a test checks the equivalence).
    """
    if username.isascii() and username.isprintable():
        return " ".join(username.lower().split())
    return seller_key_unicode(username)


def seller_key_unicode(username: str) -> str:
    """``seller_key`` without its ASCII fast path (every name could take this one)."""
    text = unicodedata.normalize("NFKC", username)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cc" or ch.isspace())
    text = unicodedata.normalize("NFKC", _IGNORABLE.sub("", text).casefold())
    return " ".join(_IGNORABLE.sub("", text).split())
