"""Set-based SQL for PostgreSQL: one statement per table per batch, arrays in, RETURNING out.

Django's ``bulk_create`` spends ~26 µs of client CPU per row building model instances;
``INSERT … SELECT FROM unnest(%s::type[], …) ON CONFLICT …`` moves the same rows at
~50k rows/s (``bench/ingest.py`` measures it). All statements run inside the caller's
transaction (``results_store``).

Locking, in the order a transaction takes it (no cycle, so no deadlock):
1. its task rows (``FOR UPDATE`` in id order);
2. product rows (upsert in ASIN order), product-category rows, new task keys (key order);
3. the seller section, only if the batch has sellers: its known sellers are looked up first
   (no lock, no row locks), then ``pg_advisory_xact_lock(SELLERS_LOCK)`` is taken and held
   to commit, so store transactions go through it one at a time in commit order (and so
   do operators' soft deletes and restores, ``services.sellers``). Inside it (nobody else
   moves sellers' counters or ``deleted_at``, and the update re-reads each row as it then
   is): new sellers inserted in key order (one that a batch inserted since the lookup
   conflicts and is a known one; their trigger takes the active-count row, migration
   0005), the active count for the ``added`` changes (exact: every earlier change to it
   has committed, no later one has started), then the sightings and the known sellers'
   update in one statement, all rows of its own (with
   ``COLLECTION_SELLER_COUNTERS=per_run``, rows appended to ``SellerRunPending`` instead of
   the update; ``seller_counters_settle`` folds them in under the same lock).
   The counters are exact because no other transaction inserts sightings or moves
   counters meanwhile. Batches of a run nearly always share sellers (dropshippers recur),
   so row locks serialized them here anyway; one lock spares any lock-order reasoning
   among store transactions. The lookup before it runs while another batch holds it (a
   process stores ``COLLECTION_STORES_IN_FLIGHT`` batches at once);
4. the run row (counters), last, by every transaction.
Whoever holds the advisory lock needs no row that a transaction waiting for it holds.

Past 400 lines: one SQL statement per table per batch, each with the reasoning that keeps
it exact and fast; splitting them would separate each statement from the lock order it
relies on.
"""

from __future__ import annotations

import functools
import json
import operator
import re
from collections import Counter
from itertools import repeat

import psycopg
from django.db import connection

from collection.models import (
    Product,
    ProductCategory,
    RunTask,
    Seller,
    SellerChange,
    SellerRunPending,
    SellerSighting,
)

from .clean import (
    FEEDBACK_PERCENT_NONE,
    FEEDBACK_SCORE_NONE,
    MarkRow,
    PreparedBatch,
    TaskRow,
)

# pg_advisory_xact_lock key of the seller section (any constant unique in this database).
SELLERS_LOCK = 0x5E11E25

T_TASK = RunTask._meta.db_table
T_PRODUCT = Product._meta.db_table
T_LINK = ProductCategory._meta.db_table
T_SELLER = Seller._meta.db_table
T_SIGHTING = SellerSighting._meta.db_table
T_CHANGE = SellerChange._meta.db_table
T_ACTIVE_COUNT = "collection_seller_active_count"  # not a model: see migration 0005

# Arrays travel as one delimited string, split by the server: ``string_to_array`` of a
# 10k-element string costs the client ~0.1 µs per element, where psycopg's list dumper
# costs ~1.2 µs (it is pure Python and escapes every element), and the server splits it
# faster than it parses an array literal. Scraped strings are cleaned of both control
# characters (``clean.column_text``); a value that still contains the separator makes that
# parameter fall back to a real array. A leading separator keeps [''] apart from [].
_SEP, _NULL = "\x1f", "\x1e"
_ARRAY_PLACEHOLDER = re.compile(r"(%\((\w+)\)s)::(\w+)\[\]")


class _Delimited(str):
    """An array parameter encoded for ``string_to_array`` (see ``_array_sql``)."""


