"""One run over several processes of this machine: this one and its joiners.

The process that starts (or resumes) a run executes it with its share of the workers and
starts ``processes - 1`` joiners. A joiner waits until this process has the run running,
then takes part in it the way a task worker an operator added does (``run_join_execute``
→ the engine, which JOINs: tasks are claimed with SKIP LOCKED under leases, so nobody
repeats anybody's work)::

    this process ──fork (or spawn), own session──► joiner 1 … N-1
                   stdin:  the lifeline (this process holds the other end)
                   stdout: the joiner's report, one JSON line when it ends
                   stderr: a log file per joiner (nothing reaches the operator's terminal)

Starting. Where this process is single-threaded with no transaction open (run_collection
before its display starts, a db_worker) the joiners are forked (``COLLECTION_JOINER_START
= fork``, the default): they start with Django and the code loaded and share this
process's pages. Elsewhere (or with ``spawn``) each is a new interpreter, ``python -m
django join_run RUN_ID --workers K --since T`` (~1 s of CPU and ~100 MiB to start).

Stopping. Every process follows the run's row: an operator's pause or cancel (admin, live
page), the Ctrl-C pause of the parent, completion. The joiners live in their own session,
so a terminal's Ctrl-C reaches the parent only, which decides for the run. When the
parent's execution ends with the run's new status recorded, the joiners get
``OWN_STOP_SECONDS`` to see it and end by themselves (they print their report then); after
that, or at once when the parent's execution raised, it closes the lifelines: a joiner
whose stdin reaches EOF signals itself SIGTERM, and the engine's handler stops it like a
pause (if the run is still running, i.e. the parent died, the run is paused "interrupted";
otherwise the transition is refused and the joiner just stops), stores what it received
and releases its tasks. A joiner still alive ``STOP_SECONDS`` later is killed, and the
tasks it held are released here. A joiner that dies while the run goes on is logged and
reported to the caller, its tasks are released at once, and the others finish the run:
the run continues.

Both sides of the protocol (the parent's ``Joiners``, the joiner's ``lifeline_follow``
and ``run_join_wait``) stay in this one module, past the usual ~400 lines, so that the
lifeline, the report line and the wait condition are read, and changed, together.

Where a run cannot spread (``spread_refusal``): SQLite, the embedded default. Its writers
take the database lock one at a time, and its channel layer (in-memory) does not cross
processes, so a joiner's events would reach the live page only from the database.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import logging.config
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from collection import engine, store
from collection.engine import RunReport
from collection.models import CollectionRun, RunTask
from collection.services.lifecycle import RunError, RunOptionsError

logger = logging.getLogger(__name__)

AUTO = "auto"
# ``auto`` gives every process at least this many workers: below it one process keeps up
# with its requests, and a joiner's start-up (~1 s, ~100 MiB) would cost more than it adds.
MIN_WORKERS_PER_PROCESS = 10
# A joiner sees a status change within a control poll (1 s) and stops within the engine's
# grace for requests in flight (2 s). Closing the lifeline sooner would race a joiner that
# is ending by itself (a SIGTERM after the engine removed its handler kills it unreported).
OWN_STOP_SECONDS = 3.5
STOP_SECONDS = 15.0  # after its lifeline closes, how long a joiner gets to store and release
JOIN_WAIT_SECONDS = 120.0  # how long a joiner waits for the parent to have the run running
LOG_DIR_NAME = "seller-scout"


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, not the machine's count)."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def processes_cap() -> int:
    """``COLLECTION_MAX_PROCESSES_PER_RUN`` (default: the usable cores)."""
    return max(1, int(settings.COLLECTION_MAX_PROCESSES_PER_RUN))


def spread_refusal() -> str:
    """Why runs execute in one process here ('' when they can spread)."""
    if connection.vendor == "sqlite":
        return (
            "SQLite takes one writer at a time and its in-memory channel layer does not "
            "cross processes; with PostgreSQL (DATABASE_URL) and Redis (REDIS_URL) a run "
            "spreads over the cores"
        )
    return ""


@dataclasses.dataclass(frozen=True, slots=True)
class Spread:
    """How many processes execute a run, and what to tell the operator about the choice."""

    processes: int
    note: str = ""


def processes_auto(*, workers: int) -> Spread:
    """``auto``: one process per usable core, within ``COLLECTION_MAX_PROCESSES_PER_RUN``,
    each with at least ``MIN_WORKERS_PER_PROCESS`` workers; one on SQLite."""
    refusal = spread_refusal()
    if refusal:
        return Spread(1, f"One process: {refusal}.")
    count = min(usable_cores(), processes_cap(), max(1, workers // MIN_WORKERS_PER_PROCESS))
    if count == 1 and workers >= 2 * MIN_WORKERS_PER_PROCESS:
        return Spread(1, "One process: one usable core (or COLLECTION_MAX_PROCESSES_PER_RUN=1).")
    if count == 1:
        return Spread(
            1,
            f"One process: {workers} workers (auto gives each process at least "
            f"{MIN_WORKERS_PER_PROCESS}).",
        )
    return Spread(count)


def processes_resolve(*, requested: int | str | None, workers: int) -> Spread:
    """The processes for a run of ``workers`` workers: ``requested`` is a count, or
    ``auto``/None (``processes_auto``). Raises ``RunOptionsError`` for a count below 1,
    above the cap or the workers, or above 1 where runs cannot spread."""
    if requested is None or requested == AUTO:
        return processes_auto(workers=workers)
    if not isinstance(requested, int) or requested < 1:
        raise RunOptionsError(f"processes must be a whole number ≥ 1 or 'auto', got {requested!r}.")
    cap = processes_cap()
    if requested > cap:
        raise RunOptionsError(
            f"processes must be at most {cap} (COLLECTION_MAX_PROCESSES_PER_RUN; "
            f"{usable_cores()} usable cores), got {requested}."
        )
    refusal = spread_refusal() if requested > 1 else ""
    if refusal:
        raise RunOptionsError(f"A run executes in one process here: {refusal}.")
    if requested > workers:
        raise RunOptionsError(
            f"{requested} processes need at least {requested} workers (one each); "
            f"the run has {workers}."
        )
    return Spread(requested)


def workers_split(workers: int, processes: int) -> list[int]:
    """Each process's share of the workers, the largest first (this process's)."""
    return [workers // processes + (1 if i < workers % processes else 0) for i in range(processes)]


# --- the joiners --------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class Joiner:
    """One joiner process, as its parent sees it."""

    index: int
    workers: int
    log_path: Path
    process: JoinerProcess
    report: dict = dataclasses.field(default_factory=dict)  # what it printed when it ended
    died: bool = False  # exited with an error while the run went on
    released: int = 0  # its tasks this process gave back after it ended

    def as_json(self) -> dict:
        return {
            "role": "joiner",
            "index": self.index,
            "pid": self.process.pid,
            "workers": self.workers,
            "executor": self.report.get("executor", ""),
            "mode": self.report.get("mode", ""),
            "status": self.report.get("status", ""),
            "requests": int(self.report.get("requests", 0)),
            "exit_code": self.process.returncode,
            "died": self.died,
            "released_tasks": self.released,
            "log": str(self.log_path),
        }


def joiner_log_dir() -> Path:
    return Path(tempfile.gettempdir()) / LOG_DIR_NAME


def _child_environment() -> dict[str, str]:
    """This process's environment, pointed at the database this process really uses (a
    process may have been pointed elsewhere after start-up, like a test database)."""
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = settings.SETTINGS_MODULE
    env["PYTHONUNBUFFERED"] = "1"
    url = env.get("DATABASE_URL", "")
    name = str(connection.settings_dict.get("NAME") or "")
    if url and name:
        parts = urlsplit(url)
        if parts.path.lstrip("/") != name:
            env["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{name}"))
    return env


def _executor_prefix(pid: int) -> str:
    # The engine names an execution host:pid:random (``engine.runner.Runner.executor``).
    return f"{socket.gethostname()}:{pid}:"


def _tasks_release_of(*, run_id: int, pid: int) -> int:
    """Give back the tasks a dead joiner held (it cannot: it is gone)."""
    executors = (
        RunTask.objects.filter(
            run_id=run_id,
            status=RunTask.Status.RUNNING,
            leased_by__startswith=_executor_prefix(pid),
        )
        .values_list("leased_by", flat=True)
        .distinct()
    )
    return sum(store.tasks_release(run_id=run_id, executor=e) for e in list(executors))


class ForkedJoiner:
    """A joiner forked from this process, with what ``Joiners`` uses of a ``Popen``: the
    lifeline (``stdin``), the report (``stdout``), ``poll``/``wait``/``kill``."""

    def __init__(self, *, pid: int, lifeline: int, report: int) -> None:
        self.pid = pid
        self.stdin = os.fdopen(lifeline, "wb", buffering=0)
        self.stdout = os.fdopen(report, "rb")
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: it has ended, how is unknown
                self.returncode = -1
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.001
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"joiner {self.pid}", timeout or 0.0)
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


JoinerProcess = subprocess.Popen | ForkedJoiner


def fork_is_safe() -> bool:
    """Whether joiners may be forked from this process: a POSIX process with one thread
    (a fork copies only the calling thread, so another thread's locks could stay held in
    the child forever; CPython warns for the same reason) and no database transaction open
    (this process's connections are closed before the fork, so the child opens its own)."""
    if settings.COLLECTION_JOINER_START != "fork" or not hasattr(os, "fork"):
        return False
    try:
        threads = len(os.listdir("/proc/self/task"))
    except OSError:
        threads = threading.active_count()
    return threads == 1 and not any(c.in_atomic_block for c in connections.all())


def _fork_joiner(
    *, run_id: int, workers: int, since: dt.datetime, log_path: Path, inherited: list[int]
) -> ForkedJoiner:
    """Fork a joiner: the child already has Django, the settings and the code loaded (a
    spawned ``join_run`` spends ~1 s of CPU and ~100 MiB on that), and shares the
    parent's pages until it writes them. Its stdin, stdout and stderr are the lifeline,
    the report and the log file, as a spawned joiner's; ``inherited`` are this process's
    descriptors of earlier joiners, closed in the child so their pipes still end."""
    lifeline_read, lifeline_write = os.pipe()
    report_read, report_write = os.pipe()
    log_fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    pid = os.fork()
    if pid == 0:  # the joiner; it never returns into the parent's code
        code = 1
        try:
            os.setsid()  # the terminal's Ctrl-C is the parent's to handle, as when spawned
            for fd in (*inherited, lifeline_write, report_read):
                os.close(fd)
            os.dup2(lifeline_read, 0)
            os.dup2(report_write, 1)
            os.dup2(log_fd, 2)
            for fd in (lifeline_read, report_write, log_fd):
                os.close(fd)
            code = _forked_joiner_main(run_id=run_id, workers=workers, since=since)
        except BaseException:
            with contextlib.suppress(Exception):
                os.write(2, f"joiner failed:\n{traceback.format_exc()}".encode(errors="replace"))
        finally:
            os._exit(code)
    for fd in (lifeline_read, report_write, log_fd):
        os.close(fd)
    return ForkedJoiner(pid=pid, lifeline=lifeline_write, report=report_read)


def _forked_joiner_main(*, run_id: int, workers: int, since: dt.datetime) -> int:
    """In a forked joiner: what ``manage.py join_run`` does, writing to the new stdio."""
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # the process's own stdio
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    # The logging a spawned joiner gets (the parent may have quietened its own loggers
    # for its display), its handlers on the new stderr.
    logging.config.dictConfig(settings.LOGGING)
    try:
        result = run_join_execute(run_id=run_id, workers=workers, since=since, lifeline=0)
    except RunError as exc:  # completed or cancelled meanwhile, or gone (as join_run)
        result = {"run_id": run_id, "skipped": True, "message": str(exc)}
    try:
        os.write(1, (json.dumps(result, default=str) + "\n").encode())
    except BrokenPipeError:  # the parent died (the run was paused): nobody to tell
        logger.warning("parent gone; report not sent: %s", result)
    return 0


def _spawn_joiner(
    *, run_id: int, workers: int, since: dt.datetime, log_path: Path, env: dict[str, str] | None
) -> subprocess.Popen:
    """Start a joiner as a new interpreter (``manage.py join_run``): where forking is not
    safe (threads running, an open transaction) or not wanted."""
    with log_path.open("a") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "django",
                "join_run",
                str(run_id),
                "--workers",
                str(workers),
                "--since",
                since.isoformat(),
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,  # the terminal's Ctrl-C is the parent's to handle
        )


