"""Figure 3 — live fan-out: a real run watched by 100 websocket clients through daphne.

Processes (all on loopback):

- the sandbox marketplace (HTTP, 50 ms latency);
- ``daphne config.asgi:application`` on the bench database and channels-redis' pub/sub
  layer (the project's setting; Redis database 14 by default: ``BENCH_REDIS_URL``),
  ``DEBUG=False``;
- the clients: 100 websocket connections (aiohttp's client) authenticated as a staff user
  with a session cookie created in the bench database. Each behaves like the run page: it
  applies events in ``seq`` order, drops duplicates, and on a gap asks ``{"type":
  "resync", "after": last}``; a status whose ``event_seq`` is ahead and not followed by
  frames within 1.5 s also triggers a resync;
- this process: the run itself (``run_execute``, MARKETPLACE=live), whose ``EventRecorder``
  stores events and publishes a frame every ``ACTIVITY_FRAME_SECONDS`` or every
  ``ACTIVITY_FRAME_EVENTS`` events to the run's group (from its publisher thread). The
  channel layer's ``group_send`` is wrapped to timestamp each frame just before it is
  published.

Latency = client receive time − publish time of the frame that carried the event (same
clock: one machine), over every (client, event) pair applied from a live frame. Shown for
context: per frame, the first page's latency and the spread to the last page; emit →
receive (the event's own timestamp: adds the wait for its frame and the store). Events a
client first got from a replay (the consumer repairing a lost frame, or the client's own
resync) are "lost before resync"; events still missing at the end are reported too.

    .venv/bin/python bench/fanout.py [--clients 100] [--workers 16] [--categories 30]

Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    ROOT,
    live_environment,
    loopback_sandbox,
    machine,
    percentile,
    table,
)

SCRIPT = Path(__file__).resolve()
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
STATUS_RESYNC_S = 1.5  # as the page: a status ahead of the frames, then nothing
IDLE_RESYNC_S = 10.0  # as the page: nothing at all for this long while the run is active
CATCH_UP_S = 30.0  # after the run ends, how long clients may take to hold every event
LIVE, REPAIRED, BACKLOG = 0, 1, 2
CONNECT_ATTEMPTS = 8
# Browsers open pages one by one; 100 handshakes at the very same instant overflow
# daphne's accept backlog (Twisted's default is 50) and some get reset.
CONNECTING = None  # asyncio.Semaphore, created in the clients' loop


# --- the clients process -------------------------------------------------------------------


class PageClient:
    """One websocket client that keeps a run's events the way the run page does."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.last_seq = 0
        self.resync_pending = False
        self.synced_once = False
        self.messages: list[tuple[int, int, float, int]] = []  # first, last, t, replay
        self.gaps = 0
        self.resyncs = 0
        self.duplicates = 0
        self.last_message_at = time.monotonic()
        self.ws = None
        self.closed_code = None
        self.connect_failures = 0

    async def request_resync(self) -> None:
        if self.resync_pending or self.ws is None or self.ws.closed:
            return
        self.resync_pending = True
        self.resyncs += 1
        await self.ws.send_str(json.dumps({"type": "resync", "after": self.last_seq}))

    def receive_events(self, events: list[dict], *, replay: bool, now: float) -> bool:
        """Apply in order; return True when a gap needs a resync.

        Each message's applied range is kept with how it came: LIVE (a frame), REPAIRED
        (a replay after the first ``synced``: events lost live) or BACKLOG (the connect's
        own replay).
        """
        first = None
        gap = False
        for event in events:
            seq = event["seq"]
            if seq <= self.last_seq:
                self.duplicates += 1
                continue
            if seq != self.last_seq + 1:
                self.gaps += 1
                gap = True
                break
            if first is None:
                first = seq
            self.last_seq = seq
        if first is not None:
            how = LIVE if not replay else (REPAIRED if self.synced_once else BACKLOG)
            self.messages.append((first, self.last_seq, now, how))
        return gap

    async def run(
        self,
        session,
        url: str,
        headers: dict,
        ready: asyncio.Event,
        stop: asyncio.Event,
        connected: list,
        expected: int,
    ) -> None:
        import aiohttp

        loop = asyncio.get_running_loop()
        delay = 0.5
        for attempt in range(CONNECT_ATTEMPTS):  # as the page: reconnect with backoff
            try:
                async with CONNECTING:
                    ws = await session.ws_connect(
                        url, headers=headers, max_msg_size=0, autoping=True, heartbeat=None
                    )
                break
            except (aiohttp.ClientError, OSError):
                self.connect_failures += 1
                if attempt == CONNECT_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        async with ws:
            self.ws = ws
            self.resync_pending = True  # the connect itself replays after last_seq
            connected.append(self.n)
            if len(connected) == expected:
                ready.set()
            async for message in ws:
                now = time.time()
                self.last_message_at = time.monotonic()
                if message.type != 1:  # aiohttp.WSMsgType.TEXT
                    break
                data = json.loads(message.data)
                kind = data.get("type")
                if kind == "events":
                    if self.receive_events(
                        data["events"], replay=bool(data.get("replay")), now=now
                    ):
                        await self.request_resync()
                elif kind == "synced":
                    self.resync_pending = False
                    self.synced_once = True
                elif kind == "status":
                    expected = data["run"].get("event_seq") or 0
                    if expected > self.last_seq:

                        def check(expected=expected):
                            if self.last_seq < expected:
                                loop.create_task(self.request_resync())

                        loop.call_later(STATUS_RESYNC_S, check)
                if stop.is_set():
                    break
            self.closed_code = ws.close_code