def _array_param(value):
    if value.__class__ is not list:
        return value
    if not value:
        return _Delimited("")  # string_to_array('') is '{}'
    # No ``None in value`` / ``_NULL in value``: on a list of Decimals each comparison goes
    # through Decimal.__eq__ and its ABC checks (~0.4 µs per element, a third of the cost).
    try:
        encoded = _SEP + _SEP.join(value)  # all strings (fails at the first other value)
        nulls = 0
    except TypeError:
        nulls = sum(map(operator.is_, value, repeat(None)))
        if nulls:
            parts = [_NULL if v is None else v if v.__class__ is str else str(v) for v in value]
        else:  # no NULL (the common case): str of each, in C
            parts = list(map(str, value))
        encoded = _SEP + _SEP.join(parts)
    if encoded.count(_SEP) != len(value) or encoded.count(_NULL) != nulls:
        return value  # a separator inside a value: let psycopg send a real array
    return _Delimited(encoded)


@functools.lru_cache(maxsize=128)
def _array_sql(sql: str, delimited: frozenset[str]) -> str:
    """``%(name)s::type[]`` → split the delimited string, for the parameters encoded so."""

    def split(match: re.Match) -> str:
        if match[2] not in delimited:
            return match[0]
        return f"((string_to_array({match[1]}, E'\\x1f', E'\\x1e'))[2:])::{match[3]}[]"

    return _ARRAY_PLACEHOLDER.sub(split, sql)


class _Cursor:
    """A server-side-binding psycopg cursor on Django's connection (and transaction).

    Django's default cursors bind client-side: every array would be quoted into the SQL
    text in Python and parsed back by the server — the larger cost of a 10k-row batch.
    Here arrays travel as parameters. Errors are translated to Django's exceptions (the
    engine retries on ``django.db.OperationalError``). These statements are not recorded
    in ``connection.queries``: with DEBUG on, that log would keep megabytes per batch.
    """

    def __init__(self) -> None:
        connection.ensure_connection()
        self._cursor = psycopg.Cursor(connection.connection)

    def __enter__(self) -> _Cursor:
        return self

    def __exit__(self, *exc) -> None:
        self._cursor.close()

    def execute(self, sql: str, params: dict | None = None) -> None:
        if params:
            params = {name: _array_param(value) for name, value in params.items()}
            delimited = frozenset(k for k, v in params.items() if isinstance(v, _Delimited))
            if delimited:
                sql = _array_sql(sql, delimited)
        with connection.wrap_database_errors:
            self._cursor.execute(sql, params)

    def fetchone(self):
        return self._cursor.fetchone()

    def fetchall(self):
        return self._cursor.fetchall()


T_PENDING = SellerRunPending._meta.db_table

# The sightings of a batch, inserted; per (run, seller, product) a match beats a look-alike,
# then the lowest (price, item id, query) wins. Yields ``ins(seller_id, inserted)``.
_SIGHTINGS_INSERT = f"""ins AS (
    INSERT INTO {T_SIGHTING} AS x (run_id, seller_id, product_id, item_id,
        listing_price, currency, title, item_url, shipping_cost, location, query,
        match_score, is_match, price_ratio, created_at)
    SELECT %(run)s, v.seller_id, v.product_id, v.item_id, v.price, v.currency,
           v.title, v.url, v.shipping, v.location, v.query, v.score, v.is_match,
           v.ratio, %(now)s
    FROM unnest(%(sellers)s::bigint[], %(products)s::bigint[], %(items)s::text[],
                %(prices)s::numeric[], %(currencies)s::text[], %(titles)s::text[],
                %(urls)s::text[], %(shippings)s::numeric[], %(locations)s::text[],
                %(queries)s::text[], %(match_scores)s::float8[],
                %(matches)s::bool[], %(ratios)s::float8[])
        AS v(seller_id, product_id, item_id, price, currency, title, url, shipping,
             location, query, score, is_match, ratio)
    ON CONFLICT (run_id, seller_id, product_id) DO UPDATE SET
        listing_price = EXCLUDED.listing_price, item_id = EXCLUDED.item_id,
        currency = EXCLUDED.currency, title = EXCLUDED.title,
        item_url = EXCLUDED.item_url, shipping_cost = EXCLUDED.shipping_cost,
        location = EXCLUDED.location, query = EXCLUDED.query,
        match_score = EXCLUDED.match_score, is_match = EXCLUDED.is_match,
        price_ratio = EXCLUDED.price_ratio
    WHERE (NOT EXCLUDED.is_match, EXCLUDED.listing_price IS NULL,
           COALESCE(EXCLUDED.listing_price, 0), EXCLUDED.item_id COLLATE "C",
           EXCLUDED.query COLLATE "C")
        < (NOT x.is_match, x.listing_price IS NULL, COALESCE(x.listing_price, 0),
           x.item_id COLLATE "C", x.query COLLATE "C")
    RETURNING x.seller_id, (x.xmax = 0) AS inserted
)"""
_SIGHTING_PARAMS = (
    "items",
    "prices",
    "currencies",
    "titles",
    "urls",
    "shippings",
    "locations",
    "queries",
    "match_scores",
    "matches",
    "ratios",
)
_SIGHTING_FIELDS = operator.attrgetter(
    "item_id",
    "price",
    "currency",
    "title",
    "url",
    "shipping_cost",
    "location",
    "query",
    "match_score",
    "is_match",
    "price_ratio",
)

