"""Fixtures for the live-activity tests: users, runs, websocket clients, stored events."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.test import Client

from activity.events import EventRecorder
from activity.payloads import Action
from collection.models import Category
from collection.services.lifecycle import run_create

PASSWORD = "correct-horse-battery-staple"


def make_user(username: str, *, staff: bool, perms: tuple[str, ...] = ()) -> User:
    # No password: tests log in with force_login (hashing one costs ~0.5 s of CPU).
    user = User.objects.create_user(username, password=None, is_staff=staff)
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


@pytest.fixture
def viewer(db):
    """Staff who may view runs (not change them)."""
    return make_user("viewer", staff=True, perms=("view_collectionrun",))


@pytest.fixture
def operator(db):
    """Staff who may view and change runs."""
    return make_user("operator", staff=True, perms=("view_collectionrun", "change_collectionrun"))


@pytest.fixture
def staff_without_permission(db):
    return make_user("bystander", staff=True)


@pytest.fixture
def non_staff(db):
    return make_user("customer", staff=False, perms=("view_collectionrun",))


def new_run():
    # Transactional tests flush the catalogue the data migration loaded: bring one back.
    category, _ = Category.objects.get_or_create(
        node_id="172282", defaults={"name": "Electronics", "department": "Electronics"}
    )
    return run_create(categories=[category], workers=3)


@pytest.fixture
def run(db):
    return new_run()


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def record_events(run_id: int, count: int, *, recorder: EventRecorder | None = None) -> int:
    """Store ``count`` worker events (committed) and return the last seq."""
    recorder = recorder or EventRecorder(run_id)
    for i in range(count):
        recorder.emit(
            Action.FETCHING,
            worker=1 + i % 3,
            phase="ebay",
            url="https://api.example/x",
            page=1 + i % 3,
            product=f"product {i}",
            attempt=1,
        )
    recorder.flush()
    from collection.models import CollectionRun

    return CollectionRun.objects.values_list("event_seq", flat=True).get(pk=run_id)


class Client_:
    """A websocket client of the real ASGI application (origin check, auth stack, routes)."""

    def __init__(self, path: str, *, cookie: str | None = None, origin: str = "http://testserver"):
        from config.asgi import application

        headers = [(b"host", b"testserver")]
        if origin:
            headers.append((b"origin", origin.encode()))
        if cookie:
            headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
        self.communicator = WebsocketCommunicator(application, path, headers=headers)
        self.messages: list[dict] = []

    async def connect(self):
        return await self.communicator.connect(timeout=5)

    async def receive(self, timeout: float = 3.0) -> dict:
        message = await self.communicator.receive_json_from(timeout=timeout)
        self.messages.append(message)
        return message

    async def send(self, message: dict) -> None:
        await self.communicator.send_json_to(message)

    async def close_code(self, timeout: float = 3.0):
        output = await self.communicator.receive_output(timeout=timeout)
        assert output["type"] == "websocket.close", output
        return output.get("code")

    async def events_until(self, last_seq: int, timeout: float = 10.0) -> list[int]:
        """Receive until an event with ``last_seq`` arrived; return every event seq received,
        in the order received (duplicates included)."""
        seqs: list[int] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not seqs or seqs[-1] < last_seq:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"timed out at {seqs[-5:]} waiting for seq {last_seq}")
            message = await self.receive(timeout=remaining)
            if message["type"] == "events":
                # Every payload is plain JSON (what Redis carries as msgpack).
                assert json.loads(json.dumps(message)) == message
                seqs.extend(event["seq"] for event in message["events"])
        return seqs

    async def drain_events(self, timeout: float = 0.3) -> list[int]:
        """Seqs of every event that arrives within ``timeout`` (other messages ignored)."""
        seqs: list[int] = []
        while not await self.communicator.receive_nothing(timeout=timeout):
            message = await self.receive()
            if message["type"] == "events":
                seqs.extend(event["seq"] for event in message["events"])
        return seqs

    async def close(self) -> None:
        await self.communicator.disconnect()


@pytest.fixture
async def ws():
    """Factory of websocket clients, all disconnected at the end of the test."""
    clients: list[Client_] = []

    def factory(path: str, **kwargs) -> Client_:
        client = Client_(path, **kwargs)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        try:
            await client.close()
        except (Exception, asyncio.CancelledError):  # the application already ended
            pass


adb = sync_to_async


@pytest.fixture
async def close_thread_connections():
    """ORM calls through sync_to_async run in asgiref's executor thread, whose database
    connections pytest-django does not close; close them so the test database can be
    flushed and dropped."""
    yield
    from django.db import connections

    await sync_to_async(connections.close_all)()


@pytest.fixture
async def recorders():
    """EventRecorder factory; each is closed at teardown (no status left owed on a loop
    that is about to end)."""
    made: list[EventRecorder] = []

    def factory(run_id: int) -> EventRecorder:
        recorder = EventRecorder(run_id)
        made.append(recorder)
        return recorder

    yield factory
    for recorder in made:
        try:
            await recorder.aclose()
        except Exception:  # the test may have failed half-way; teardown must go on
            pass


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The run page's seller board is cached per run id, and ids repeat across tests."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
