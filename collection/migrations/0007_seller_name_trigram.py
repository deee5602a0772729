"""Seller-name search at a million sellers: trigram indexes (PostgreSQL only).

The leaderboard's name search is ``LOWER(normalized) LIKE '%term%' OR UPPER(display_name)
LIKE UPPER('%term%')``: without an index a rare term scans the whole seller table (~200 ms
at 1M sellers, bench/leaderboard.py). GIN trigram indexes answer both sides. On expressions,
not on the bare ``normalized`` column: pg_trgm's GIN operator class also serves ``=``, and
the planner then took it for the store's lookup of 10k known sellers by key (over a minute a
batch instead of milliseconds on the unique btree). They are written
only when a seller is inserted or renamed (the store never changes either column of a known
seller: its per-batch update stays HOT). SQLite, the embedded default, gets nothing.
"""

from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS seller_normalized_trgm "
    "ON collection_seller USING gin ((LOWER(normalized::text)) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS seller_display_name_trgm "
    "ON collection_seller USING gin ((UPPER(display_name::text)) gin_trgm_ops)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS seller_display_name_trgm",
    "DROP INDEX IF EXISTS seller_normalized_trgm",
]


def _run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("collection", "0006_sighting_evidence")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
