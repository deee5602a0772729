import json

import pytest
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings


@pytest.mark.redis_only
async def test_redis_round_trip_through_redis_url():
    config = settings.CHANNEL_LAYERS["default"]
    assert config["BACKEND"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    # A layer of this test's own: the process-wide one may hold connections bound to an
    # earlier test's event loop.
    layer = RedisPubSubChannelLayer(**config["CONFIG"])
    try:
        channel = await layer.new_channel()
        await layer.group_add("scout-test-roundtrip", channel)
        payload = json.loads(json.dumps({"type": "run.frame", "first": 1, "last": 1, "text": "{}"}))
        await layer.group_send("scout-test-roundtrip", payload)
        assert await layer.receive(channel) == payload
        await layer.group_discard("scout-test-roundtrip", channel)
    finally:
        await layer.flush()
