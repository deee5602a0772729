"""Figures 1 and 5 — engine efficiency, CPU per request, and the original-style baseline.

Figure 1. A real run (``collection.engine.run_execute``, MARKETPLACE=live) against the
sandbox marketplace served over loopback HTTP by another process, at 50 ms latency, with
request-rate limits off, at 5, 50 and 200 workers. The run has both phases: Amazon best
sellers of 22 categories × 2 pages (44 requests), then one eBay Browse search per product
(≥ 2,000). R counts every API request of the run that waits out the sandbox latency:
Amazon pages + eBay searches (what ``run.requests`` counts; the sandbox's request log
checks it) + the one OAuth token mint. Efficiency = ideal (R × L / W) ÷ the wall time of
``run_execute`` (start to completed: planning, both phases, every batch stored, events,
snapshot). CPU per request = ``time.process_time()`` of the child process that runs the
collection, around ``run_execute``, ÷ R (parsing, persistence, events, the quota tracker,
the database driver — not the sandbox, which is another process; not PostgreSQL).

Figure 5. The same eBay phase done the way quick collectors do it: a fresh
``httpx.AsyncClient`` per request (stock transport) and every result kept in memory until
the end, then stored in one go — through our own ``results_store`` (a generous baseline:
its SQL is set-based). Same products, same worker count, same process setup. Reported as
a ratio of eBay-phase wall times (baseline ÷ ours) and of CPU per request.

    .venv/bin/python bench/engine.py [--workers 5,50,200] [--categories 22] [--latency-ms 50]
        [--baseline-workers 50] [--processes 1,2,auto] [--no-quotas] [--profile DIR]

``--processes 1,2`` also measures each run spread over two processes: the first starts
it with half the workers, the second (started beforehand and waiting, like a worker
process an operator added from the admin) joins it; CPU per request then sums both.
``--processes auto`` measures what an operator gets from ``run_collection --processes
auto``: the product's own spreading (``services.spread.run_execute_spread``, which
starts the joiners on the usable cores and stops them with the run). Its wall time runs
from before the joiners start to after they stopped, and its CPU adds the joiners' (their
start-up included: ``RUSAGE_CHILDREN``).

The baseline runs at 50 workers by default (a fresh httpx client costs 40–70 ms of CPU
here, so one baseline run takes minutes); ``--baseline-workers 5,50,200`` runs all three.
Quotas are metered as in production (COLLECTION_QUOTAS, limits no run reaches).
``--profile DIR`` records py-spy samples (GIL holder, collapsed stacks) of each of our runs
into DIR (needs ``pip install py-spy`` in .venv; not a runtime dependency).
Prints tables, then one JSON line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    Stopwatch,
    live_environment,
    loopback_sandbox,
    machine,
    run_child,
    sandbox_cpu_seconds,
    sandbox_requests,
    table,
)

SCRIPT = Path(__file__).resolve()
# Efficiency targets by row: workers (one process), or "workers/auto" (issue 16's
# "whole run, --processes auto").
TARGETS: dict[int | str, float] = {5: 0.90, 50: 0.80, "50/auto": 0.85, "200/auto": 0.60}
CPU_TARGET_MS = 2.0
TOKEN_PATH = "/identity/v1/oauth2/token"
SEARCH_PATH = "/buy/browse/v1/item_summary/search"
OXYLABS_PATH = "/v1/queries"
API_PATHS = (TOKEN_PATH, SEARCH_PATH, OXYLABS_PATH)
AUTO = "auto"  # --processes auto: the product's own spreading (services.spread)


# --- children ------------------------------------------------------------------------------


def _setup(args) -> None:
    from bench._common import reset_run_tables
    from bench._django import bench_setup

    bench_setup()
    reset_run_tables()


def _phase_times(run_id: int) -> dict:
    """When each phase started and finished, from the run's stored events."""
    from activity.models import RunEvent

    times = {}
    for action, phase, ts in RunEvent.objects.filter(
        run_id=run_id, action__in=["phase_started", "phase_finished"]
    ).values_list("action", "phase", "ts"):
        times[f"{phase}_{action.split('_')[1]}"] = ts
    return times