async def clients_main(args) -> None:
    import aiohttp

    global CONNECTING
    CONNECTING = asyncio.Semaphore(10)
    clients = [PageClient(n) for n in range(args.clients)]
    headers = {"Cookie": args.cookie, "Origin": args.origin}
    ready, stop = asyncio.Event(), asyncio.Event()
    connected: list[int] = []
    final_seq = [None]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [
            asyncio.create_task(
                c.run(session, args.url, headers, ready, stop, connected, args.clients)
            )
            for c in clients
        ]
        try:
            await asyncio.wait_for(ready.wait(), 60)
        except TimeoutError:
            failed = [t for t in tasks if t.done() and t.exception()]
            sys.stdout.write(f"error {len(connected)} connected; {failed[:1]}\n")
            sys.stdout.flush()
            return
        # Every client has its (empty) backlog before the run starts.
        deadline = time.monotonic() + 30
        while any(not c.synced_once for c in clients) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        sys.stdout.write(f"ready {len(connected)}\n")
        sys.stdout.flush()

        reader = asyncio.StreamReader()
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

        async def idle_watch():
            while True:
                await asyncio.sleep(2.0)
                if final_seq[0] is not None:
                    return
                for c in clients:
                    if time.monotonic() - c.last_message_at > IDLE_RESYNC_S:
                        c.last_message_at = time.monotonic()
                        await c.request_resync()

        watcher = asyncio.create_task(idle_watch())
        line = (await reader.readline()).decode().split()
        final_seq[0] = int(line[1]) if len(line) == 2 and line[0] == "final" else 0
        watcher.cancel()
        catch_up_started = time.monotonic()
        # After the run: the page's rules still apply (status timers, idle resync), at the
        # page's own pace; give up after CATCH_UP_S.
        last_progress = {c.n: (c.last_seq, time.monotonic()) for c in clients}
        while time.monotonic() - catch_up_started < CATCH_UP_S:
            behind = [c for c in clients if c.last_seq < final_seq[0]]
            if not behind:
                break
            for c in behind:
                seq, since = last_progress[c.n]
                if c.last_seq != seq:
                    last_progress[c.n] = (c.last_seq, time.monotonic())
                elif time.monotonic() - since > IDLE_RESYNC_S:
                    last_progress[c.n] = (c.last_seq, time.monotonic())
                    await c.request_resync()
            await asyncio.sleep(0.05)
        catch_up_s = time.monotonic() - catch_up_started
        stop.set()
        for c in clients:
            if c.ws is not None and not c.ws.closed:
                await c.ws.close()
        await asyncio.gather(*tasks, return_exceptions=True)
    result = {
        "clients": [
            {
                "n": c.n,
                "last_seq": c.last_seq,
                "messages": c.messages,
                "gaps": c.gaps,
                "resyncs": c.resyncs,
                "duplicates": c.duplicates,
                "connect_failures": c.connect_failures,
            }
            for c in clients
        ],
        "final_seq": final_seq[0],
        "catch_up_s": catch_up_s,
    }
    Path(args.out).write_text(json.dumps(result))
    sys.stdout.write("done\n")
    sys.stdout.flush()