class Joiners:
    """The joiner processes of one execution: ``start`` them, ``stop`` them (always)."""

    def __init__(
        self, *, run_id: int, shares: list[int], on_death: Callable[[Joiner], None] | None = None
    ) -> None:
        self.run_id = run_id
        self.shares = shares
        self.on_death = on_death
        self.joiners: list[Joiner] = []
        self._stopping = threading.Event()
        self._watchers: list[threading.Thread] = []

    def start(self) -> None:
        since = timezone.now()
        log_dir = joiner_log_dir()
        log_dir.mkdir(parents=True, exist_ok=True)
        database = Path(str(connection.settings_dict.get("NAME") or "db")).name  # run ids repeat
        forking = fork_is_safe()
        if forking:
            connections.close_all()  # the children open their own; this process reconnects
        env = None if forking else _child_environment()
        inherited: list[int] = []
        for index, share in enumerate(self.shares, start=1):
            log_path = log_dir / f"{database}-run-{self.run_id}-joiner-{index}.log"
            with log_path.open("a") as log:
                how = "forked" if forking else "spawned"
                log.write(
                    f"--- run {self.run_id}, joiner {index}, {share} workers, {how}, {since} ---\n"
                )
            process: JoinerProcess
            if forking:
                process = _fork_joiner(
                    run_id=self.run_id,
                    workers=share,
                    since=since,
                    log_path=log_path,
                    inherited=inherited,
                )
                inherited += [process.stdin.fileno(), process.stdout.fileno()]
            else:
                process = _spawn_joiner(
                    run_id=self.run_id, workers=share, since=since, log_path=log_path, env=env
                )
            self.joiners.append(
                Joiner(index=index, workers=share, log_path=log_path, process=process)
            )
        # Watchers only once every child is forked: a fork copies one thread only.
        for joiner in self.joiners:
            watcher = threading.Thread(
                target=self._watch, args=(joiner,), name=f"joiner-{joiner.index}", daemon=True
            )
            watcher.start()
            self._watchers.append(watcher)
        logger.info(
            "run %s: %d joiners %s (pids %s; logs in %s)",
            self.run_id,
            len(self.joiners),
            "forked" if forking else "started",
            ", ".join(str(j.process.pid) for j in self.joiners),
            log_dir,
        )

    def _watch(self, joiner: Joiner) -> None:
        """Read the joiner's report and notice its end (a thread per joiner)."""
        process = joiner.process
        assert process.stdout is not None
        try:
            output = process.stdout.read().decode(errors="replace")
        finally:
            process.stdout.close()
        process.wait()
        lines = [line for line in output.splitlines() if line.startswith("{")]
        if lines:
            with contextlib.suppress(ValueError):
                joiner.report = json.loads(lines[-1])
        if process.returncode == 0:
            return
        joiner.died = not self._stopping.is_set()
        try:
            joiner.released = _tasks_release_of(run_id=self.run_id, pid=process.pid)
        except Exception as exc:  # their leases expire anyway; say so and go on
            logger.warning(
                "run %s: joiner %s's tasks not released: %s", self.run_id, joiner.index, exc
            )
        finally:
            connections.close_all()  # this thread's connection
        if joiner.died:
            logger.warning(
                "run %s: joiner %s (pid %s) exited with %s; %d of its tasks went back to "
                "the other processes (log: %s)",
                self.run_id,
                joiner.index,
                process.pid,
                process.returncode,
                joiner.released,
                joiner.log_path,
            )
            if self.on_death is not None:
                try:
                    self.on_death(joiner)
                except Exception:
                    logger.warning("joiner death callback failed", exc_info=True)

    def stop(self, *, at_once: bool = False) -> None:
        """Let the joiners end by themselves (``OWN_STOP_SECONDS``, unless ``at_once``),
        close the lifelines, give them ``STOP_SECONDS`` to store and release, kill what is
        left (a Ctrl-C meanwhile kills at once). Every joiner has ended after."""
        self._stopping.set()
        try:
            if not at_once:
                self._wait(OWN_STOP_SECONDS)
            for joiner in self.joiners:
                if joiner.process.stdin is not None:
                    with contextlib.suppress(OSError):
                        joiner.process.stdin.close()
            self._wait(STOP_SECONDS)
        except KeyboardInterrupt:
            logger.warning("run %s: interrupted while the joiners stop; killing them", self.run_id)
        for joiner in self.joiners:
            if joiner.process.poll() is None:
                logger.warning(
                    "run %s: joiner %s (pid %s) did not stop; killed",
                    self.run_id,
                    joiner.index,
                    joiner.process.pid,
                )
                joiner.process.kill()
        for watcher in self._watchers:
            watcher.join(timeout=30)

    def _wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        for joiner in self.joiners:
            with contextlib.suppress(subprocess.TimeoutExpired):
                joiner.process.wait(timeout=max(0.0, deadline - time.monotonic()))


