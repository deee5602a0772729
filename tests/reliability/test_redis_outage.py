"""Redis goes away in the middle of a run, and comes back.

The deployment path: the run executes in its own process (``run_collection``) and its
events reach the web side only through Redis (channels-redis); a websocket client (the
real ASGI application) watches the run. The test's own redis-server is SIGKILLed while
the run is in its eBay phase and restarted on the same port a moment later. The run must
complete, every event must be stored (seq 1..N, nothing lost while publishing failed), and
a client that reconnects the way the page does (``?after=<last seq>``) must end with every
event exactly once across its two connections, in seq order.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings

from activity.models import RunEvent
from collection.models import CollectionRun, RunTask
from tests.activity.conftest import Client_, make_user, session_cookie
from tests.collection.engine_helpers import make_run, manage

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.redis_only,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ENV = {
    "MARKETPLACE": "sandbox",
    "SANDBOX_SEED": "4",
    "SANDBOX_LATENCY_MS": "100",
    "COLLECTION_LEASE_SECONDS": "5",
    "COLLECTION_HEARTBEAT_SECONDS": "0.3",
    "COLLECTION_FLUSH_SECONDS": "0.1",
    "ACTIVITY_FRAME_SECONDS": "0.1",
    "COLLECTION_RATE_LIMITS": "",
    "COLLECTION_QUOTAS": "",
    "COLLECTION_LOG_LEVEL": "WARNING",
}


def _layer(url: str) -> dict:
    """The project's own channel layer settings, pointed at the test's Redis."""
    layers = copy.deepcopy(django_settings.CHANNEL_LAYERS)
    assert "channels_redis" in layers["default"]["BACKEND"]
    host = layers["default"]["CONFIG"]["hosts"][0]
    assert isinstance(host, dict) and "address" in host
    host["address"] = url
    return layers


async def _drain_until_quiet(client: Client_, *, at_most: float = 0.5) -> list[int]:
    """Event seqs received until the connection is quiet for a moment, has died, or
    ``at_most`` seconds have passed."""
    seqs: list[int] = []
    deadline = time.monotonic() + at_most
    while time.monotonic() < deadline:
        try:
            if await client.communicator.receive_nothing(timeout=0.2):
                return seqs
            message = await client.communicator.receive_output(timeout=1)
        except Exception:  # its consumer died with the layer's connection
            return seqs
        if message["type"] == "websocket.close":
            return seqs
        data = json.loads(message["text"])
        if data["type"] == "events":
            seqs.extend(event["seq"] for event in data["events"])
    return seqs


@pytest.fixture
async def close_thread_connections():
    yield
    from django.db import connections

    await sync_to_async(connections.close_all)()


@pytest.mark.usefixtures("close_thread_connections")
async def test_redis_outage_mid_run_loses_no_event(settings, redis_server):
    settings.CHANNEL_LAYERS = _layer(redis_server.url)
    run = await sync_to_async(make_run)(node_ids=["12097479011"], workers=2, ebay_pages=3)
    viewer = await sync_to_async(make_user)("viewer", staff=True, perms=("view_collectionrun",))
    cookie = await sync_to_async(session_cookie)(viewer)

    first = Client_(f"/ws/runs/{run.pk}/", cookie=cookie)
    assert (await first.connect())[0]
    assert (await first.receive())["type"] == "status"
    assert (await first.receive()) == {"type": "synced", "through": 0}

    process = await sync_to_async(manage)(
        "run_collection",
        "--resume",
        str(run.pk),
        "--json",
        env_extra={**ENV, "REDIS_URL": redis_server.url},
    )
    try:
        # Live events arrive through Redis until the eBay phase is well under way...
        seen: list[int] = []
        deadline = time.monotonic() + 60
        ebay_done = sync_to_async(
            lambda: RunTask.objects.filter(run=run, phase="ebay", status="done").count()
        )
        while await ebay_done() < 10:
            assert time.monotonic() < deadline and process.poll() is None, "run too early"
            seen += await first.drain_events(timeout=0.05)
        assert seen, "no live event came through Redis"
        # ...then Redis dies for a second, and comes back empty on the same port.
        redis_server.kill()
        killed_at = await sync_to_async(lambda: CollectionRun.objects.get(pk=run.pk).event_seq)()
        await asyncio.sleep(1.0)  # the run goes on without Redis meanwhile
        redis_server.start()
        assert process.poll() is None, "the run should still be going"
        # What the first connection got (it may have died with Redis), then the page
        # reconnects with the last seq it has.
        seen += await _drain_until_quiet(first)
        try:
            await first.close()
        except Exception:  # its consumer already died with the layer's connection error
            pass
        second = Client_(f"/ws/runs/{run.pk}/?after={seen[-1]}", cookie=cookie)
        assert (await second.connect())[0]
        status = await second.receive()
        assert status["type"] == "status"
        assert status["run"]["status"] == "running", "reconnected too late to see live events"
        out, err = await asyncio.wait_for(
            sync_to_async(process.communicate, thread_sensitive=False)(), timeout=120
        )
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err[-3000:]
    assert json.loads(out.strip().splitlines()[-1])["status"] == "completed"

    run = await sync_to_async(CollectionRun.objects.get)(pk=run.pk)
    stored = await sync_to_async(list)(
        RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", "action")
    )
    assert [seq for seq, _ in stored] == list(range(1, run.event_seq + 1))
    assert stored[-1][1] == "completed"
    assert sum(action == "fetching" for _, action in stored) == run.requests
    assert run.stats.get("events/lost", 0) == 0
    assert killed_at < run.event_seq  # events were produced during and after the outage

    later: list[int] = []
    live = 0
    while not later or later[-1] < run.event_seq:
        message = await second.receive(timeout=30)
        if message["type"] == "events":
            later.extend(event["seq"] for event in message["events"])
            live += not message["replay"]
    assert live > 0, "no live event through the restarted Redis"
    assert seen == sorted(seen) and later == sorted(later)
    assert seen + later == list(range(1, run.event_seq + 1))  # each once, in order
    await second.close()
