"""Sellers' pages keep 15 % free (PostgreSQL only): the store's per-batch update of a known
seller (times seen, last seen, feedback) changes no indexed column, so it can be a HOT update
(a new row version on the same page, no index entry) — but only if the page has room. At the
default fillfactor of 100 every page of sellers inserted in bulk is full, and the first update
of each seller wrote a new entry into all nine of the table's indexes, two of them trigram GIN.
Measured (8,000 random known sellers updated, 1M sellers): 247–271 ms and 80k WAL records at
100, 54 ms and 8,000 records (all HOT) at 80; ``bench/ingest.py``'s PostgreSQL CPU 6.1–7.8 →
5.3–6.0 s. Only pages written from now on get the room; ``VACUUM FULL collection_seller``
(it locks the table) rewrites the existing ones. SQLite, the embedded default, gets nothing.
"""

from django.db import migrations

FILLFACTOR = 85


def _fillfactor(value):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        if value is None:
            schema_editor.execute("ALTER TABLE collection_seller RESET (fillfactor)")
        else:
            schema_editor.execute(f"ALTER TABLE collection_seller SET (fillfactor = {value:d})")

    return apply


class Migration(migrations.Migration):
    dependencies = [("collection", "0009_seller_run_pending")]

    operations = [migrations.RunPython(_fillfactor(FILLFACTOR), _fillfactor(None))]