# --- the parent ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError("daphne did not start")


@contextlib.contextmanager
def process(command: list[str], *, env: dict, **kwargs):
    proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, **kwargs)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(15)


def process_cpu_s(pid: int | None) -> float | None:
    """CPU seconds (user + system) a process has used, from /proc (Linux)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def redis_pid() -> int | None:
    found = subprocess.run(["pgrep", "-x", "redis-server"], capture_output=True, text=True)
    pids = found.stdout.split()
    return int(pids[0]) if len(pids) == 1 else None


def staff_cookie() -> str:
    """A staff user that may view runs, and a session for it (the bench database)."""
    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.sessions.backends.db import SessionStore

    User = get_user_model()
    user, _ = User.objects.get_or_create(
        username="bench-staff", defaults={"is_staff": True, "is_superuser": True}
    )
    user.is_staff = user.is_superuser = user.is_active = True
    user.set_unusable_password()
    user.save()
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


class FrameClock:
    """Wraps the channel layer's group_send: when was each event's frame published."""

    def __init__(self) -> None:
        self.published: dict[int, float] = {}  # seq → time.time() just before group_send
        self.frames = 0
        self.frame_sizes: list[int] = []
        self.send_ms: list[float] = []  # how long each frame's group_send took
        self.emitted: dict[int, float] = {}  # seq → the event's own timestamp (its emit)

    def install(self) -> None:
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        original = layer.group_send

        async def group_send(group, message):
            if message.get("type") != "run.frame":
                return await original(group, message)
            now = time.time()
            for seq in range(message["first"], message["last"] + 1):
                self.published[seq] = now
            self.frames += 1
            self.frame_sizes.append(message["last"] - message["first"] + 1)
            started = time.perf_counter()
            try:
                return await original(group, message)
            finally:
                self.send_ms.append((time.perf_counter() - started) * 1000)

        layer.group_send = group_send


def parent(args) -> int:
    redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)
    started = time.monotonic()
    with loopback_sandbox(latency_ms=args.latency_ms, seed=1) as base_url:
        env = live_environment(
            base_url,
            REDIS_URL=redis_url,
            DEBUG="False",
            ALLOWED_HOSTS="127.0.0.1,localhost",
            SECURE_SSL_REDIRECT="False",
            SECURE_HSTS_SECONDS="0",
        )
        os.environ.update(env)
        from bench._common import reset_run_tables, run_create_for_bench
        from bench._django import bench_setup

        db_url = bench_setup()
        env["DATABASE_URL"] = db_url
        reset_run_tables()
        _redis_flush(redis_url)
        cookie = staff_cookie()
        run = run_create_for_bench(categories=args.categories, workers=args.workers, ebay_pages=1)
        port = free_port()
        daphne = [
            str(Path(sys.executable).with_name("daphne")),
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "config.asgi:application",
        ]
        out = Path(os.environ.get("TMPDIR", "/tmp")) / f"scout-fanout-{os.getpid()}.json"
        with process(
            daphne, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        ) as server:
            wait_port(port, server)
            command = [
                sys.executable,
                str(SCRIPT),
                "--child",
                "--clients",
                str(args.clients),
                "--url",
                f"ws://127.0.0.1:{port}/ws/runs/{run.pk}/?after=0",
                "--cookie",
                cookie,
                "--origin",
                f"http://127.0.0.1:{port}",
                "--out",
                str(out),
            ]
            with process(
                command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            ) as clients:
                line = clients.stdout.readline().strip()
                if not line.startswith("ready"):
                    raise RuntimeError(
                        f"clients did not connect: {line!r}; daphne said: {_tail(server)}"
                    )
                connected = int(line.split()[1])
                clock = FrameClock()
                clock.install()
                from collection.engine import run_execute
                from collection.models import CollectionRun

                pids = {"daphne": server.pid, "clients": clients.pid, "redis": redis_pid()}
                cpu_before = {name: process_cpu_s(pid) for name, pid in pids.items()}
                run_started = time.monotonic()
                run_cpu = time.process_time()
                report = run_execute(run_id=run.pk, workers=args.workers)
                run_s = time.monotonic() - run_started
                cpu = {
                    name: _delta(process_cpu_s(pid), cpu_before[name]) for name, pid in pids.items()
                }
                cpu["run"] = time.process_time() - run_cpu
                final_seq = CollectionRun.objects.get(pk=run.pk).event_seq
                from activity.models import RunEvent

                clock.emitted = {
                    seq: ts.timestamp()
                    for seq, ts in RunEvent.objects.filter(run=run).values_list("seq", "ts")
                }
                clients.stdin.write(f"final {final_seq}\n")
                clients.stdin.flush()
                line = clients.stdout.readline().strip()
                if line != "done":
                    raise RuntimeError(f"clients failed: {line!r}")
                clients.wait(30)
        data = json.loads(out.read_text())
        out.unlink()
    data["cpu_s"] = cpu
    return report_figure(
        args, data, clock, report, run_s, final_seq, connected, time.monotonic() - started
    )


def _delta(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else after - before


def _tail(server: subprocess.Popen) -> str:
    with contextlib.suppress(Exception):
        server.terminate()
        return server.communicate(timeout=5)[1][-2000:]
    return ""


def _redis_flush(url: str) -> None:
    """The bench's Redis database starts empty (stale groups of earlier runs)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def report_figure(args, data, clock, report, run_s, final_seq, connected, total_s) -> int:
    published = clock.published
    latencies: list[float] = []
    end_to_end: list[float] = []  # emit → receive, same pairs as latencies
    repaired_latencies: list[float] = []
    lost_before_resync = 0
    per_client_lost = []
    missing = 0
    clients_complete = 0
    gaps = resyncs = 0
    repaired_ranges: set[tuple[int, int]] = set()
    per_frame: dict[float, list[float]] = {}  # publish time → each client's receive time
    for client in data["clients"]:
        lost = 0
        for first, last, received, kind in client["messages"]:
            if kind == REPAIRED:
                repaired_ranges.add((first, last))
            if kind == LIVE and first in published:
                per_frame.setdefault(published[first], []).append(received)
            for seq in range(first, last + 1):
                sent = published.get(seq)
                if sent is None:
                    continue
                delay = (received - sent) * 1000
                if kind == LIVE:
                    latencies.append(delay)
                    if seq in clock.emitted:
                        end_to_end.append((received - clock.emitted[seq]) * 1000)
                elif kind == REPAIRED:
                    repaired_latencies.append(delay)
                    lost += 1
        lost_before_resync += lost
        per_client_lost.append(lost)
        missing += max(0, final_seq - client["last_seq"])
        clients_complete += client["last_seq"] >= final_seq
        gaps += client["gaps"]
        resyncs += client["resyncs"]
    # Where a frame's latency goes: reaching the first page (layer + daphne + one client)
    # versus the spread over the pages (one daphne and one clients process serve them in
    # turn, so the spread grows with the frame's size and the number of pages).
    first_ms = [(min(times) - sent) * 1000 for sent, times in per_frame.items()]
    spread_ms = [(max(times) - min(times)) * 1000 for times in per_frame.values()]
    events_per_s = final_seq / run_s
    p50 = percentile(latencies, 50) if latencies else None
    p99 = percentile(latencies, 99) if latencies else None
    pmax = max(latencies) if latencies else None
    ok = (
        connected == args.clients
        and clients_complete == args.clients
        and report.status == "completed"
    )
    targets_met = bool(ok and p50 is not None and p50 < 50 and p99 < 250 and events_per_s >= 200)

    print()
    print(
        f"Figure 3 — fan-out: a run at {args.workers} workers ({args.latency_ms:g} ms latency) "
        f"watched by {args.clients} websocket clients through daphne + channels-redis"
    )
    rows = [
        ["events (run total)", f"{final_seq:,}"],
        ["run wall time (s)", f"{run_s:.1f}"],
        ["events/s (target ≥ 200)", f"{events_per_s:.0f}"],
        [
            "frames published",
            f"{clock.frames:,} (median {percentile(clock.frame_sizes, 50)} events)"
            if clock.frame_sizes
            else "0",
        ],
        ["clients connected", f"{connected}/{args.clients}"],
        ["publish→receive p50 ms (< 50)", f"{p50:.1f}" if p50 is not None else "-"],
        ["publish→receive p99 ms (< 250)", f"{p99:.1f}" if p99 is not None else "-"],
        ["publish→receive max ms", f"{pmax:.1f}" if pmax is not None else "-"],
        [
            "  of which group_send p50 / p99 ms",
            f"{percentile(clock.send_ms, 50):.1f} / {percentile(clock.send_ms, 99):.1f}"
            if clock.send_ms
            else "-",
        ],
        [
            "  per frame: first page p50 / p99 ms",
            f"{percentile(first_ms, 50):.1f} / {percentile(first_ms, 99):.1f}" if first_ms else "-",
        ],
        [
            "  per frame: first→last page p50 / p99 ms",
            f"{percentile(spread_ms, 50):.1f} / {percentile(spread_ms, 99):.1f}"
            if spread_ms
            else "-",
        ],
        [
            "emit→receive p50 / p99 ms (context: + buffering, store)",
            f"{percentile(end_to_end, 50):.1f} / {percentile(end_to_end, 99):.1f}"
            if end_to_end
            else "-",
        ],
        ["live (client, event) pairs", f"{len(latencies):,}"],
        ["events lost before resync (all clients)", f"{lost_before_resync:,}"],
        ["clients that lost any", f"{sum(1 for x in per_client_lost if x)}"],
        ["gaps seen / resyncs asked by clients", f"{gaps} / {resyncs}"],
        ["clients with every event at the end", f"{clients_complete}/{args.clients}"],
        ["events missing at the end", f"{missing}"],
        ["catch-up after the run (s)", f"{data['catch_up_s']:.2f}"],
        [
            "CPU s during the run: run / daphne / clients / redis",
            " / ".join(
                "-" if data["cpu_s"].get(k) is None else f"{data['cpu_s'][k]:.1f}"
                for k in ("run", "daphne", "clients", "redis")
            ),
        ],
    ]
    print(table(rows, ["measure", "value"]))
    load = os.getloadavg()
    print(
        f"  load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"bench took {total_s:.0f} s"
    )
    print()
    print(
        json.dumps(
            {
                "figure": "fanout",
                "ok": ok,
                "targets_met": targets_met,
                "clients": args.clients,
                "connected": connected,
                "workers": args.workers,
                "run_status": report.status,
                "events": final_seq,
                "run_s": round(run_s, 3),
                "events_per_s": round(events_per_s, 1),
                "frames": clock.frames,
                "frame_events_p50": percentile(clock.frame_sizes, 50)
                if clock.frame_sizes
                else None,
                "group_send_ms": {
                    "p50": percentile(clock.send_ms, 50) if clock.send_ms else None,
                    "p99": percentile(clock.send_ms, 99) if clock.send_ms else None,
                },
                "latency_ms": {"p50": p50, "p99": p99, "max": pmax, "samples": len(latencies)},
                "emit_to_receive_ms": {
                    "p50": percentile(end_to_end, 50) if end_to_end else None,
                    "p99": percentile(end_to_end, 99) if end_to_end else None,
                },
                "frame_first_page_ms": {
                    "p50": percentile(first_ms, 50) if first_ms else None,
                    "p99": percentile(first_ms, 99) if first_ms else None,
                },
                "frame_spread_ms": {
                    "p50": percentile(spread_ms, 50) if spread_ms else None,
                    "p99": percentile(spread_ms, 99) if spread_ms else None,
                },
                "repaired_latency_ms": {
                    "p50": percentile(repaired_latencies, 50) if repaired_latencies else None,
                    "samples": len(repaired_latencies),
                },
                "lost_before_resync": lost_before_resync,
                "repaired_ranges": sorted(repaired_ranges)[:20],
                "clients_that_lost": sum(1 for x in per_client_lost if x),
                "gaps": gaps,
                "resyncs": resyncs,
                "clients_complete": clients_complete,
                "missing_at_end": missing,
                "catch_up_s": round(data["catch_up_s"], 3),
                "cpu_s_during_run": data["cpu_s"],
                "machine": machine(),
                "loadavg": load,
                "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
        )
    )
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--categories", type=int, default=30)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--url")
    parser.add_argument("--cookie")
    parser.add_argument("--origin")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        asyncio.run(clients_main(args))
        return 0
    return parent(args)


if __name__ == "__main__":
    raise SystemExit(main())
