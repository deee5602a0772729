"""Template filters of the operator pages: links out and numbers as operators read them."""

from __future__ import annotations

from django import template

from activity import links

register = template.Library()

register.filter("ebay_item_url", links.ebay_item_url)
register.filter("ebay_store_url", links.ebay_store_url)
register.filter("ebay_feedback_url", links.ebay_feedback_url)
register.filter("amazon_product_url", links.amazon_product_url)


@register.filter
def percent(value, places: int = 0) -> str:
    """A signed percentage (``+96 %``), or an en dash when unknown."""
    if value is None or value == "":
        return "–"
    return f"{float(value):+.{int(places)}f} %"


@register.filter
def money(value, currency: str = "USD") -> str:
    if value is None or value == "":
        return "–"
    symbol = "$" if (currency or "USD") == "USD" else f"{currency} "
    return f"{symbol}{value:,.2f}"


@register.filter
def duration(seconds) -> str:
    """``1 h 04 min``, ``3 min 20 s``, ``12 s``; an en dash when unknown."""
    if seconds is None:
        return "–"
    seconds = round(float(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


@register.filter
def rate(per_second) -> str:
    """Tasks per second, or per minute below one a second (``static/activity/progress.js``)."""
    if not per_second:
        return "–"
    per_second = float(per_second)
    if per_second >= 1:
        return f"{per_second:.1f} tasks/s"
    return f"{per_second * 60:.1f} tasks/min"
