"""The execution's database calls: off the event loop, on which thread, and retried.

- PostgreSQL: ``results_store`` and lease extension run on threads (and connections) of
  their own (``on_store``: ``COLLECTION_STORES_IN_FLIGHT`` of them, one call on each at a
  time), and claims on another (``on_claims``), so neither a long batch transaction nor
  an event frame ever delays a claim; heartbeats, control polls and events run on
  asgiref's thread-sensitive thread. (Claims lock only pending rows, with SKIP LOCKED;
  stores and lease extensions only this process's running rows, each in id order.)
- SQLite: everything runs on the thread-sensitive thread (one connection; SQLite has one
  writer at a time anyway), so a claim or a control poll can wait behind a batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)

DB_RETRIES = 3  # a lost database connection is retried this many times before pausing


class DatabaseUnavailable(Exception):
    """The database kept failing after ``DB_RETRIES`` attempts."""


def connection_reset() -> None:
    """Close the calling thread's connection (the next query opens a new one)."""
    try:
        connection.close()
    except DatabaseError:  # already broken: closing only forgets it
        logger.debug("closing a broken connection failed", exc_info=True)


async def _sensitive(fn: Callable, /, **kwargs):
    """Run a synchronous ORM function off the event loop (one thread, one connection)."""
    return await sync_to_async(fn, thread_sensitive=True)(**kwargs)


async def _in(executor: ThreadPoolExecutor, fn: Callable, /, **kwargs):
    """Run a synchronous ORM function on a dedicated one-thread executor (its connection)."""
    return await sync_to_async(fn, thread_sensitive=False, executor=executor)(**kwargs)


def _on_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


class EngineDatabase:
    """Where one execution's ORM calls run (module docstring); ``close`` when done."""

    def __init__(self, run_id: int, *, stores_in_flight: int = 1) -> None:
        self.run_id = run_id
        # Store threads, each with its connection, lent one call (and its retries) at a
        # time: PostgreSQL only; SQLite stores on the thread-sensitive thread, one at a time.
        self.stores_in_flight = 1
        self._store_executors: list[ThreadPoolExecutor] = []
        self._store_free: asyncio.Queue[ThreadPoolExecutor] = asyncio.Queue()
        self._claim_executor: ThreadPoolExecutor | None = None  # PostgreSQL only
        if _on_postgres():
            self.stores_in_flight = max(1, stores_in_flight)
            for n in range(self.stores_in_flight):
                executor = ThreadPoolExecutor(1, thread_name_prefix=f"engine-store-{n}")
                self._store_executors.append(executor)
                self._store_free.put_nowait(executor)
            self._claim_executor = ThreadPoolExecutor(1, thread_name_prefix="engine-claim")

    async def call(self, fn: Callable, /, **kwargs):
        """On the thread-sensitive thread (heartbeats, control, events, progress)."""
        return await _sensitive(fn, **kwargs)

    @contextlib.asynccontextmanager
    async def store_slot(self) -> AsyncIterator[Callable]:
        """A store thread (and its connection) for the caller alone; yields how to call on
        it. Waits while all ``stores_in_flight`` are lent."""
        if not self._store_executors:
            yield _sensitive
            return
        executor = await self._store_free.get()
        try:
            yield functools.partial(_in, executor)
        finally:
            self._store_free.put_nowait(executor)

    async def store_call(self, fn: Callable, /, **kwargs):
        """Run on a store thread and its connection (PostgreSQL), else like ``call``."""
        async with self.store_slot() as call:
            return await call(fn, **kwargs)

    async def claim_call(self, fn: Callable, /, **kwargs):
        """Run on the claimer's own thread and connection (PostgreSQL), else like ``call``."""
        if self._claim_executor is None:
            return await _sensitive(fn, **kwargs)
        return await _in(self._claim_executor, fn, **kwargs)

    async def retry(
        self, fn: Callable, /, *, on_store: bool = False, on_claims: bool = False, **kwargs
    ):
        """A database call that survives a dropped connection (reconnects, retries)."""
        if on_store:
            async with self.store_slot() as call:  # its retries on the same connection
                return await self._retrying(call, fn, **kwargs)
        return await self._retrying(self.claim_call if on_claims else _sensitive, fn, **kwargs)

    async def _retrying(self, call: Callable, fn: Callable, /, **kwargs):
        for attempt in range(1, DB_RETRIES + 1):
            try:
                return await call(fn, **kwargs)
            except (OperationalError, InterfaceError) as exc:
                logger.warning(
                    "run %s: database error in %s (attempt %d/%d): %s",
                    self.run_id,
                    getattr(fn, "__name__", fn),
                    attempt,
                    DB_RETRIES,
                    exc,
                )
                await call(connection_reset)
                if attempt == DB_RETRIES:
                    raise DatabaseUnavailable(str(exc).strip().splitlines()[0][:300]) from exc
                await asyncio.sleep(0.5 * 2 ** (attempt - 1))

    async def close(self) -> None:
        """Close every connection this execution opened, and its threads."""
        await _sensitive(connection_reset)
        for executor in [*self._store_executors, self._claim_executor]:
            if executor is not None:
                await _in(executor, connection_reset)
                executor.shutdown(wait=False)