def _join_when_running(args):
    """A joining process (``--join FILE``): ready before the run starts, like a worker
    process an operator added; joins as soon as the starting process has it running."""
    from bench._django import bench_setup

    bench_setup()
    from collection.models import CollectionRun

    handshake = Path(args.join)
    deadline = time.monotonic() + 60
    while True:
        text = handshake.read_text().strip() if handshake.exists() else ""
        if text:
            run_id = int(text)
            if CollectionRun.objects.filter(pk=run_id, status="running").exists():
                return run_id
        if time.monotonic() > deadline:
            raise RuntimeError("the run never started")
        time.sleep(0.005)


def child_ours(args) -> dict:
    if args.join:
        run_id = _join_when_running(args)
    else:
        _setup(args)
    from bench._common import run_create_for_bench
    from collection.engine import run_execute
    from collection.models import CollectionRun

    if not args.join:
        run_id = run_create_for_bench(
            categories=args.categories, workers=args.run_workers, ebay_pages=1
        ).pk
        if args.handshake:
            Path(args.handshake).write_text(str(run_id))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started_at = time.time()
    spread_processes: list[dict] = []
    children_before = _children_cpu()
    with Stopwatch() as watch:
        if args.spread:  # the product's own spreading, as run_collection --processes does
            from collection.services.spread import processes_resolve, run_execute_spread

            spread = processes_resolve(requested=args.spread, workers=args.workers)
            spread_report = run_execute_spread(
                run_id=run_id, processes=spread.processes, workers=args.workers
            )
            report, spread_processes = spread_report.report, spread_report.processes
        else:
            report = run_execute(run_id=run_id, workers=args.workers)
    ended_at = time.time()
    joiners_cpu = _children_cpu() - children_before
    if args.join:
        return {
            "kind": "joiner",
            "workers": args.workers,
            "cpu_s": watch.cpu,
            "started_at": started_at,
            "ended_at": ended_at,
            "status": report.status,
        }
    run = CollectionRun.objects.get(pk=run_id)
    phases = _phase_times(run.pk)
    ebay_s = None
    if "ebay_started" in phases and "ebay_finished" in phases:
        ebay_s = (phases["ebay_finished"] - phases["ebay_started"]).total_seconds()
    result = {
        "kind": "ours",
        "workers": args.workers,
        "status": report.status,
        "wall_s": watch.wall,
        "cpu_s": watch.cpu + joiners_cpu,
        "started_at": started_at,
        "ended_at": ended_at,
        "ebay_phase_s": ebay_s,
        "requests": run.requests,
        "ebay_searches": run.ebay_searches,
        "products": run.products_found,
        "sellers_found": run.sellers_found,
        "sightings": run.sightings,
        "retries": run.retries,
        "failed_tasks": run.failed_tasks,
        "events": run.event_seq,
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "maxrss_before_kib": rss_before,
    }
    if args.spread:
        result["processes"] = len(spread_processes)
        result["spread"] = args.spread
        result["process_cpu_s"] = [round(watch.cpu, 3), round(joiners_cpu, 3)]
        result["process_requests"] = [p["requests"] for p in spread_processes]
    return result