# The batch's known sellers ``v`` and the sightings inserted per seller ``agg``.
_KNOWN_BATCH = """v AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(usernames)s::text[], %(scores)s::int[],
                         %(percents)s::numeric[], %(user_ids)s::text[])
        AS v(id, username, feedback_score, feedback_percent, user_id)
), agg AS (
    SELECT i.seller_id, count(*) AS n_new
    FROM ins i JOIN v ON v.id = i.seller_id
    WHERE i.inserted
    GROUP BY i.seller_id
)"""
_SELLER_PARAMS = ("usernames", "scores", "percents", "user_ids")
_SELLER_FIELDS = operator.attrgetter("username", "feedback_score", "feedback_percent", "user_id")

_HAS_FEEDBACK = "(p.feedback_score IS NOT NULL OR p.feedback_percent IS NOT NULL)"
_FEEDBACK_ORDER = (
    f"COALESCE(p.feedback_score, {FEEDBACK_SCORE_NONE}) DESC, "
    f"COALESCE(p.feedback_percent, {FEEDBACK_PERCENT_NONE}) DESC"
)
_FEEDBACK_WINS = f"""(
    s.last_seen_run_id IS NULL OR %(run)s > s.last_seen_run_id
    OR (%(run)s = s.last_seen_run_id
        AND (COALESCE(a.feedback_score, {FEEDBACK_SCORE_NONE}),
             COALESCE(a.feedback_percent, {FEEDBACK_PERCENT_NONE}))
          > (COALESCE(s.feedback_score, {FEEDBACK_SCORE_NONE}),
             COALESCE(s.feedback_percent, {FEEDBACK_PERCENT_NONE}))))
    AND (a.feedback_score IS NOT NULL OR a.feedback_percent IS NOT NULL)"""

# What a known seller's row takes from ``a(id, username, feedback_score, feedback_percent,
# user_id, n_new, seen_at, first_in_run)``, a batch's (per_batch) or a run's staged batches'
# (per_run): last seen (newest run wins), feedback (a newer run's, or within one run the
# largest pair), the user id where one came, the smallest spelling of the username within
# the run that added the seller, and the listing counters: times_seen by the sightings
# inserted, runs_seen by 1 when these were the seller's first in the run.
_SELLER_UPDATE = f"""UPDATE {T_SELLER} s SET
        last_seen_at = GREATEST(s.last_seen_at, a.seen_at),
        last_seen_run_id = GREATEST(s.last_seen_run_id, %(run)s),
        feedback_score = CASE WHEN {_FEEDBACK_WINS}
            THEN a.feedback_score ELSE s.feedback_score END,
        feedback_percent = CASE WHEN {_FEEDBACK_WINS}
            THEN a.feedback_percent ELSE s.feedback_percent END,
        ebay_user_id = CASE WHEN a.user_id <> '' THEN a.user_id ELSE s.ebay_user_id END,
        username = CASE WHEN s.first_seen_run_id = %(run)s
                         AND a.username COLLATE "C" < s.username COLLATE "C"
            THEN a.username ELSE s.username END,
        times_seen = s.times_seen + a.n_new,
        runs_seen = s.runs_seen + a.first_in_run::int,
        updated_at = %(now)s
    FROM a WHERE s.id = a.id"""


