import json

import pytest
from channels.layers import get_channel_layer
from django.conf import settings


@pytest.mark.redis_only
async def test_redis_round_trip_through_redis_url():
    assert "channels_redis" in settings.CHANNEL_LAYERS["default"]["BACKEND"]
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("scout-test-roundtrip", channel)
    payload = json.loads(json.dumps({"type": "run.frame", "events": [{"seq": 1, "action": "found"}]}))
    await layer.group_send("scout-test-roundtrip", payload)
    received = await layer.receive(channel)
    assert received == payload
    await layer.group_discard("scout-test-roundtrip", channel)
