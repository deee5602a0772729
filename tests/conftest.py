"""Shared fixtures and the rules that keep the real-services path honest.

Tests marked ``postgres_only`` / ``redis_only`` skip on the embedded default, but when
``SCOUT_REQUIRE_SERVICES=1`` (CI) a missing service is an error, never a silent skip.
"""

import os
from pathlib import Path

import pytest
from django.conf import settings

REQUIRE_SERVICES = os.environ.get("SCOUT_REQUIRE_SERVICES") == "1"


def _on_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def _has_chromium() -> bool:
    return Path("/usr/bin/chromium").exists()


def _on_redis() -> bool:
    return bool(settings.REDIS_URL)


def pytest_sessionstart(session):
    if REQUIRE_SERVICES and not (_on_postgres() and _on_redis()):
        raise pytest.UsageError(
            "SCOUT_REQUIRE_SERVICES=1 but DATABASE_URL is not PostgreSQL or REDIS_URL is unset."
        )


def pytest_collection_modifyitems(config, items):
    for item in items:
        _serialize_transactional_rollback(item)
        if "postgres_only" in item.keywords and not _on_postgres():
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL"))
        if "redis_only" in item.keywords and not _on_redis():
            item.add_marker(pytest.mark.skip(reason="needs Redis: set REDIS_URL"))
        if "browser" in item.keywords and not REQUIRE_SERVICES and not _has_chromium():
            # A fresh machine may lack Debian's chromium; CI installs it and never skips.
            item.add_marker(
                pytest.mark.skip(reason="needs /usr/bin/chromium: apt-get install chromium")
            )


def _serialize_transactional_rollback(item) -> None:
    """Every transactional test restores the migrated data (catalogue, presets) afterwards.

    Mixing transactional tests with and without ``serialized_rollback`` breaks Django: a
    plain one's teardown flush re-creates content types through post_migrate, and the next
    serialized one then fails to reload them. So all of them serialize.
    """
    marker = item.get_closest_marker("django_db")
    if (
        marker is None
        or not marker.kwargs.get("transaction")
        or marker.kwargs.get("serialized_rollback")
    ):
        return
    item.add_marker(
        pytest.mark.django_db(*marker.args, **{**marker.kwargs, "serialized_rollback": True}),
        append=False,
    )


@pytest.fixture
def on_postgres() -> bool:
    return _on_postgres()