def _cursor() -> _Cursor:
    return _Cursor()


def transaction_begin() -> None:
    """Per-transaction settings. JIT off: these statements are estimated expensive enough
    to be JIT-compiled (~200 ms of compilation each), and they run once per batch."""
    with _cursor() as cursor:
        cursor.execute("SET LOCAL jit = off")


def mark_tasks(*, run_id: int, marks: dict[int, MarkRow], now) -> list[TaskRow]:
    """Finish the tasks that are still running; return those this transaction moved."""
    ids = sorted(marks)
    rows = [marks[i] for i in ids]
    statuses = [m.status for m in rows]
    attempts = [m.attempts for m in rows]
    error_types = [m.error_type for m in rows]
    error_messages = [m.error_message for m in rows]
    counts = [m.result_count for m in rows]
    sql = f"""
        WITH v AS (
            SELECT * FROM unnest(%(ids)s::bigint[], %(statuses)s::text[], %(attempts)s::int[],
                                 %(error_types)s::text[], %(error_messages)s::text[],
                                 %(counts)s::int[])
                AS v(id, status, attempts, error_type, error_message, result_count)
        ), locked AS (
            SELECT t.id FROM {T_TASK} t
            WHERE t.run_id = %(run)s AND t.id = ANY(%(ids)s::bigint[]) AND t.status = 'running'
            ORDER BY t.id FOR UPDATE
        )
        UPDATE {T_TASK} t SET status = v.status, attempts = v.attempts,
               error_type = v.error_type, error_message = v.error_message,
               result_count = v.result_count, finished_at = %(now)s, leased_until = NULL
        FROM v JOIN locked l ON l.id = v.id
        WHERE t.id = v.id AND t.status = 'running'
        RETURNING t.id, t.phase, t.key, t.page, t.category_id, t.product_id, t.query
    """
    with _cursor() as cursor:
        cursor.execute(
            sql,
            {
                "ids": ids,
                "statuses": statuses,
                "attempts": attempts,
                "error_types": error_types,
                "error_messages": error_messages,
                "counts": counts,
                "run": run_id,
                "now": now,
            },
        )
        return [TaskRow(*row) for row in cursor.fetchall()]


def upsert_products(*, run_id: int, batch: PreparedBatch, now) -> tuple[dict[str, int], int]:
    """Upsert products by ASIN; return ({asin: id}, products not yet seen in this run)."""
    rows = batch.sorted_products()
    sql = f"""
        INSERT INTO {T_PRODUCT} AS p (asin, title, price, currency, rating, ratings_count, url,
                                       first_seen_run_id, price_run_id, created_at, updated_at)
        SELECT v.asin, v.title, v.price, v.currency, v.rating, v.ratings_count, v.url,
               %(run)s, CASE WHEN v.price IS NULL THEN NULL ELSE %(run)s END, %(now)s, %(now)s
        FROM unnest(%(asins)s::text[], %(titles)s::text[], %(prices)s::numeric[],
                    %(currencies)s::text[], %(ratings)s::numeric[], %(counts)s::int[],
                    %(urls)s::text[])
            AS v(asin, title, price, currency, rating, ratings_count, url)
        ON CONFLICT (asin) DO UPDATE SET
            title = COALESCE(NULLIF(EXCLUDED.title, ''), p.title),
            -- Within a run the lowest price of all its records wins, whatever their order;
            -- a later run's price replaces an earlier run's.
            price = CASE WHEN EXCLUDED.price IS NULL THEN p.price
                         WHEN p.price IS NULL OR p.price_run_id IS DISTINCT FROM %(run)s
                             THEN EXCLUDED.price
                         ELSE LEAST(p.price, EXCLUDED.price) END,
            price_run_id = CASE WHEN EXCLUDED.price IS NULL THEN p.price_run_id
                                ELSE %(run)s END,
            currency = COALESCE(NULLIF(EXCLUDED.currency, ''), p.currency),
            rating = COALESCE(EXCLUDED.rating, p.rating),
            ratings_count = COALESCE(EXCLUDED.ratings_count, p.ratings_count),
            url = COALESCE(NULLIF(EXCLUDED.url, ''), p.url),
            updated_at = EXCLUDED.updated_at
        RETURNING p.id, p.asin
    """
    with _cursor() as cursor:
        cursor.execute(
            sql,
            {
                "asins": [r.asin for r in rows],
                "titles": [r.title for r in rows],
                "prices": [r.price for r in rows],
                "currencies": [r.currency for r in rows],
                "ratings": [r.rating for r in rows],
                "counts": [r.ratings_count for r in rows],
                "urls": [r.url for r in rows],
                "run": run_id,
                "now": now,
            },
        )
        ids = {asin: pk for pk, asin in cursor.fetchall()}
        # The upsert holds these product rows until commit, so a concurrent batch with the
        # same products waits here and then sees this batch's links: the count is exact.
        cursor.execute(
            f"SELECT count(DISTINCT product_id) FROM {T_LINK} "
            "WHERE run_id = %(run)s AND product_id = ANY(%(ids)s::bigint[])",
            {"run": run_id, "ids": list(ids.values())},
        )
        already = cursor.fetchone()[0]
    return ids, len(ids) - already


