"""The websocket consumers through the real ASGI stack (origin check, sessions, routes),
against channels-redis when REDIS_URL is set and the in-memory layer otherwise."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer

from activity.access import CLOSE_FORBIDDEN, CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED
from activity.payloads import Action, frame_message, run_group
from activity.selectors import RESYNC_CHUNK
from collection.models import CollectionRun
from collection.services.lifecycle import run_transition

from .conftest import adb, new_run, record_events, session_cookie

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_thread_connections"),
]


async def test_anonymous_is_closed_with_4401(ws, run):
    client = ws(f"/ws/runs/{run.pk}/")
    connected, _ = await client.connect()
    assert connected
    assert await client.close_code() == CLOSE_UNAUTHENTICATED


@pytest.fixture(params=["non_staff", "staff_without_permission"])
def refused_user(request, db):
    return request.getfixturevalue(request.param)


async def test_users_who_may_not_view_runs_are_closed_with_4403(ws, run, refused_user):
    user = refused_user
    for path in (f"/ws/runs/{run.pk}/", "/ws/runs/"):
        client = ws(path, cookie=await adb(session_cookie)(user))
        connected, _ = await client.connect()
        assert connected
        assert await client.close_code() == CLOSE_FORBIDDEN


async def test_foreign_origin_is_rejected_at_the_handshake(ws, run, viewer):
    client = ws(
        f"/ws/runs/{run.pk}/",
        cookie=await adb(session_cookie)(viewer),
        origin="https://evil.example",
    )
    connected, _ = await client.connect()
    assert not connected


async def test_unknown_run_is_closed_with_4404(ws, viewer):
    client = ws("/ws/runs/999999/", cookie=await adb(session_cookie)(viewer))
    assert (await client.connect())[0]
    assert await client.close_code() == CLOSE_NOT_FOUND


async def test_backlog_after_last_seq_then_live_events(recorders, ws, run, viewer):
    recorder = recorders(run.pk)
    assert await adb(record_events)(run.pk, 5, recorder=recorder) == 5
    client = ws(f"/ws/runs/{run.pk}/?after=2", cookie=await adb(session_cookie)(viewer))
    assert (await client.connect())[0]

    status = await client.receive()
    assert status["type"] == "status"
    assert status["run"]["id"] == run.pk and status["run"]["event_seq"] == 5
    backlog = await client.receive()
    assert backlog["type"] == "events" and backlog["replay"] is True
    assert [e["seq"] for e in backlog["events"]] == [3, 4, 5]
    assert backlog["events"][0]["action"] == Action.FETCHING
    assert (await client.receive()) == {"type": "synced", "through": 5}

    recorder.emit(Action.FOUND, worker=2, phase="ebay", count=7, skipped=0, has_next=False)
    recorder.emit(Action.ERROR, worker=3, phase="ebay", error_type="timeout", message="slow")
    await recorder.aflush()
    seqs = await client.events_until(7)
    assert seqs == [6, 7]


async def test_backlog_larger_than_a_chunk_arrives_in_order(ws, run, viewer):
    total = RESYNC_CHUNK + 20
    await adb(record_events)(run.pk, total)
    client = ws(f"/ws/runs/{run.pk}/", cookie=await adb(session_cookie)(viewer))
    assert (await client.connect())[0]
    assert (await client.receive())["type"] == "status"
    seqs = await client.events_until(total)
    assert seqs == list(range(1, total + 1))
    assert (await client.receive()) == {"type": "synced", "through": total}


async def test_resync_answers_from_the_database(ws, run, viewer):
    await adb(record_events)(run.pk, 8)
    client = ws(f"/ws/runs/{run.pk}/?after=8", cookie=await adb(session_cookie)(viewer))
    assert (await client.connect())[0]
    assert (await client.receive())["type"] == "status"
    assert (await client.receive()) == {"type": "synced", "through": 8}

    await client.send({"type": "resync", "after": 3})
    message = await client.receive()
    assert [e["seq"] for e in message["events"]] == [4, 5, 6, 7, 8]
    assert (await client.receive()) == {"type": "synced", "through": 8}

    await client.send({"type": "resync", "after": "bogus"})
    assert (await client.receive())["type"] == "error"
    await client.send({"type": "subscribe"})
    assert (await client.receive())["type"] == "error"


async def test_a_lost_frame_is_filled_from_the_database(recorders, ws, run, viewer):
    """A frame the layer dropped: the next frame shows a gap; the client still gets every
    event once, in seq order."""
    client = ws(f"/ws/runs/{run.pk}/", cookie=await adb(session_cookie)(viewer))
    assert (await client.connect())[0]
    assert (await client.receive())["type"] == "status"
    assert (await client.receive())["type"] == "synced"

    recorder = recorders(run.pk)
    for i in range(3):
        recorder.emit(Action.FETCHING, worker=1, phase="amazon", page=i)
    # Stored, never published: what a dropped group message looks like to a consumer.
    await adb(recorder._persist)(recorder._take())
    recorder.emit(Action.FOUND, worker=1, phase="amazon", count=50)
    await recorder.aflush()
    assert await client.events_until(4) == [1, 2, 3, 4]

    # A late duplicate of something already sent is not forwarded again.
    layer = get_channel_layer()
    await layer.group_send(
        run_group(run.pk),
        frame_message(
            run.pk,
            [
                {
                    "run": run.pk,
                    "seq": 4,
                    "ts": "2026-01-01T00:00:00+00:00",
                    "worker": 1,
                    "phase": "amazon",
                    "action": "found",
                    "data": {},
                }
            ],
        ),
    )
    assert await client.drain_events() == []


async def test_frames_during_the_backlog_are_neither_lost_nor_reordered(recorders, ws, run, viewer):
    """Clients connect while a producer keeps flushing: each ends with every event exactly
    in seq order (duplicates, if any, only as overlap the client dedupes)."""
    await adb(record_events)(run.pk, RESYNC_CHUNK + 100)  # a backlog of two chunks
    recorder = recorders(run.pk)
    batches = 30

    async def produce():
        for b in range(batches):
            for i in range(5):
                recorder.emit(Action.FETCHING, worker=1 + i, phase="ebay", page=b)
            await recorder.aflush()
            await asyncio.sleep(0.01)

    cookie = await adb(session_cookie)(viewer)
    clients = [ws(f"/ws/runs/{run.pk}/", cookie=cookie) for _ in range(3)]
    producer = asyncio.create_task(produce())
    for client in clients:
        assert (await client.connect())[0]
        await asyncio.sleep(0.02)
    await producer
    last = RESYNC_CHUNK + 100 + batches * 5
    for client in clients:
        seqs = await client.events_until(last)
        assert seqs == sorted(seqs)
        assert sorted(set(seqs)) == list(range(1, last + 1))


async def test_two_clients_each_get_every_event(recorders, ws, run, viewer, operator):
    recorder = recorders(run.pk)
    a = ws(f"/ws/runs/{run.pk}/", cookie=await adb(session_cookie)(viewer))
    b = ws(f"/ws/runs/{run.pk}/", cookie=await adb(session_cookie)(operator))
    for client in (a, b):
        assert (await client.connect())[0]
        assert (await client.receive())["type"] == "status"
        assert (await client.receive())["type"] == "synced"
    for batch in range(10):
        for worker in (1, 2):
            recorder.emit(Action.FETCHING, worker=worker, phase="amazon", page=batch)
        await recorder.aflush()
    assert await a.events_until(20) == list(range(1, 21))
    assert await b.events_until(20) == list(range(1, 21))


async def test_status_changes_reach_the_run_page(ws, run, viewer):
    client = ws(f"/ws/runs/{run.pk}/", cookie=await adb(session_cookie)(viewer))
    assert (await client.connect())[0]
    assert (await client.receive())["run"]["status"] == "queued"
    assert (await client.receive())["type"] == "synced"
    await adb(run_transition)(run_id=run.pk, to=CollectionRun.Status.RUNNING)
    message = await client.receive()
    assert message["type"] == "status"
    assert message["run"]["status"] == "running"
    assert set(message["run"]["progress"]) == {"amazon", "ebay"}


async def test_run_list_stream_sends_the_listed_runs_then_coalesced_updates(ws, run, viewer):
    other = await adb(new_run)()
    client = ws("/ws/runs/", cookie=await adb(session_cookie)(viewer))
    assert (await client.connect())[0]
    first = await client.receive()
    assert first["type"] == "runs"
    assert {r["id"] for r in first["runs"]} == {run.pk, other.pk}

    # A burst of status messages: the stream sends at most two messages per second,
    # the latest summary of each run winning.
    layer = get_channel_layer()
    for i in range(20):
        for run_id in (run.pk, other.pk):
            await layer.group_send(
                "runs",
                {
                    "type": "run.status",
                    "run": {"id": run_id, "status": "running", "event_seq": i, "requests": i},
                },
            )
    received = []
    loop = asyncio.get_running_loop()
    start = loop.time()
    while loop.time() - start < 1.2:
        if not await client.communicator.receive_nothing(timeout=1.25 - (loop.time() - start)):
            received.append(await client.receive())
    assert 1 <= len(received) <= 3
    final = {}
    for message in received:
        assert message["type"] == "runs"
        final.update({r["id"]: r for r in message["runs"]})
    assert final[run.pk]["requests"] == 19 and final[other.pk]["requests"] == 19


async def test_run_list_stream_hears_events_flushed_by_a_run(recorders, ws, run, viewer):
    client = ws("/ws/runs/", cookie=await adb(session_cookie)(viewer))
    assert (await client.connect())[0]
    assert (await client.receive())["type"] == "runs"
    recorder = recorders(run.pk)
    recorder.emit(Action.RUN_STARTED)
    await recorder.aflush()
    message = await client.receive()
    assert message["type"] == "runs"
    [summary] = message["runs"]
    assert summary["id"] == run.pk and summary["event_seq"] == 1


async def test_a_member_that_never_reads_holds_up_neither_the_run_nor_other_clients(
    recorders, ws, run, viewer
):
    layer = get_channel_layer()
    stuck = await layer.new_channel()
    await layer.group_add(run_group(run.pk), stuck)  # joined, never receives
    client = ws(f"/ws/runs/{run.pk}/", cookie=await adb(session_cookie)(viewer))
    assert (await client.connect())[0]
    recorder = recorders(run.pk)
    frames = 105  # past the in-memory layer's capacity (100) for the stuck channel

    async def run_frames():
        for i in range(frames):
            recorder.emit(Action.FETCHING, worker=1, phase="ebay", page=i)
            await recorder.aflush()

    await asyncio.wait_for(run_frames(), timeout=60)
    seqs = await client.events_until(frames)
    assert sorted(set(seqs)) == list(range(1, frames + 1)) and seqs == sorted(seqs)
    await layer.group_discard(run_group(run.pk), stuck)