def _children_cpu() -> float:
    """CPU seconds of this process's reaped children (the joiners, once stopped)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def _baseline_fetch_all(tasks, *, workers: int, fetch) -> list:
    import asyncio

    semaphore = asyncio.Semaphore(workers)

    async def one(task):
        async with semaphore:
            return await fetch(task)

    return await asyncio.gather(*(one(task) for task in tasks))


def child_baseline(args) -> dict:
    """The quick collector: fresh client per request, persistence deferred to the end."""
    import asyncio

    import httpx
    from django.conf import settings

    _setup(args)
    from bench._common import run_create_for_bench
    from collection import pipeline, store
    from collection.marketplaces.ebay_browse import EbayAppTokens, EbayBrowseSearch
    from collection.marketplaces.oxylabs import OxylabsAmazonBestSellers
    from collection.models import CollectionRun
    from collection.services.lifecycle import run_transition

    run = run_create_for_bench(categories=args.categories, workers=args.workers, ebay_pages=1)
    run_transition(
        run_id=run.pk,
        to=CollectionRun.Status.RUNNING,
        expect=[CollectionRun.Status.QUEUED],
        executor="baseline",
    )
    options = pipeline.RunOptions(
        markup_min_percent=run.markup_min_percent,
        markup_max_percent=run.markup_max_percent,
    )
    timeout = httpx.Timeout(30.0)

    async def amazon_fetch(task):
        async with httpx.AsyncClient(timeout=timeout) as client:
            amazon = OxylabsAmazonBestSellers(
                client=client,
                base_url=settings.OXYLABS_BASE_URL,
                username=settings.OXYLABS_USERNAME,
                password=settings.OXYLABS_PASSWORD,
                timeout=timeout,
            )
            page = await amazon.best_sellers(node_id=task.node_id, page=task.page)
        return pipeline.outcome_done(task, page, attempts=1, options=options)

    # The Amazon phase and the token are set-up, not measured.
    store.run_plan(run_id=run.pk)
    amazon_tasks = store.tasks_claim(
        run_id=run.pk, phase="amazon", executor="baseline", limit=10_000, lease_seconds=3600
    )
    outcomes = asyncio.run(
        _baseline_fetch_all(amazon_tasks, workers=args.workers, fetch=amazon_fetch)
    )
    store.results_store(run_id=run.pk, outcomes=outcomes)
    store.run_phase_advance(run_id=run.pk, phase="amazon")
    ebay_tasks = store.tasks_claim(
        run_id=run.pk, phase="ebay", executor="baseline", limit=100_000, lease_seconds=3600
    )

    async def ebay_phase():
        async with httpx.AsyncClient(timeout=timeout) as token_client:
            tokens = EbayAppTokens(
                client=token_client,
                base_url=settings.EBAY_API_BASE_URL,
                client_id=settings.EBAY_CLIENT_ID,
                client_secret=settings.EBAY_CLIENT_SECRET,
            )
            await tokens.get()  # minted once, like a global in a script: not measured

            async def ebay_fetch(task):
                try:
                    query = pipeline.listing_query(task, options)
                except pipeline.NotFetchable as exc:  # as the engine: skipped, no request
                    return pipeline.outcome_skipped(task, reason=str(exc))
                async with httpx.AsyncClient(timeout=timeout) as client:
                    ebay = EbayBrowseSearch(
                        client=client, base_url=settings.EBAY_API_BASE_URL, tokens=tokens
                    )
                    page = await ebay.search_listings(query)
                return pipeline.outcome_done(task, page, attempts=1, options=options)

            with Stopwatch() as fetching:
                results = await _baseline_fetch_all(
                    ebay_tasks, workers=args.workers, fetch=ebay_fetch
                )
        return results, fetching

    results, fetching = asyncio.run(ebay_phase())
    with Stopwatch() as storing:
        store.results_store(
            run_id=run.pk,
            outcomes=list(results),
            counters={"requests": sum(1 for r in results if r.listings is not None)},
        )
    run = CollectionRun.objects.get(pk=run.pk)
    return {
        "kind": "baseline",
        "workers": args.workers,
        "ebay_searches": sum(1 for r in results if r.listings is not None),
        "fetch_wall_s": fetching.wall,
        "fetch_cpu_s": fetching.cpu,
        "store_wall_s": storing.wall,
        "store_cpu_s": storing.cpu,
        "ebay_phase_s": fetching.wall + storing.wall,
        "cpu_s": fetching.cpu + storing.cpu,
        "sightings": run.sightings,
        "sellers_found": run.sellers_found,
        "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


# --- parent --------------------------------------------------------------------------------


def _py_spy() -> str | None:
    candidate = Path(sys.executable).with_name("py-spy")
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


def _run_processes(child_args: list[str], workers: int, processes: int, env: dict) -> dict:
    """One run over ``processes`` processes: the first starts it with its share of the
    workers, the others (already running, waiting) join it; one result for the run."""
    import tempfile

    shares = [
        workers // processes + (1 if i < workers % processes else 0) for i in range(processes)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        handshake = Path(tmp) / "run-id"
        base = list(child_args)
        base[base.index("--workers") + 1] = str(shares[0])
        commands = [[*base, "--run-workers", str(workers), "--handshake", str(handshake)]]
        for share in shares[1:]:
            joiner = list(base)
            joiner[joiner.index("--workers") + 1] = str(share)
            commands.append([*joiner, "--join", str(handshake)])
        children = [
            subprocess.Popen(
                [sys.executable, str(SCRIPT), "--child", *command],
                cwd=SCRIPT.parent.parent,
                env={**os.environ, **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for command in reversed(commands)  # joiners first: ready when the run starts
        ]
        outputs = []
        for child in children:
            out, err = child.communicate(timeout=600)
            lines = [line for line in out.splitlines() if line.startswith("{")]
            if child.returncode != 0 or not lines:
                sys.stderr.write(err[-4000:])
                raise RuntimeError(f"engine child exited {child.returncode}")
            outputs.append(json.loads(lines[-1]))
    result = next(o for o in outputs if o["kind"] == "ours")
    result["workers"] = workers
    result["processes"] = processes
    result["cpu_s"] = sum(o["cpu_s"] for o in outputs)
    result["wall_s"] = max(o["ended_at"] for o in outputs) - result["started_at"]
    result["process_cpu_s"] = [round(o["cpu_s"], 3) for o in outputs]
    return result


def measure(
    kind: str,
    workers: int,
    *,
    base_url: str,
    args,
    profile_dir: Path | None,
    processes: int | str = 1,
) -> dict:
    logged_before = len(sandbox_requests(base_url))
    sandbox_cpu_before = sandbox_cpu_seconds(base_url)
    child_args = [kind, "--workers", str(workers), "--categories", str(args.categories)]
    env = live_environment(base_url)
    if args.no_quotas:
        env["COLLECTION_QUOTAS"] = ""
    if processes == AUTO:
        # The joiners read their settings from the environment: no query log in them
        # either (bench_setup turns DEBUG off in the process it runs in).
        env["DEBUG"] = "False"
        result = run_child(SCRIPT, [*child_args, "--spread", AUTO], env=env, timeout=600)
    elif isinstance(processes, int) and processes > 1:
        result = _run_processes(child_args, workers, processes, env)
    elif profile_dir is not None and kind == "ours":
        profile_dir.mkdir(parents=True, exist_ok=True)
        out = profile_dir / f"engine-{workers}w.collapsed.txt"
        command = [
            _py_spy(),
            "record",
            "--rate",
            "200",
            "--gil",
            "--output",
            str(out),
            "--format",
            "raw",
            "--",
            sys.executable,
            str(SCRIPT),
            "--child",
            *child_args,
        ]
        completed = subprocess.run(
            command, env={**os.environ, **env}, stdout=subprocess.PIPE, text=True, timeout=600
        )
        result = json.loads([x for x in completed.stdout.splitlines() if x.startswith("{")][-1])
        result["profile"] = str(out)
    else:
        result = run_child(SCRIPT, child_args, env=env, timeout=600)
    result["sandbox_cpu_s"] = sandbox_cpu_seconds(base_url) - sandbox_cpu_before
    rows = sandbox_requests(base_url)[logged_before:]
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["path"]] = counts.get(row["path"], 0) + 1
    result["sandbox"] = counts
    # How long the sandbox itself took per API request (its latency, plus whatever the
    # machine's load added on the server side): the latency the run really faced.
    served = [row["duration_ms"] for row in rows if row["path"] in API_PATHS]
    result["served_ms_mean"] = sum(served) / len(served) if served else None
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=["ours", "baseline"])
    parser.add_argument("--workers", default="5,50,200")
    parser.add_argument(
        "--baseline-workers",
        default="50",
        help="worker counts of the figure-5 baseline (comma-separated; '' for "
        "none). A fresh httpx client costs ~40-70 ms of CPU here (its SSL "
        "context), so each baseline run takes minutes.",
    )
    parser.add_argument("--categories", type=int, default=22)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument(
        "--no-quotas",
        action="store_true",
        help="do not meter provider quotas (they are metered by default, "
        "as in production, with limits no bench reaches)",
    )
    parser.add_argument(
        "--processes",
        default="1",
        help="run each measured run in 1 and/or more processes (comma-"
        "separated): N: the first starts the run with its share of the "
        "workers, the others join it (an operator's 'add a worker "
        "process'); auto: run_collection's own spreading over the usable "
        "cores (--processes auto); e.g. 1,2,auto",
    )
    parser.add_argument("--spread", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR")
    parser.add_argument("--run-workers", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--handshake", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--join", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        args.workers = int(args.workers)
        args.run_workers = args.run_workers or args.workers
        result = (child_ours if args.child == "ours" else child_baseline)(args)
        print(json.dumps(result, default=str))
        return 0

    worker_counts = [int(w) for w in args.workers.split(",") if w]
    baseline_spec = args.baseline_workers
    baseline_counts = [int(w) for w in baseline_spec.split(",") if w]
    latency = args.latency_ms / 1000
    ours: dict[int | str, dict] = {}
    baseline: dict[int, dict] = {}
    started = time.monotonic()
    process_counts: list[int | str] = [
        p if p == AUTO else int(p) for p in args.processes.split(",") if p
    ]
    with loopback_sandbox(latency_ms=args.latency_ms, seed=1) as base_url:
        for workers in worker_counts:
            for processes in process_counts:
                if isinstance(processes, int) and processes > workers:
                    continue
                key: int | str = (
                    workers
                    if processes == 1
                    else f"{workers}/{processes}"
                    if processes == AUTO
                    else f"{workers}/{processes}p"
                )
                ours[key] = measure(
                    "ours",
                    workers,
                    base_url=base_url,
                    args=args,
                    profile_dir=args.profile if processes == 1 else None,
                    processes=processes,
                )
            if workers in baseline_counts:
                baseline[workers] = measure(
                    "baseline", workers, base_url=base_url, args=args, profile_dir=None
                )
        for workers in baseline_counts:
            if workers not in baseline:
                baseline[workers] = measure(
                    "baseline", workers, base_url=base_url, args=args, profile_dir=None
                )
    load = os.getloadavg()

    ok = True
    rows = []
    for key, r in ours.items():
        workers = r["workers"]
        sandbox = r["sandbox"]
        api_requests = (
            sandbox.get(OXYLABS_PATH, 0) + sandbox.get(SEARCH_PATH, 0) + sandbox.get(TOKEN_PATH, 0)
        )
        r["R"] = api_requests
        r["ideal_s"] = api_requests * latency / workers
        r["efficiency"] = r["ideal_s"] / r["wall_s"]
        r["cpu_ms_per_request"] = 1000 * r["cpu_s"] / api_requests
        r["sandbox_cpu_ms_per_request"] = 1000 * r["sandbox_cpu_s"] / api_requests
        ebay_requests = sandbox.get(SEARCH_PATH, 0)
        if r.get("ebay_phase_s"):
            r["ebay_phase_efficiency"] = (ebay_requests * latency / workers) / r["ebay_phase_s"]
        if r.get("served_ms_mean"):
            # The same ratio with the latency the sandbox actually served (diagnostic).
            r["served_efficiency"] = (
                api_requests * r["served_ms_mean"] / 1000 / workers / r["wall_s"]
            )
        target = TARGETS.get(key)
        r["target"] = target
        r["target_met"] = None if target is None else r["efficiency"] >= target
        r["cpu_target_met"] = r["cpu_ms_per_request"] <= CPU_TARGET_MS
        if r["status"] != "completed" or r["ebay_searches"] < 2000:
            ok = False
        rows.append(
            [
                key
                if isinstance(key, int)
                else f"{workers} in {r['processes']} processes"
                + (f" ({r['spread']})" if r.get("spread") else ""),
                r["R"],
                f"{r['ideal_s']:.2f}",
                f"{r['wall_s']:.2f}",
                f"{r['efficiency']:.3f}",
                f"≥ {target:.2f}" if target else "report",
                f"{r.get('ebay_phase_efficiency', 0):.3f}",
                f"{r['served_ms_mean']:.1f}" if r.get("served_ms_mean") else "-",
                f"{r.get('served_efficiency', 0):.3f}",
                f"{r['cpu_ms_per_request']:.3f}",
                f"{r['sandbox_cpu_ms_per_request']:.3f}",
                r["status"],
            ]
        )

    print()
    print(
        "Figure 1 — engine efficiency (live clients → loopback sandbox, "
        f"{args.latency_ms:g} ms latency, rate limits off)"
    )
    print(
        f"  run: {args.categories} categories × 2 Amazon pages, 1 eBay page per product; "
        "R = Amazon pages + eBay searches + token mint (sandbox log)"
    )
    print(
        table(
            rows,
            [
                "workers",
                "R",
                "ideal s",
                "actual s",
                "efficiency",
                "target",
                "eBay-phase eff.",
                "served ms",
                "eff. at served",
                "CPU ms/req",
                "sandbox CPU ms/req",
                "status",
            ],
        )
    )
    print(
        "  served ms: mean time the sandbox took per API request (50 ms + what the "
        "machine's load added server-side); eff. at served = ideal with it ÷ actual"
    )
    print(
        "  sandbox CPU: the emulator's own process (not ours, but on the same two cores; "
        "it memoizes pages, so runs after the first repeat cheaper requests)"
    )
    sample = next(iter(ours.values()))
    print(
        f"  products {sample['products']}, eBay searches {sample['ebay_searches']}, "
        f"sellers found {sample['sellers_found']}, sightings {sample['sightings']}, "
        f"events {sample['events']}; CPU target ≤ {CPU_TARGET_MS} ms/request"
    )

    rows5 = []
    for workers, b in baseline.items():
        b["cpu_ms_per_request"] = 1000 * b["cpu_s"] / b["ebay_searches"]
        ours_r = ours.get(workers)
        if ours_r and ours_r.get("ebay_phase_s"):
            b["ratio_wall"] = b["ebay_phase_s"] / ours_r["ebay_phase_s"]
        rows5.append(
            [
                workers,
                b["ebay_searches"],
                f"{b['fetch_wall_s']:.2f}",
                f"{b['store_wall_s']:.2f}",
                f"{b['ebay_phase_s']:.2f}",
                f"{ours_r['ebay_phase_s']:.2f}" if ours_r and ours_r.get("ebay_phase_s") else "-",
                f"{b.get('ratio_wall', 0):.2f}×",
                f"{b['cpu_ms_per_request']:.3f}",
            ]
        )
    print()
    print(
        "Figure 5 — original-style baseline (fresh httpx client per request, persistence "
        "deferred to the end), same eBay phase"
    )
    print(
        table(
            rows5,
            [
                "workers",
                "searches",
                "fetch s",
                "store s",
                "eBay phase s",
                "ours eBay phase s",
                "baseline/ours",
                "CPU ms/req",
            ],
        )
    )
    print(
        f"  load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"bench took {time.monotonic() - started:.0f} s"
    )
    print()
    print(
        json.dumps(
            {
                "figure": "engine",
                "ok": ok,
                "latency_ms": args.latency_ms,
                "categories": args.categories,
                "ours": {str(k): v for k, v in ours.items()},
                "baseline": {str(k): v for k, v in baseline.items()},
                "targets_efficiency": {str(k): v for k, v in TARGETS.items()},
                "target_cpu_ms_per_request": CPU_TARGET_MS,
                "machine": machine(),
                "loadavg": load,
                "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            },
            default=str,
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