def upsert_links(*, run_id: int, links: list[tuple[int, int, int | None]], now) -> None:
    """ProductCategory rows (product_id, category_id, rank), sorted; best rank within a run."""
    if not links:
        return
    sql = f"""
        INSERT INTO {T_LINK} AS pc (product_id, category_id, rank, run_id, updated_at)
        SELECT v.product_id, v.category_id, v.rank, %(run)s, %(now)s
        FROM unnest(%(products)s::bigint[], %(categories)s::bigint[], %(ranks)s::int[])
            AS v(product_id, category_id, rank)
        ON CONFLICT (product_id, category_id) DO UPDATE SET
            rank = CASE WHEN pc.run_id = EXCLUDED.run_id THEN LEAST(pc.rank, EXCLUDED.rank)
                        ELSE COALESCE(EXCLUDED.rank, pc.rank) END,
            run_id = EXCLUDED.run_id,
            updated_at = EXCLUDED.updated_at
    """
    with _cursor() as cursor:
        cursor.execute(
            sql,
            {
                "products": [link[0] for link in links],
                "categories": [link[1] for link in links],
                "ranks": [link[2] for link in links],
                "run": run_id,
                "now": now,
            },
        )


def create_tasks(*, run_id: int, tasks: list[tuple[str, int, int, str]]) -> int:
    """eBay tasks (key, product_id, page, query), sorted by key; existing keys are left
    alone."""
    if not tasks:
        return 0
    sql = f"""
        INSERT INTO {T_TASK} (run_id, phase, key, status, product_id, page, query, attempts,
                              leased_by, error_type, error_message, result_count)
        SELECT %(run)s, 'ebay', v.key, 'pending', v.product_id, v.page, v.query, 0, '', '',
               '', 0
        FROM unnest(%(keys)s::text[], %(products)s::bigint[], %(pages)s::int[],
                    %(queries)s::text[])
            AS v(key, product_id, page, query)
        ON CONFLICT (run_id, key) DO NOTHING
        RETURNING id
    """
    with _cursor() as cursor:
        cursor.execute(
            sql,
            {
                "keys": [t[0] for t in tasks],
                "products": [t[1] for t in tasks],
                "pages": [t[2] for t in tasks],
                "queries": [t[3] for t in tasks],
                "run": run_id,
            },
        )
        return len(cursor.fetchall())


