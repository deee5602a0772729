"""Shared fixtures and the rules that keep the real-services path honest.

Tests marked ``postgres_only`` / ``redis_only`` skip on the embedded default, but when
``SCOUT_REQUIRE_SERVICES=1`` (CI) a missing service is an error, never a silent skip.
"""

import os

import pytest
from django.conf import settings

REQUIRE_SERVICES = os.environ.get("SCOUT_REQUIRE_SERVICES") == "1"


def _on_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def _on_redis() -> bool:
    return bool(settings.REDIS_URL)


def pytest_sessionstart(session):
    if REQUIRE_SERVICES and not (_on_postgres() and _on_redis()):
        raise pytest.UsageError(
            "SCOUT_REQUIRE_SERVICES=1 but DATABASE_URL is not PostgreSQL or REDIS_URL is unset."
        )


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "postgres_only" in item.keywords and not _on_postgres():
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL"))
        if "redis_only" in item.keywords and not _on_redis():
            item.add_marker(pytest.mark.skip(reason="needs Redis: set REDIS_URL"))


@pytest.fixture
def on_postgres() -> bool:
    return _on_postgres()
