"""Sending finished payloads to the channel layer, after commit.

The publisher never reads anything: its callers (the recorder, the lifecycle's status
change) build the payloads (``activity.payloads``) and hand them over here.

With a Redis layer, messages leave through the process's ``_Publisher`` (a thread with an
event loop of its own), handed over by the thread that committed them: a run's event loop
is CPU-bound, and a frame that waited for it at each of the layer's round trips reached
the pages hundreds of milliseconds late.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from activity.payloads import Messages

logger = logging.getLogger(__name__)

# A sync caller (a service's on_commit) waits at most this long for its messages to leave.
PUBLISH_WAIT_SECONDS = 30.0


class _Publisher:
    """One thread per process whose event loop only sends to the channel layer, in order.

    Used with the Redis layers, which keep one connection per event loop, so this loop has
    its own. ``submit`` may be called from any thread; messages leave in the order they
    were submitted (one FIFO lock). A failed send is logged and skipped, as everywhere
    here: the layer is a best-effort accelerator over the stored events.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self._order = asyncio.Lock()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="activity-publisher", daemon=True
        )
        self.thread.start()

    def submit(self, messages: Messages) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(self._send(messages), self.loop)

    async def _send(self, messages: Messages) -> None:
        async with self._order:
            for group, message in messages:
                await _apublish(group, message)


_publisher: _Publisher | None = None
_publisher_lock = threading.Lock()


def _publisher_for(layer) -> _Publisher | None:
    """The process's publisher for a Redis layer; None for the in-memory layer, whose
    queues belong to the consumers' loop (sends stay on the caller's loop, see
    ``collection.management.commands.serve.LoopBoundLayer``)."""
    global _publisher
    if layer is None or not type(layer).__module__.startswith("channels_redis."):
        return None
    publisher = _publisher
    if publisher is None or publisher.pid != os.getpid():  # first use, or a forked child
        with _publisher_lock:
            if _publisher is None or _publisher.pid != os.getpid():
                _publisher = _Publisher()
            publisher = _publisher
    return publisher


def publish_many(messages: Messages) -> None:
    """Send to the channel layer (sync callers); a broken layer never breaks a run."""
    layer = get_channel_layer()
    if layer is None or not messages:
        return
    publisher = _publisher_for(layer)
    if publisher is not None:
        try:
            publisher.submit(messages).result(timeout=PUBLISH_WAIT_SECONDS)
        except Exception:  # a timeout: Redis hangs; the events are stored
            logger.warning("could not publish to %s", messages[0][0], exc_info=True)
        return
    for group, message in messages:
        try:
            async_to_sync(layer.group_send)(group, message)
        except Exception:  # the layer is a best-effort accelerator over the stored events
            logger.warning("could not publish to %s", group, exc_info=True)


def hand_over(messages: Messages) -> concurrent.futures.Future | None:
    """Start sending through the publisher at once, from any thread; None when the layer
    has none (the caller then sends on its own loop with ``apublish_many``)."""
    publisher = _publisher_for(get_channel_layer())
    if publisher is None or not messages:
        return None
    return publisher.submit(messages)


async def apublish_many(messages: Messages, handed: concurrent.futures.Future | None = None):
    """Wait until ``messages`` are sent: through the publisher (``handed`` if they were
    already handed over) or on this loop (in-memory layer)."""
    if handed is None:
        handed = hand_over(messages)
    if handed is not None:
        await asyncio.wrap_future(handed)
        return
    for group, message in messages:
        await _apublish(group, message)


async def _apublish(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(group, message)
    except Exception:  # see publish_many
        logger.warning("could not publish to %s", group, exc_info=True)


def publish_on_commit(messages: Messages) -> None:
    """Ship finished payloads once the current transaction commits (nothing if it rolls
    back); at once outside a transaction. Zulip's ``send_event_on_commit``."""
    if messages:
        transaction.on_commit(lambda: publish_many(messages))
