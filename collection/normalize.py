"""The one place where a seller username becomes its dedupe key."""

import unicodedata


def seller_key(username: str) -> str:
    """Normalize a seller username for deduplication.

    Unicode NFKC (full-width and compatibility forms fold to their plain letters), case
    folding (stronger than lower(): ß → ss), trimmed, inner whitespace collapsed to one
    space. NUL and other control characters are dropped: they are never meaningful in a
    username and PostgreSQL rejects NUL in text.
    """
    text = unicodedata.normalize("NFKC", username)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cc" or ch.isspace())
    text = unicodedata.normalize("NFKC", text.casefold())
    return " ".join(text.split())
