"""Seller exports: CSV and JSON, streamed in constant memory, each one logged.

``sellers_export`` logs an ``exported`` change (who, which filters, how many rows) and
returns a generator of text chunks; rows come from the database in chunks through
``QuerySet.iterator`` and are written as they come, so a million sellers never sit in
memory. When the generator is exhausted the change is completed with the rows written.

CSV cells that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return) get a leading apostrophe (OWASP "CSV injection").
Only text cells are touched: numbers stay numbers.

The admin action and ``manage.py export_sellers`` both call ``sellers_export``, so they
write the same columns, and the same rows for the same filters: active sellers only,
unless soft-deleted ones are asked for explicitly (``include_deleted``); the
``deleted_at`` column says which rows are soft-deleted. Each row carries the evidence
behind the seller's score (products matched, median markup, copy share) and the score
explained in one line (``seller_why``).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from collection.matching.score import dropshipper_why
from collection.models import CollectionRun, Seller, SellerChange
from collection.selectors import sellers_export_queryset

logger = logging.getLogger(__name__)

COLUMNS = (
    "username",
    "normalized",
    "display_name",
    "feedback_score",
    "feedback_percent",
    "first_seen_at",
    "last_seen_at",
    "times_seen",
    "products_matched",
    "runs_seen",
    "median_markup_percent",
    "copy_share_percent",
    "score",
    "why",
    "flagged",
    "deleted_at",
)
# What is read from the database per row; the derived columns come from these.
FIELDS = (
    "username",
    "normalized",
    "display_name",
    "feedback_score",
    "feedback_percent",
    "first_seen_at",
    "last_seen_at",
    "times_seen",
    "products_matched",
    "runs_seen",
    "median_price_ratio",
    "copy_share",
    "score",
    "flagged",
    "deleted_at",
)
FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
ROWS_PER_QUERY = 2000
ROWS_PER_CHUNK = 500


class ExportError(Exception):
    """Bad export parameters, with a message fit for an operator."""


def csv_text(text: str) -> str:
    """A text cell neutralized against spreadsheet formula injection."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def markup_percent(price_ratio: float | None) -> float | None:
    """A price ratio (eBay ÷ Amazon) as a markup in percent, one decimal: 1.96 → 96.0."""
    return None if price_ratio is None else round((price_ratio - 1) * 100, 1)


def share_percent(share: float | None) -> float | None:
    return None if share is None else round(share * 100, 1)


def seller_why(*, products_matched: int, median_price_ratio, copy_share) -> str:
    """Why a seller scores what it does, in one line (exports and the admin seller page).

    The one place interfaces get it from (``collection.matching.score.dropshipper_why``).
    """
    return dropshipper_why(
        products_matched=products_matched or 0,
        median_price_ratio=median_price_ratio,
        copy_share=copy_share,
    )


def _csv_number(value):
    return "" if value is None else value


def _csv_time(value: dt.datetime | None) -> str:
    return "" if value is None else value.isoformat()