def lifeline_follow(fd: int) -> threading.Thread:
    """In a joiner: SIGTERM this process when its parent closes the lifeline or dies (a
    daemon thread blocked on ``fd``, the joiner's stdin). It reads the raw descriptor: a
    daemon thread blocked in a buffered reader aborts the interpreter at exit."""

    def follow() -> None:
        with contextlib.suppress(OSError):
            while os.read(fd, 4096):
                pass
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=follow, name="lifeline", daemon=True)
    thread.start()
    return thread


# --- executing ----------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class SpreadReport:
    """An execution over one or more processes: this process's ``RunReport`` (its counters
    are the run's, read from the run row) and one plain row per process."""

    report: RunReport
    processes: list[dict]

    @property
    def joiners_died(self) -> list[dict]:
        return [p for p in self.processes if p.get("died")]

    @property
    def requests_here_and_joined(self) -> int:
        """Requests this execution sent, every process counted."""
        return sum(int(p.get("requests", 0)) for p in self.processes)


def run_execute_spread(
    *,
    run_id: int,
    processes: int,
    workers: int | None = None,
    install_signal_handlers: bool = False,
    progress: Callable | None = None,
    on_joiner_death: Callable[[Joiner], None] | None = None,
) -> SpreadReport:
    """Execute the run in this process and ``processes - 1`` joiners until it stops.

    ``workers`` (default: the run's) are split between the processes, the largest share
    here. Raises what ``engine.run_execute`` raises; the joiners are stopped in any case.
    """
    total = workers or CollectionRun.objects.values_list("workers", flat=True).get(pk=run_id)
    shares = workers_split(total, max(1, min(processes, total)))
    joiners = Joiners(run_id=run_id, shares=shares[1:], on_death=on_joiner_death)
    if shares[1:]:
        joiners.start()
    try:
        report = engine.run_execute(
            run_id=run_id,
            workers=shares[0] if shares[1:] else workers,
            install_signal_handlers=install_signal_handlers,
            progress=progress,
        )
    except BaseException:  # Ctrl-C before the engine's handlers, an engine error: now
        joiners.stop(at_once=True)
        raise
    # The run's new status is recorded (or the database is gone: the report says so).
    joiners.stop(at_once=report.status == CollectionRun.Status.RUNNING)
    here = {
        "role": "this process",
        "pid": os.getpid(),
        "workers": shares[0],
        "executor": report.executor,
        "mode": report.mode,
        "status": report.status,
        "requests": int(report.session.get("requests", 0)),
    }
    return SpreadReport(report=report, processes=[here, *(j.as_json() for j in joiners.joiners)])


