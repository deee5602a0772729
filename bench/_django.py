"""Django for benchmarks, on a dedicated PostgreSQL database (never the dev database).

``bench_setup()`` picks the database from ``BENCH_DATABASE_URL``, else ``DATABASE_URL`` if
its database name contains "bench", else ``postgres://postgres@127.0.0.1:5432/scout_bench``;
creates it if missing, points Django at it, migrates it, and turns query logging off
(``DEBUG`` would keep every statement in memory and format megabyte-long SQL).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/scout_bench"


def bench_database_url() -> str:
    url = os.environ.get("BENCH_DATABASE_URL", "")
    if not url:
        candidate = os.environ.get("DATABASE_URL", "")
        url = candidate if "bench" in urlsplit(candidate).path else DEFAULT_URL
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        raise SystemExit(f"benchmarks need PostgreSQL, got {parts.scheme!r}")
    if "bench" not in parts.path:
        raise SystemExit(f"refusing a database whose name lacks 'bench': {parts.path[1:]!r}")
    return url


def _create_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def bench_setup() -> str:
    """Configure Django on the bench database; return its URL."""
    root = Path(__file__).resolve().parent.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    url = bench_database_url()
    _create_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("COLLECTION_LOG_LEVEL", "WARNING")

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.DEBUG = False  # no query log
    call_command("migrate", verbosity=0, interactive=False)
    return url
