"""A large seller table exports in bounded memory, with formula cells neutralized."""

import csv
import json
import os
import resource

import pytest
from django.db import connection
from django.utils import timezone

from collection.models import SellerChange
from collection.services.exports import sellers_export

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

ROWS = 200_000
EVIL_EVERY = 1000  # every 1000th username is a spreadsheet formula
# Materialized, 200k rows of 12 values are well over 100 MB of Python objects (and the
# output alone is 20-60 MB); streamed, the process should not grow by more than this.
MAX_GROWTH = 40 * 1024 * 1024


def _generate_sellers(n: int) -> None:
    """Insert n sellers in one statement (a recursive CTE works on SQLite and PostgreSQL)."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < {n})
            INSERT INTO collection_seller (
                username, normalized, display_name, ebay_user_id, feedback_score,
                feedback_percent, first_seen_at, last_seen_at, times_seen, products_matched,
                runs_seen, median_price_ratio, copy_share, score, flagged, created_at,
                updated_at
            )
            SELECT
                CASE WHEN x %% {EVIL_EVERY} = 0 THEN '=cmd|'' /C calc''!A' || x
                     ELSE 'seller_' || x END,
                'seller_' || x, '', '', x %% 5000, 98.5, %s, %s, x %% 7, x %% 3, 1,
                1.5 + (x %% 10) / 10.0, (x %% 100) / 100.0, (x %% 100) / 10.0, (x %% 10 = 0),
                %s, %s
            FROM g
            """,
            [now, now, now, now],
        )


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads RSS from /proc")
def test_a_large_export_streams_in_bounded_memory():
    _generate_sellers(ROWS)
    for fmt in ("csv", "json"):
        export = sellers_export(fmt=fmt)
        assert export.count == ROWS
        baseline = peak = _rss()
        size = lines = 0
        evil_lines, first = [], None
        for chunk in export.chunks:  # like a client: counters only, never the whole file
            first = first or chunk
            size += len(chunk)
            lines += chunk.count("\n")
            if "cmd|" in chunk:
                evil_lines.extend(line for line in chunk.splitlines() if "cmd|" in line)
            peak = max(peak, _rss())

        assert size > 20_000_000, fmt  # the file is big...
        assert peak - baseline < MAX_GROWTH, (fmt, peak - baseline, size)  # ...memory is not
        assert len(evil_lines) == ROWS // EVIL_EVERY
        if fmt == "csv":
            assert lines == ROWS + 1
            assert first.startswith("username,normalized,display_name,feedback_score")
            for row in csv.reader(evil_lines):
                assert row[0].startswith("'=cmd|"), row
        else:
            assert lines == ROWS + 2  # "[", a line per row, "]"
            record = json.loads(evil_lines[0].rstrip(","))
            assert record["username"].startswith("=cmd|")  # JSON is data, not a spreadsheet
        change = SellerChange.objects.get(pk=export.change_id)
        assert change.details["rows_written"] == ROWS and change.details["completed"] is True
        growth = (peak - baseline) / 1e6
        # The figures are this test's report (pytest -s), not a leftover debug print.
        print(f"{fmt}: {size / 1e6:.1f} MB streamed, RSS growth {growth:.1f} MB")  # noqa: T201