def store_sellers(*, run_id: int, batch: PreparedBatch, now, counters: str = "per_batch") -> dict:
    """Sellers, `added` changes, sightings and seller counters; returns counts.

    One write per seller per batch: a new seller is inserted with its listing counters (it
    has no other sighting, so they follow from the batch), a known one is updated once
    (last seen, feedback, user id, listing counters) by the statement that inserts the
    sightings. The score and the matched-product aggregates are not touched here: they are
    settled from the sightings when the run finishes (``store.scores``), which keeps this
    update HOT (no indexed column changes). Four statements when the batch adds no
    seller, seven when it does (per_run: three and six).

    ``counters="per_run"``: known sellers' rows are not written; what the batch saw of
    each is appended to ``SellerRunPending`` and its ``sellers_found`` counts only the new
    sellers (the known ones are counted by ``seller_counters_settle``).
    """
    sellers = batch.sorted_sellers()
    products_per_key = Counter(row.key for row in batch.sightings.values())
    with _cursor() as cursor:
        # (a) Known sellers, looked up before the seller section's lock, so that the
        # lookup (a sixth of the store's PostgreSQL time on figure 2) overlaps with another
        # batch's section instead of lengthening the queue for it. A seller found now is
        # still there under the lock (sellers are never hard-deleted by the app; a hard
        # delete meanwhile is the trade-off of ``SellerSighting``'s foreign keys). One not
        # found now may be inserted by a batch that commits before we take the lock: the
        # insert below then conflicts, and that seller is looked up again as a known one.
        # No row locks: every writer of sellers' counters or deleted_at takes the advisory
        # lock first, and the update below re-reads each row as it is then (an operator's
        # rename commits before or waits). Ids come back as one string aligned with
        # ``keys`` ('' = not found): fetching 10k (id, key) rows cost the client ~10 ms
        # per batch.
        keys = [s.key for s in sellers]
        cursor.execute(
            f"""
            SELECT string_agg(COALESCE(s.id::text, ''), ',' ORDER BY k.n)
            FROM unnest(%(keys)s::text[]) WITH ORDINALITY AS k(key, n)
                LEFT JOIN {T_SELLER} s ON s.normalized = k.key
            """,
            {"keys": keys},
        )
        known_ids: dict[str, int] = {
            key: int(pk)
            for key, pk in zip(keys, cursor.fetchone()[0].split(","), strict=True)
            if pk
        }

        # From here to commit, one store transaction at a time (see the module docstring).
        cursor.execute("SELECT pg_advisory_xact_lock(%(key)s)", {"key": SELLERS_LOCK})

        # (b) New sellers, in key order. A conflict is a seller that a batch inserted
        # after our lookup and committed before we took the lock: it is a known one.
        new_rows = [s for s in sellers if s.key not in known_ids]
        new_ids: dict[str, int] = {}
        if new_rows:
            cursor.execute(
                f"""
                INSERT INTO {T_SELLER} AS s (username, normalized, display_name, ebay_user_id,
                    feedback_score, feedback_percent, first_seen_run_id, last_seen_run_id,
                    first_seen_at, last_seen_at, times_seen, products_matched, runs_seen,
                    score, flagged, created_at, updated_at)
                SELECT v.username, v.normalized, '', v.user_id, v.feedback_score,
                       v.feedback_percent, %(run)s, %(run)s, %(now)s, %(now)s, v.seen, 0, 1,
                       0, false, %(now)s, %(now)s
                FROM unnest(%(usernames)s::text[], %(keys)s::text[], %(scores)s::int[],
                            %(percents)s::numeric[], %(seen)s::int[], %(user_ids)s::text[])
                    AS v(username, normalized, feedback_score, feedback_percent, seen, user_id)
                ON CONFLICT (normalized) DO NOTHING
                RETURNING s.id, s.normalized
                """,
                {
                    "usernames": [s.username for s in new_rows],
                    "keys": [s.key for s in new_rows],
                    "scores": [s.feedback_score for s in new_rows],
                    "percents": [s.feedback_percent for s in new_rows],
                    "seen": [products_per_key[s.key] for s in new_rows],
                    "user_ids": [s.user_id for s in new_rows],
                    "run": run_id,
                    "now": now,
                },
            )
            new_ids = {key: pk for pk, key in cursor.fetchall()}
            if len(new_ids) < len(new_rows):
                cursor.execute(
                    f"SELECT id, normalized FROM {T_SELLER}"
                    " WHERE normalized = ANY(%(keys)s::text[])",
                    {"keys": [s.key for s in new_rows if s.key not in new_ids]},
                )
                known_ids.update((key, pk) for pk, key in cursor.fetchall())
        new_keys = sorted(new_ids)

        if new_keys:
            # The active count after the insert, kept by triggers (migration 0005) instead of
            # a count(*) of a million rows. The insert's trigger holds the count row until
            # commit, after every earlier change to it: each `added` change gets the exact
            # active count after its insert, in commit order.
            cursor.execute(f"SELECT active FROM {T_ACTIVE_COUNT} WHERE id = 1")
            row = cursor.fetchone()
            if row is None:  # the row was deleted by hand: count, and keep counting from here
                cursor.execute(
                    f"INSERT INTO {T_ACTIVE_COUNT} (id, active) SELECT 1, count(*) "
                    f"FROM {T_SELLER} WHERE deleted_at IS NULL RETURNING active"
                )
                row = cursor.fetchone()
            total = row[0]
            first = total - len(new_keys)
            cursor.execute(
                f"""
                INSERT INTO {T_CHANGE} (action, source, seller_id, run_id, details,
                                        seller_count_after, created_at)
                SELECT 'added', 'run', v.seller_id, %(run)s, v.details::jsonb, v.count_after,
                       %(now)s
                FROM unnest(%(sellers)s::bigint[], %(details)s::text[], %(counts)s::int[])
                    AS v(seller_id, details, count_after)
                ON CONFLICT (seller_id, run_id) WHERE action = 'added' DO NOTHING
                """,
                {
                    "sellers": [new_ids[k] for k in new_keys],
                    "details": [json.dumps({"normalized": k}) for k in new_keys],
                    "counts": list(range(first + 1, first + len(new_keys) + 1)),
                    "run": run_id,
                    "now": now,
                },
            )

        # (c) One statement: the sightings (per (run, seller, product) a match beats a
        # look-alike, then the lowest (price, item id, query) wins), then what the known
        # sellers' rows take from this batch (``_SELLER_UPDATE``): per_batch, the update
        # itself, with runs_seen by 1 when the seller had no sighting in this run yet
        # (every part of one statement reads the snapshot taken before it, so "yet" is
        # "before these inserts"; ``OFFSET 0`` keeps that EXISTS a probe per row: without
        # it the planner may hash the whole run's sightings instead, trusting statistics
        # that predate the run); per_run, one appended row per known seller in
        # ``SellerRunPending`` (no seller row written, no probe), folded into the sellers
        # by ``seller_counters_settle`` when the run stops.
        seller_ids = {**known_ids, **new_ids}
        sightings = sorted(
            (seller_ids[s.key], s.product_id, s)
            for s in batch.sightings.values()
            if s.key in seller_ids  # a seller hard-deleted meanwhile: nothing to attach to
        )
        known = sorted((pk, batch.sellers[key]) for key, pk in known_ids.items())
        columns = list(zip(*map(_SIGHTING_FIELDS, (s[2] for s in sightings)), strict=True))
        if not columns:
            columns = [()] * 11
        known_columns = list(zip(*map(_SELLER_FIELDS, (row for _, row in known)), strict=True))
        if not known_columns:
            known_columns = [()] * 4
        params = {
            "sellers": [s[0] for s in sightings],
            "products": [s[1] for s in sightings],
            **{name: list(column) for name, column in zip(_SIGHTING_PARAMS, columns, strict=True)},
            "ids": [pk for pk, _ in known],
            **{
                name: list(column)
                for name, column in zip(_SELLER_PARAMS, known_columns, strict=True)
            },
            "run": run_id,
            "now": now,
        }
        staged_first_in_run = 0
        if counters == "per_run":
            cursor.execute(
                f"""
                WITH {_SIGHTINGS_INSERT}, {_KNOWN_BATCH}, pending AS (
                    INSERT INTO {T_PENDING} (run_id, seller_id, username, feedback_score,
                        feedback_percent, ebay_user_id, listings, seen_at)
                    SELECT %(run)s, v.id, v.username, v.feedback_score, v.feedback_percent,
                           v.user_id, COALESCE(agg.n_new, 0), %(now)s
                    FROM v LEFT JOIN agg ON agg.seller_id = v.id
                )
                SELECT (SELECT count(*) FROM ins WHERE inserted), 0
                """,
                params,
            )
        else:
            # What per_run batches of this run staged (the setting changed while it ran)
            # is settled first, so that the rows below read as per_batch ones.
            cursor.execute(
                f"SELECT EXISTS (SELECT 1 FROM {T_PENDING} WHERE run_id = %(run)s)",
                {"run": run_id},
            )
            if cursor.fetchone()[0]:
                cursor.execute(_SETTLE, {"run": run_id, "now": now})
                staged_first_in_run = cursor.fetchone()[1]
            # A seller whose last seen run is this one has a sighting in it (every writer
            # of last_seen_run_id writes it with the seller's sightings, under the lock):
            # no probe for it — most known sellers of a batch after their first.
            cursor.execute(
                f"""
                WITH {_SIGHTINGS_INSERT}, {_KNOWN_BATCH}, a AS MATERIALIZED (
                    -- computed once, not per reference in the update
                    SELECT v.*, COALESCE(agg.n_new, 0) AS n_new, %(now)s::timestamptz AS seen_at,
                           CASE WHEN agg.n_new IS NULL OR s.last_seen_run_id = %(run)s
                                THEN false
                                ELSE NOT EXISTS (
                                    SELECT 1 FROM {T_SIGHTING} r
                                    WHERE r.run_id = %(run)s AND r.seller_id = v.id OFFSET 0
                                ) END AS first_in_run
                    FROM v LEFT JOIN agg ON agg.seller_id = v.id
                        JOIN {T_SELLER} s ON s.id = v.id
                ), upd AS (
                    {_SELLER_UPDATE}
                    RETURNING a.first_in_run
                )
                SELECT (SELECT count(*) FROM ins WHERE inserted),
                       (SELECT count(*) FROM upd WHERE first_in_run)
                """,
                params,
            )
        sightings_new, known_first_in_run = cursor.fetchone()
        known_first_in_run += staged_first_in_run

    return {
        "new_keys": new_keys,
        "sightings_new": sightings_new,
        "sellers_found": len(new_keys) + known_first_in_run,
        "new_usernames": {k: batch.sellers[k].username for k in new_keys[:20]},
    }