def run_join_execute(*, run_id: int, workers: int, since: dt.datetime, lifeline: int) -> dict:
    """What a joiner does (forked, or ``manage.py join_run``): wait until its parent has
    the run running (a heartbeat from ``since`` on), then take part in it with ``workers``
    workers, as a task worker joining a run does (the engine JOINs a running run). The
    parent closing ``lifeline`` (the joiner's stdin), or dying, stops it (SIGTERM, which
    the engine handles as a pause).

    Returns a short plain report (the parent reads it from the joiner's stdout). Raises
    ``RunError`` when the run is completed or cancelled meanwhile, or gone.
    """
    lifeline_follow(lifeline)
    run = run_join_wait(run_id=run_id, since=since)
    if run is None:
        return {"run_id": run_id, "skipped": True, "requests": 0}
    report = engine.run_execute(run_id=run_id, workers=workers, install_signal_handlers=True)
    return {
        "run_id": run_id,
        "status": report.status,
        "mode": report.mode,
        "executor": report.executor,
        "requests": int(report.session.get("requests", 0)),
        "skipped": False,
    }


def run_join_wait(
    *, run_id: int, since: dt.datetime, timeout: float = JOIN_WAIT_SECONDS, poll: float = 0.05
) -> CollectionRun | None:
    """In a joiner: wait until the run is running with a heartbeat from ``since`` on (its
    parent has it); None when it finished meanwhile or the wait timed out."""
    deadline = time.monotonic() + timeout
    while True:
        run = CollectionRun.objects.filter(pk=run_id).only("status", "heartbeat_at").first()
        if run is None or run.status in (
            CollectionRun.Status.COMPLETED,
            CollectionRun.Status.CANCELLED,
        ):
            return None  # a failed or paused run may still be resumed by the parent
        if (
            run.status == CollectionRun.Status.RUNNING
            and run.heartbeat_at is not None
            and run.heartbeat_at >= since
        ):
            return run
        if time.monotonic() > deadline:
            logger.warning("run %s: its parent never had it running; not joining", run_id)
            return None
        time.sleep(poll)
