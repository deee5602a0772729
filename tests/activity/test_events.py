"""Events are published only after their transaction commits, as plain-JSON frames."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connections, transaction

from activity.events import EventRecorder
from activity.models import RunEvent
from activity.payloads import RUNS_GROUP, Action, run_group
from collection.models import CollectionRun
from collection.services.lifecycle import run_transition

from .conftest import new_run

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_thread_connections"),
]


class Boom(Exception):
    pass


class Listener:
    """A channel in some groups, read the way a consumer reads it: one receive at a time,
    never cancelled in between (the pub/sub layer forgets a channel whose receive is
    cancelled, and drops what arrives for it until the next receive)."""

    def __init__(self, layer, channel: str) -> None:
        self.layer, self.channel = layer, channel
        self.pending: asyncio.Future | None = None

    async def drain(self, timeout: float = 0.4) -> list[dict]:
        """Every message that arrives within ``timeout`` of the previous one."""
        messages = []
        while True:
            if self.pending is None:
                self.pending = asyncio.ensure_future(self.layer.receive(self.channel))
            done, _ = await asyncio.wait({self.pending}, timeout=timeout)
            if not done:
                return messages
            messages.append(self.pending.result())
            self.pending = None


@pytest.fixture
async def listen():
    made: list[Listener] = []

    async def factory(*groups: str) -> Listener:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        for group in groups:
            await layer.group_add(group, channel)
        made.append(Listener(layer, channel))
        return made[-1]

    yield factory
    for listener in made:
        if listener.pending is not None:
            listener.pending.cancel()
            await asyncio.gather(listener.pending, return_exceptions=True)


async def test_a_rolled_back_transaction_publishes_nothing(listen):
    run = await sync_to_async(new_run)()
    listener = await listen(run_group(run.pk), RUNS_GROUP)

    def flush_then_roll_back():
        recorder = EventRecorder(run.pk)  # sync flush: publishes on commit, owes nothing
        with pytest.raises(Boom), transaction.atomic():
            recorder.emit(Action.FETCHING, worker=1, phase="amazon", page=1)
            recorder.flush()
            run_transition(run_id=run.pk, to=CollectionRun.Status.RUNNING)
            raise Boom

    await sync_to_async(flush_then_roll_back)()
    assert await listener.drain() == []
    assert await sync_to_async(RunEvent.objects.filter(run=run).count)() == 0
    run = await CollectionRun.objects.aget(pk=run.pk)
    assert run.event_seq == 0 and run.status == "queued"


async def test_a_committed_flush_publishes_one_frame_and_a_status(listen):
    run = await sync_to_async(new_run)()
    listener = await listen(run_group(run.pk))

    def flush_in_transaction():
        recorder = EventRecorder(run.pk)
        with transaction.atomic():
            for page in (1, 2, 3):
                recorder.emit(Action.FETCHING, worker=1, phase="amazon", page=page)
            recorder.flush()

    await sync_to_async(flush_in_transaction)()
    messages = await listener.drain()
    frames = [m for m in messages if m["type"] == "run.frame"]
    statuses = [m for m in messages if m["type"] == "run.status"]
    assert len(frames) == 1 and len(statuses) == 1
    assert json.loads(json.dumps(frames[0])) == frames[0]
    assert (frames[0]["first"], frames[0]["last"]) == (1, 3)
    page_message = json.loads(frames[0]["text"])  # what every page receives, as is
    assert page_message["type"] == "events" and page_message["replay"] is False
    assert [e["seq"] for e in page_message["events"]] == [1, 2, 3]
    assert [e["data"]["page"] for e in page_message["events"]] == [1, 2, 3]
    assert statuses[0]["run"]["event_seq"] == 3


async def test_run_status_is_rate_limited_and_the_last_one_always_sent(listen, recorders, settings):
    interval = settings.ACTIVITY_STATUS_SECONDS = 0.3
    run = await sync_to_async(new_run)()
    listener = await listen(RUNS_GROUP)
    recorder = recorders(run.pk)
    loop = asyncio.get_running_loop()
    began = loop.time()
    for _ in range(10):  # a burst of ten frames
        recorder.emit(Action.FETCHING, worker=1, phase="amazon", page=1)
        await recorder.aflush()
        await asyncio.sleep(0.02)
    burst = loop.time() - began
    messages = await listener.drain(timeout=3 * interval)  # until quiet
    seqs = [m["run"]["event_seq"] for m in messages]
    # The first frame's status at once, then at most one per interval; the burst's last
    # counters always follow (a trailing status; a repeat of the same is harmless).
    assert seqs[0] == 1 and seqs[-1] == 10 and seqs == sorted(seqs)
    assert len(messages) <= burst / interval + 2
    # After a quiet interval the next flush publishes its status itself; nothing is owed.
    recorder.emit(Action.FOUND, worker=1, phase="amazon", count=1)
    await recorder.aflush()
    messages = await listener.drain(timeout=3 * interval)
    assert [m["run"]["event_seq"] for m in messages] == [11]


async def test_seq_is_strictly_increasing_across_recorders(recorders):
    """Two processes (two recorders) flushing the same run never share or skip a seq."""
    run = await sync_to_async(new_run)()
    first, second = recorders(run.pk), recorders(run.pk)
    for i in range(20):
        for recorder in (first, second):
            recorder.emit(Action.FETCHING, worker=1, phase="ebay", page=i)
            await recorder.aflush()
    stored = RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", flat=True)
    seqs = [seq async for seq in stored]
    assert seqs == list(range(1, 41))


async def test_a_busy_run_gets_its_frame_early_a_quiet_one_on_time(recorders, settings):
    """frame_due: a frame's worth of buffered events makes the next frame due at once
    (after the floor of a quarter interval); fewer wait for the interval."""
    settings.ACTIVITY_FRAME_EVENTS = 5
    run = await sync_to_async(new_run)()
    recorder = recorders(run.pk)
    loop = asyncio.get_running_loop()

    began = loop.time()
    for page in range(2):
        recorder.emit(Action.FETCHING, worker=1, phase="ebay", page=page)
    await recorder.frame_due(0.4)
    assert loop.time() - began >= 0.39  # 2 of 5: the whole interval

    recorder._take()  # flushed

    async def busy_workers():
        await asyncio.sleep(0.6)  # past the floor (a quarter of 2 s)
        for page in range(5):
            recorder.emit(Action.FETCHING, worker=2, phase="ebay", page=page)

    began = loop.time()
    filling = asyncio.create_task(busy_workers())
    await recorder.frame_due(2.0)
    assert 0.59 <= loop.time() - began < 1.5  # woken by the 5th event, not after 2 s
    await filling

    began = loop.time()
    await recorder.frame_due(0.4)  # already full: due after the floor (0.1 s)
    assert 0.09 <= loop.time() - began < 0.3


@pytest.mark.redis_only
async def test_a_frame_leaves_while_the_flushing_thread_is_still_busy(listen, recorders):
    """With Redis, the frame is handed to the publisher thread once stored: it reaches the
    group even if whoever flushed does not get to run again for a while (a run's loop
    busy with its workers)."""
    run = await sync_to_async(new_run)()
    listener = await listen(run_group(run.pk))
    recorder = recorders(run.pk)
    for page in (1, 2):
        recorder.emit(Action.FETCHING, worker=1, phase="ebay", page=page)
    released = threading.Event()

    def store_then_stay_busy():
        try:
            recorder._persist_and_hand_over(recorder._take(), with_status=False)
            released.wait(5)  # the flusher is busy; nothing here sends anything
        finally:
            connections.close_all()  # this thread's own connection

    busy = asyncio.ensure_future(sync_to_async(store_then_stay_busy, thread_sensitive=False)())
    try:
        messages = await listener.drain(timeout=1.0)
        assert not busy.done()
    finally:
        released.set()
        await busy
    frames = [m for m in messages if m["type"] == "run.frame"]
    assert [(f["first"], f["last"]) for f in frames] == [(1, 2)]