_SETTLE = f"""WITH p AS (
    DELETE FROM {T_PENDING} WHERE run_id = %(run)s
    RETURNING seller_id, username, feedback_score, feedback_percent,
              ebay_user_id, listings, seen_at
), g AS (
    SELECT p.seller_id AS id, sum(p.listings) AS n_new, max(p.seen_at) AS seen_at,
           min(p.username COLLATE "C") AS username,
           COALESCE(max(p.ebay_user_id COLLATE "C"), '') AS user_id,
           (array_agg(p.feedback_score ORDER BY {_FEEDBACK_ORDER})
            FILTER (WHERE {_HAS_FEEDBACK}))[1] AS feedback_score,
           (array_agg(p.feedback_percent ORDER BY {_FEEDBACK_ORDER})
            FILTER (WHERE {_HAS_FEEDBACK}))[1] AS feedback_percent
    FROM p GROUP BY p.seller_id
), a AS MATERIALIZED (
    SELECT g.*,
           g.n_new > 0 AND g.n_new = (
               SELECT count(*) FROM {T_SIGHTING} r
               WHERE r.run_id = %(run)s AND r.seller_id = g.id
           ) AS first_in_run
    FROM g
), upd AS (
    {_SELLER_UPDATE}
    RETURNING a.first_in_run
)
SELECT count(*), count(*) FILTER (WHERE first_in_run) FROM upd
"""


def seller_counters_settle(*, run_id: int, now) -> tuple[int, int]:
    """Fold the run's ``SellerRunPending`` rows into its sellers (per_run counters).

    Same rules as the per_batch update, applied once per seller to what the batches
    staged: listings add up, the smallest spelling and the best feedback pair win, the
    latest sighting time is the last seen. runs_seen moves by 1 for a seller whose every
    sighting in this run was inserted by staged batches (none had been counted before: no
    earlier settle, no per_batch batch). Exact because it holds the seller section's lock
    (no batch is between its sightings and its commit) and deletes what it folds in the
    same transaction. Call inside a transaction. Returns (sellers updated, sellers counted
    in this run for the first time): the caller adds the latter to the run's
    sellers_found.
    """
    with _cursor() as cursor:
        # A run's staged rows (~3 per seller seen) sorted by seller in memory, not spilled
        # to disk at the stock 4 MB (165k rows on figure 2); JIT off as in the batches.
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SELECT pg_advisory_xact_lock(%(key)s)", {"key": SELLERS_LOCK})
        cursor.execute(_SETTLE, {"run": run_id, "now": now})
        updated, first = cursor.fetchone()
    return updated, first
