"""Events are published only after their transaction commits, as plain-JSON frames."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction

from activity.events import RUNS_GROUP, Action, EventRecorder, run_group
from activity.models import RunEvent
from collection.models import CollectionRun
from collection.services.runs import run_transition

from .conftest import new_run

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_thread_connections"),
]


class Boom(Exception):
    pass


async def listen(*groups: str):
    layer = get_channel_layer()
    channel = await layer.new_channel()
    for group in groups:
        await layer.group_add(group, channel)
    return layer, channel


async def drain(layer, channel, timeout: float = 0.4) -> list[dict]:
    """Every message that arrives on the channel within ``timeout``."""
    messages = []
    while True:
        try:
            messages.append(await asyncio.wait_for(layer.receive(channel), timeout))
        except asyncio.TimeoutError:
            return messages


async def test_a_rolled_back_transaction_publishes_nothing():
    run = await sync_to_async(new_run)()
    layer, channel = await listen(run_group(run.pk), RUNS_GROUP)

    def flush_then_roll_back():
        recorder = EventRecorder(run.pk)  # sync flush: publishes on commit, owes nothing
        with pytest.raises(Boom), transaction.atomic():
            recorder.emit(Action.FETCHING, worker=1, phase="amazon", page=1)
            recorder.flush()
            run_transition(run_id=run.pk, to=CollectionRun.Status.RUNNING)
            raise Boom

    await sync_to_async(flush_then_roll_back)()
    assert await drain(layer, channel) == []
    assert await sync_to_async(RunEvent.objects.filter(run=run).count)() == 0
    run = await CollectionRun.objects.aget(pk=run.pk)
    assert run.event_seq == 0 and run.status == "queued"


async def test_a_committed_flush_publishes_one_frame_and_a_status():
    run = await sync_to_async(new_run)()
    layer, channel = await listen(run_group(run.pk))

    def flush_in_transaction():
        recorder = EventRecorder(run.pk)
        with transaction.atomic():
            for page in (1, 2, 3):
                recorder.emit(Action.FETCHING, worker=1, phase="amazon", page=page)
            recorder.flush()

    await sync_to_async(flush_in_transaction)()
    messages = await drain(layer, channel)
    frames = [m for m in messages if m["type"] == "run.frame"]
    statuses = [m for m in messages if m["type"] == "run.status"]
    assert len(frames) == 1 and len(statuses) == 1
    assert [e["seq"] for e in frames[0]["events"]] == [1, 2, 3]
    assert json.loads(json.dumps(frames[0])) == frames[0]
    assert statuses[0]["run"]["event_seq"] == 3


async def test_run_status_is_rate_limited_and_the_last_one_always_sent(recorders, settings):
    interval = settings.ACTIVITY_STATUS_SECONDS = 0.3
    run = await sync_to_async(new_run)()
    layer, channel = await listen(RUNS_GROUP)
    recorder = recorders(run.pk)
    loop = asyncio.get_running_loop()
    began = loop.time()
    for _ in range(10):  # a burst of ten frames
        recorder.emit(Action.FETCHING, worker=1, phase="amazon", page=1)
        await recorder.aflush()
        await asyncio.sleep(0.02)
    burst = loop.time() - began
    messages = await drain(layer, channel, timeout=3 * interval)  # until quiet
    seqs = [m["run"]["event_seq"] for m in messages]
    # The first frame's status at once, then at most one per interval; the burst's last
    # counters always follow (a trailing status; a repeat of the same is harmless).
    assert seqs[0] == 1 and seqs[-1] == 10 and seqs == sorted(seqs)
    assert len(messages) <= burst / interval + 2
    # After a quiet interval the next flush publishes its status itself; nothing is owed.
    recorder.emit(Action.FOUND, worker=1, phase="amazon", count=1)
    await recorder.aflush()
    messages = await drain(layer, channel, timeout=3 * interval)
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
