"""`manage.py serve`: a run enqueued while the live page listens executes in the server's
task worker, and its events reach the websocket live."""

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

SETUP = """
import json
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, BACKEND_SESSION_KEY
from collection.models import Category
from collection.services.lifecycle import run_create
user = User.objects.create_superuser("op", "op@example.com", None)
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
run = run_create(categories=[Category.objects.get(node_id="3741261")], workers=4, ebay_pages=1)
print("SETUP " + json.dumps({"session": session.session_key, "run": run.pk}))
"""

ENQUEUE = "from collection.tasks import run_collection_task; run_collection_task.enqueue(run_id={})"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(database: Path, redis_url: str = "") -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(
        DATABASE_URL=f"sqlite:///{database}",
        DEBUG="True",
        COLLECTION_RUNS_OUT_OF_PROCESS="False",
        COLLECTION_SCHEDULER_SECONDS="0.5",
        SANDBOX_LATENCY_MS="60",  # the run lasts a moment: events arrive while it runs
        COLLECTION_QUOTAS="",
    )
    return env


def _manage(env, *args, timeout=120) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory) -> Path:
    """A migrated SQLite file (migrating takes a while); each test works on a copy."""
    database = tmp_path_factory.mktemp("serve") / "migrated.sqlite3"
    _manage(_env(database), "migrate", "--noinput")
    return database


async def _watch(port: int, session: str, run_id: int, enqueue) -> dict:
    seen = {"live_frames": 0, "live_events": 0, "actions": set(), "statuses": []}
    headers = {"Origin": f"http://127.0.0.1:{port}", "Cookie": f"sessionid={session}"}
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(
            f"http://127.0.0.1:{port}/ws/runs/{run_id}/", headers=headers
        ) as ws:
            first = await ws.receive_json(timeout=30)
            assert first["type"] == "status" and first["run"]["status"] == "queued"
            await asyncio.get_running_loop().run_in_executor(None, enqueue)
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                message = await ws.receive_json(timeout=deadline - time.monotonic())
                if message["type"] == "events" and not message["replay"]:
                    seen["live_frames"] += 1
                    seen["live_events"] += len(message["events"])
                    seen["actions"].update(event["action"] for event in message["events"])
                elif message["type"] == "status":
                    seen["statuses"].append(message["run"]["status"])
                    if message["run"]["status"] in ("completed", "failed", "cancelled"):
                        break
    return seen


@pytest.mark.parametrize("mode", ["embedded", pytest.param("redis", marks=pytest.mark.redis_only)])
def test_serve_runs_admin_started_runs_and_streams_their_events(
    tmp_path, mode, settings, migrated_sqlite
):
    """Embedded: worker thread in daphne's process. Redis: db_worker child processes."""
    redis_url = ""
    if mode == "redis":  # a database of its own: run ids of this throwaway site are small
        redis_url = settings.REDIS_URL.rsplit("/", 1)[0] + "/7"
    database = tmp_path / "serve.sqlite3"
    shutil.copyfile(migrated_sqlite, database)
    env = _env(database, redis_url)
    setup = json.loads(_manage(env, "shell", "-c", SETUP).split("SETUP ", 1)[1])
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port), "--task-workers", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = ""
        for line in server.stdout:
            if "Seller Scout on http://" in line:
                break
        assert "Seller Scout on http://" in line, line
        seen = asyncio.run(
            _watch(
                port,
                setup["session"],
                setup["run"],
                lambda: _manage(env, "shell", "-c", ENQUEUE.format(setup["run"])),
            )
        )
    finally:
        server.send_signal(2)
        try:
            output, _ = server.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
        print(output[-5000:])  # noqa: T201 -- the server's log, shown when the test fails
    assert seen["statuses"][-1] == "completed", seen
    # The whole run arrived live (not replayed), from its start to its last fetches, in
    # several frames pushed while it executed in the server's task worker.
    assert {"run_started", "fetching", "found"} <= seen["actions"], seen
    assert seen["live_frames"] >= 3 and seen["live_events"] >= 50, seen


def _idle_server_loop():
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    return loop


def _waiting_consumer(layer, loop):
    """A consumer on the server's loop, blocked in receive() like a websocket consumer."""

    async def join():
        channel = await layer.new_channel()
        await layer.group_add("run.1", channel)
        return channel

    channel = asyncio.run_coroutine_threadsafe(join(), loop).result(timeout=5)
    return asyncio.run_coroutine_threadsafe(layer.receive(channel), loop)


def test_events_from_a_run_loop_wake_the_server_loop_at_once():
    """A run's loop (worker thread) publishing to consumers waiting on daphne's loop."""
    from channels.layers import InMemoryChannelLayer

    from collection.management.commands.serve import LoopBoundLayer

    layer = InMemoryChannelLayer()
    loop = _idle_server_loop()
    received = _waiting_consumer(layer, loop)
    time.sleep(0.05)
    started = time.monotonic()
    asyncio.run(LoopBoundLayer(layer, loop).group_send("run.1", {"type": "run.frame"}))
    assert received.result(timeout=5) == {"type": "run.frame"}
    assert time.monotonic() - started < 0.5
    loop.call_soon_threadsafe(loop.stop)

    # Why it exists: sent straight from the other loop, the message sits in the queue and
    # the idle server loop is never woken up to deliver it.
    layer = InMemoryChannelLayer()
    loop = _idle_server_loop()
    received = _waiting_consumer(layer, loop)
    time.sleep(0.05)
    asyncio.run(layer.group_send("run.1", {"type": "run.frame"}))
    with pytest.raises(TimeoutError):
        received.result(timeout=1)
    loop.call_soon_threadsafe(loop.stop)
