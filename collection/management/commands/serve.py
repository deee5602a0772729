"""python manage.py serve [--host H] [--port P] [--task-workers N] [--no-worker] [--no-scheduler]

One machine, one command: daphne (HTTP + websockets), task workers that execute runs
started from the admin, and the scheduler (due schedules, orphaned and stranded runs).

- Embedded default (in-memory channel layer): the workers and the scheduler are threads of
  this process, because the in-memory layer cannot carry events between processes. Each
  run executes on its own event loop in a worker thread; its events are handed to the
  server's loop (``LoopBoundLayer``) so the live page gets them at once.
- With ``REDIS_URL``: ``db_worker`` and ``run_scheduler`` run as child processes (restarted
  if they exit), and events cross processes through Redis.

Stopping (Ctrl-C) ends the server; a run in progress stops with the process and is
resumed automatically by the scheduler once its heartbeat is older than
``COLLECTION_LEASE_SECONDS`` (on the next start, or by another machine's workers).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.crypto import get_random_string

from collection.services.schedules import scheduler_loop

logger = logging.getLogger("collection.serve")

ROOT = Path(__file__).resolve().parents[3]


class LoopBoundLayer:
    """The in-memory channel layer, shared by the server's loop and the runs' loops.

    ``InMemoryChannelLayer`` keeps ``asyncio.Queue`` objects that belong to the loop of the
    consumers waiting on them (daphne's). A run executes on another loop in a worker
    thread; a ``send`` from there would wake nobody until daphne's loop happened to run.
    Calls made from another loop are therefore run on the server's loop.
    """

    def __init__(self, layer, loop: asyncio.AbstractEventLoop) -> None:
        self._layer = layer
        self._loop = loop

    def __getattr__(self, name):
        return getattr(self._layer, name)

    async def _on_server_loop(self, coroutine):
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            return await coroutine
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self._loop))

    async def send(self, channel, message):
        return await self._on_server_loop(self._layer.send(channel, message))

    async def group_send(self, group, message):
        return await self._on_server_loop(self._layer.group_send(group, message))


def bind_in_memory_layer(loop: asyncio.AbstractEventLoop) -> bool:
    """Route the default in-memory layer's sends through ``loop``; False for other layers."""
    from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers

    layer = channel_layers[DEFAULT_CHANNEL_LAYER]
    if isinstance(layer, LoopBoundLayer):
        return True
    if type(layer).__name__ != "InMemoryChannelLayer":
        return False
    channel_layers.backends[DEFAULT_CHANNEL_LAYER] = LoopBoundLayer(layer, loop)
    return True


class WorkerThread(threading.Thread):
    """A ``db_worker`` loop (django-tasks-db's Worker) in a thread of this process."""

    def __init__(self, index: int, interval: float) -> None:
        super().__init__(name=f"task-worker-{index}", daemon=True)
        from django_tasks_db.management.commands.db_worker import Worker

        self.worker = Worker(
            queue_names=["default"],
            interval=interval,
            batch=False,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            excluded_queue_names=[],
            worker_id=f"serve-{os.getpid()}-{index}-{get_random_string(6)}",
        )

    def run(self) -> None:
        from django.db import connections

        try:
            self.worker.run()
        except Exception:  # noqa: BLE001 - a dead worker thread must say why
            logger.exception("%s stopped", self.name)
        finally:
            connections.close_all()

    def stop(self) -> None:
        self.worker.running = False


class ChildProcess:
    """A manage.py child (db_worker, run_scheduler), restarted when it exits."""

    def __init__(self, name: str, args: list[str]) -> None:
        self.name = name
        self.args = [sys.executable, str(ROOT / "manage.py"), *args]
        self.process: subprocess.Popen | None = None
        self.stopping = False

    def start(self) -> None:
        self.process = subprocess.Popen(self.args, cwd=ROOT)
        logger.info("%s started (pid %s)", self.name, self.process.pid)

    def watch(self) -> None:
        if self.stopping or self.process is None:
            return
        code = self.process.poll()
        if code is not None:
            logger.warning("%s exited with %s; restarting it", self.name, code)
            self.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping = True
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Command(BaseCommand):
    help = (
        "Serve Seller Scout on one machine: daphne (web + websockets), task workers that "
        "execute admin-started runs, and the scheduler."
    )
    # Checked in handle(), once it is known whether runs execute in this process.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--task-workers",
            type=int,
            default=None,
            help="Runs executed at once (default COLLECTION_MAX_ACTIVE_RUNS).",
        )
        parser.add_argument("--no-worker", action="store_true", help="Web server only.")
        parser.add_argument("--no-scheduler", action="store_true", help="No scheduler.")

    def handle(self, *, host, port, task_workers, no_worker, no_scheduler, **options):
        from channels.routing import get_default_application
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server, twisted_loop

        task_workers = settings.COLLECTION_MAX_ACTIVE_RUNS if task_workers is None else task_workers
        if task_workers < 0:
            raise CommandError("--task-workers cannot be negative.", returncode=2)
        if no_worker:
            task_workers = 0
        in_process = bind_in_memory_layer(twisted_loop)
        if in_process:
            # The workers are threads of this process: the in-memory layer reaches the live
            # pages, so activity.E001 (runs in another process) does not apply.
            settings.COLLECTION_RUNS_OUT_OF_PROCESS = False
        self.check(display_num_errors=False)
        threads: list[threading.Thread] = []
        children: list[ChildProcess] = []
        stop = threading.Event()

        if in_process:
            threads += [WorkerThread(i + 1, interval=1.0) for i in range(task_workers)]
            if not no_scheduler:
                threads.append(
                    threading.Thread(
                        target=self._scheduler,
                        args=(stop, scheduler_loop),
                        name="scheduler",
                        daemon=True,
                    )
                )
            mode = f"{task_workers} task worker thread(s) in this process (in-memory channel layer)"
        else:
            children += [
                ChildProcess(f"db_worker {i + 1}", ["db_worker", "--no-reload", "--interval", "1"])
                for i in range(task_workers)
            ]
            if not no_scheduler:
                children.append(ChildProcess("scheduler", ["run_scheduler"]))
            mode = f"{task_workers} db_worker process(es) (events through Redis)"

        def ready() -> None:
            for thread in threads:
                thread.start()
            for child in children:
                child.start()
            if children:
                threading.Thread(
                    target=self._supervise, args=(stop, children), name="supervisor", daemon=True
                ).start()
            self.stdout.write(
                f"Seller Scout on http://{host}:{port}/ (admin: /admin/, runs: /runs/); "
                f"{mode}{'' if no_scheduler else ' and the scheduler'}. Ctrl-C stops."
            )

        server = Server(
            application=get_default_application(),
            endpoints=build_endpoint_description_strings(host=host, port=port),
            signal_handlers=True,
            ready_callable=ready,
            verbosity=options.get("verbosity", 1),
        )
        try:
            server.run()
        finally:
            stop.set()
            for thread in threads:
                if isinstance(thread, WorkerThread):
                    thread.stop()
            for child in children:
                child.stop()
            for thread in threads:
                thread.join(timeout=2)
            busy = [t.name for t in threads if t.is_alive()]
            if busy:
                self.stdout.write(
                    f"Stopped with {', '.join(busy)} busy: a run in progress resumes by itself "
                    f"{settings.COLLECTION_LEASE_SECONDS} s after its last heartbeat, once a "
                    "worker and the scheduler are back."
                )

    @staticmethod
    def _scheduler(stop: threading.Event, scheduler_loop) -> None:
        from django.db import connections

        try:
            scheduler_loop(stop=stop, interval=settings.COLLECTION_SCHEDULER_SECONDS)
        finally:
            connections.close_all()

    @staticmethod
    def _supervise(stop: threading.Event, children: list[ChildProcess]) -> None:
        while not stop.wait(1.0):
            for child in children:
                child.watch()