def _json_time(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _json_decimal(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _same(value):
    return value


# One converter per column (the column types are known: no per-cell type dispatch).
_CSV_CELLS: dict[str, Callable[[Any], str]] = {
    "username": csv_text,
    "normalized": csv_text,
    "display_name": csv_text,
    "why": csv_text,
    "first_seen_at": _csv_time,
    "last_seen_at": _csv_time,
    "deleted_at": _csv_time,
    "flagged": lambda value: "true" if value else "false",
}
_JSON_VALUES: dict[str, Callable[[Any], Any]] = {
    "feedback_percent": _json_decimal,
    "first_seen_at": _json_time,
    "last_seen_at": _json_time,
    "deleted_at": _json_time,
}
CSV_CONVERTERS = tuple(_CSV_CELLS.get(name, _csv_number) for name in COLUMNS)
JSON_CONVERTERS = tuple(_JSON_VALUES.get(name, _same) for name in COLUMNS)


class _Line:
    """A file-like object whose write() hands the CSV line back instead of storing it."""

    def write(self, value: str) -> str:
        return value


@dataclass(slots=True)
class SellerExport:
    """A started export: iterate ``chunks`` (once) to produce the file."""

    format: str
    content_type: str
    filename: str
    count: int
    change_id: int
    chunks: Iterator[str]


_RATIO, _SHARE = FIELDS.index("median_price_ratio"), FIELDS.index("copy_share")
_MATCHED, _SCORE = FIELDS.index("products_matched"), FIELDS.index("score")


def _rows(sellers: QuerySet[Seller]) -> Iterator[tuple]:
    """Rows in ``COLUMNS`` order: the stored fields plus the derived evidence columns."""
    stored = sellers.order_by("pk").values_list(*FIELDS).iterator(chunk_size=ROWS_PER_QUERY)
    for row in stored:
        ratio, share = row[_RATIO], row[_SHARE]
        why = seller_why(products_matched=row[_MATCHED], median_price_ratio=ratio, copy_share=share)
        yield (
            *row[:_RATIO],
            markup_percent(ratio),
            share_percent(share),
            row[_SCORE],
            why,
            *row[_SCORE + 1 :],
        )


def _csv_chunks(rows: Iterable[tuple], written: list[int]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(COLUMNS)
    lines = []
    for row in rows:
        lines.append(
            writer.writerow([convert(v) for convert, v in zip(CSV_CONVERTERS, row, strict=True)])
        )
        written[0] += 1
        if len(lines) >= ROWS_PER_CHUNK:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)


def _json_chunks(rows: Iterable[tuple], written: list[int]) -> Iterator[str]:
    yield "["
    lines = []
    for row in rows:
        record = {
            name: convert(value)
            for name, convert, value in zip(COLUMNS, JSON_CONVERTERS, row, strict=True)
        }
        separator = "\n" if written[0] == 0 else ",\n"
        lines.append(separator + json.dumps(record, ensure_ascii=False))
        written[0] += 1
        if len(lines) >= ROWS_PER_CHUNK:
            yield "".join(lines)
            lines = []
    lines.append("\n]\n")
    yield "".join(lines)


def _plain_filters(filters: dict) -> dict:
    return {
        key: value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value
        for key, value in filters.items()
        if value is not None
    }


def sellers_export(
    *,
    fmt: str,
    sellers: QuerySet[Seller] | None = None,
    run_id: int | None = None,
    flagged: bool | None = None,
    since: dt.date | dt.datetime | None = None,
    include_deleted: bool = False,
    actor=None,
    source: str = SellerChange.Source.ADMIN,
    filters: dict | None = None,
) -> SellerExport:
    """Start an export of ``sellers`` (default: all sellers matching the filters).

    Soft-deleted sellers are left out of either unless ``include_deleted``. ``filters``
    describes a given ``sellers`` selection for the change log (e.g. the admin's changelist
    filters); the keyword filters are recorded as they are.
    """
    fmt = (fmt or "").lower()
    if fmt not in FORMATS:
        raise ExportError(f"Unknown export format {fmt!r}; use csv or json.")
    if run_id is not None and not CollectionRun.objects.filter(pk=run_id).exists():
        raise ExportError(f"Run {run_id} does not exist.")
    if sellers is None:
        sellers = sellers_export_queryset(
            run_id=run_id, flagged=flagged, since=since, include_deleted=include_deleted
        )
    elif not include_deleted:
        sellers = sellers.filter(deleted_at__isnull=True)
    recorded = _plain_filters(
        {
            "run": run_id,
            "flagged": flagged,
            "since": since,
            "include_deleted": include_deleted or None,
            **(filters or {}),
        }
    )
    count = sellers.count()
    change = SellerChange.objects.create(
        action=SellerChange.Action.EXPORTED,
        source=source,
        seller=None,
        run_id=run_id,
        actor=actor,
        details={"format": fmt, "filters": recorded, "count": count},
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    logger.info("export %s of %d seller(s) started (%s, %s)", fmt, count, source, recorded)

    def chunks() -> Iterator[str]:
        written = [0]
        writer = _csv_chunks if fmt == "csv" else _json_chunks
        yield from writer(_rows(sellers), written)
        change.details = {**change.details, "rows_written": written[0], "completed": True}
        change.save(update_fields=["details"])
        logger.info("export %s finished: %d row(s)", change.pk, written[0])

    return SellerExport(
        format=fmt,
        content_type=FORMATS[fmt],
        filename=f"sellers-{stamp}.{fmt}",
        count=count,
        change_id=change.pk,
        chunks=chunks(),
    )
