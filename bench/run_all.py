"""Run every benchmark figure and print a summary (``./dev bench``).

    ./dev bench                     all figures (about 15 minutes on 2 cores)
    ./dev bench --only engine,fanout
    ./dev bench --strict            exit 1 when a target is missed, not only on errors

Figures (one script each; every script prints its own table and a last JSON line):

    1      bench/engine.py   engine efficiency and CPU/request (3 rounds), beside Scrapy
    2      bench/ingest.py   seller + sighting ingest through the store (store's script)
    3      bench/fanout.py   websocket fan-out through daphne + channels-redis
    4      bench/memory.py   peak RSS at 1× and 10× the products
    6      bench/matching.py recall and precision against the sandbox's ground truth, 3 seeds

Needs PostgreSQL (``BENCH_DATABASE_URL``, default postgres://postgres@127.0.0.1:5432/
scout_bench, created and migrated on first use, wiped by every figure; never the dev
database) and Redis (``BENCH_REDIS_URL``, default redis://127.0.0.1:6379/14, flushed by
figure 3). ``--json-out FILE`` writes every figure's JSON to FILE.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench._common import machine, table  # noqa: E402

# script, extra arguments, the most seconds it may take (a loaded machine is slower; a
# figure still running then is stopped with every process it started).
FIGURES = {
    # 50 and 200 workers, one process and --processes auto, 3 rounds, the Scrapy peer
    # after our runs of each round (~9 minutes); the 2-process operator row and figure 5's
    # baseline are options of bench/engine.py (--processes 1,2,auto, --baseline-workers 50).
    "engine": (
        "bench/engine.py",
        ["--workers", "50,200", "--processes", "1,auto", "--repeat", "3", "--peer", "scrapy"],
        1500,
    ),
    # both COLLECTION_SELLER_COUNTERS modes, 3 rounds each (~4 minutes)
    "ingest": ("bench/ingest.py", [], 900),
    "fanout": ("bench/fanout.py", [], 400),
    "memory": ("bench/memory.py", [], 400),
    "matching": ("bench/matching.py", [], 900),
}


def _stop(process: subprocess.Popen) -> None:
    """Stop a figure and every process it started (they share its session)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(10)
            return
        except subprocess.TimeoutExpired:
            continue


def run_figure(name: str) -> tuple[dict | None, float, int]:
    script, extra, timeout = FIGURES[name]
    print(f"\n=== {name}: {script} {' '.join(extra)}".rstrip(), flush=True)
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, script, *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )
    lines: list[str] = []

    def pump() -> None:
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line)

    reader = threading.Thread(target=pump, name=f"bench-{name}", daemon=True)
    reader.start()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        _stop(process)
        print(f"!!! {name} stopped after {timeout} s", flush=True)
    except BaseException:  # Ctrl-C: the figure runs in its own session, stop it too
        _stop(process)
        raise
    reader.join(10)
    last_json = next((line for line in reversed(lines) if line.startswith("{")), None)
    elapsed = time.monotonic() - started
    result = None
    if last_json:
        try:
            result = json.loads(last_json)
        except ValueError:
            result = None
    return result, elapsed, process.returncode


def summarize(results: dict[str, dict | None]) -> list[list]:
    """Rows: figure, measure, value, target, met."""
    rows: list[list] = []

    def row(figure, measure, value, target, met):
        mark = "-" if met is None else ("yes" if met else "MISSED")
        rows.append([figure, measure, value, target, mark])

    engine = results.get("engine")
    if engine:
        repeat = engine.get("repeat", 1)

        def spread(r: dict, field: str, digits: int = 3) -> str:
            text = f"{r[field]:.{digits}f}"
            if r.get("repetitions", 1) > 1:
                text += f" [{r[field + '_min']:.{digits}f}–{r[field + '_max']:.{digits}f}]"
            return text

        for key, r in engine["ours"].items():
            target = engine["targets_efficiency"].get(key)
            shape = (
                f"{r['workers']} workers, one process"
                if r.get("processes", 1) == 1
                else f"{r['workers']} workers, --processes {r.get('spread') or r['processes']}"
            )
            row(
                "1 engine",
                f"efficiency, {shape} (median [min–max] of {repeat})",
                spread(r, "efficiency"),
                f"≥ {target}" if target else "report",
                r.get("target_met"),
            )
        cpu_key = engine.get("target_cpu_key", "50")
        cpu_run = engine["ours"].get(cpu_key)
        if cpu_run:
            row(
                "1 engine",
                f"CPU ms/request, {cpu_key} workers, one process (median [min–max])",
                spread(cpu_run, "cpu_ms_per_request"),
                f"≤ {engine['target_cpu_ms_per_request']}",
                cpu_run["cpu_ms_per_request"] <= engine["target_cpu_ms_per_request"],
            )
        peer = engine.get("peer") or {}
        for workers, entry in (engine.get("peer_ratios") or {}).items():
            scrapy = peer.get("runs", {}).get(f"{workers}/judge")
            if scrapy:
                row(
                    "1 peer",
                    f"Scrapy {peer.get('version')} ({peer.get('setup')}), "
                    f"{workers} workers: efficiency / CPU ms/request",
                    f"{scrapy['efficiency']:.3f} / {scrapy['cpu_ms_per_request']:.2f}",
                    "report",
                    None,
                )
            for name, label, target in (
                ("ebay_phase_one_process", "eBay phase, one process each", True),
                ("run_one_process", "our whole run, one process", False),
                ("ebay_phase_auto", "eBay phase, ours --processes auto", False),
                ("run_auto", "our whole run, --processes auto", False),
            ):
                ratio = entry.get(name)
                if ratio is None:
                    continue
                value = f"{ratio['median']:.2f}×"
                if ratio["min"] != ratio["max"]:
                    value += f" [{ratio['min']:.2f}–{ratio['max']:.2f}]"
                row(
                    "1 peer",
                    f"ours ÷ Scrapy efficiency, {workers} workers ({label})",
                    value,
                    f"≥ {entry['target']:g}×" if target else "report",
                    entry.get("target_met") if target else None,
                )
        for workers, b in engine["baseline"].items():
            if "ratio_wall" in b:
                row(
                    "5 baseline",
                    f"eBay phase baseline/ours, {workers} workers",
                    f"{b['ratio_wall']:.2f}×",
                    "report",
                    None,
                )
    ingest = results.get("ingest")
    if ingest:
        per_batch = ingest.get("modes", {}).get("per_batch", ingest)
        row(
            "2 ingest",
            "sellers/s (per_batch, the default)",
            f"{per_batch['sellers_per_s']:,}",
            "≥ 20,000",
            per_batch["target_met"],
        )
        per_run = ingest.get("modes", {}).get("per_run")
        if per_run:
            row(
                "2 ingest",
                "sellers/s, COLLECTION_SELLER_COUNTERS=per_run",
                f"{per_run['sellers_per_s']:,}",
                "≥ 20,000",
                per_run["target_met"],
            )
        row("2 ingest", "rows/s ÷ raw COPY", f"{ingest['ratio_to_copy']:.3f}", "report", None)
    fanout = results.get("fanout")
    if fanout:
        latency = fanout["latency_ms"]
        row(
            "3 fan-out",
            "events/s",
            f"{fanout['events_per_s']:.0f}",
            "≥ 200",
            fanout["events_per_s"] >= 200,
        )
        row(
            "3 fan-out",
            "p50 publish→receive ms",
            "-" if latency["p50"] is None else f"{latency['p50']:.1f}",
            "< 50",
            latency["p50"] is not None and latency["p50"] < 50,
        )
        row(
            "3 fan-out",
            "p99 publish→receive ms",
            "-" if latency["p99"] is None else f"{latency['p99']:.1f}",
            "< 250",
            latency["p99"] is not None and latency["p99"] < 250,
        )
        row(
            "3 fan-out",
            "events lost before resync",
            f"{fanout['lost_before_resync']}",
            "report",
            None,
        )
        row(
            "3 fan-out",
            "clients with every event",
            f"{fanout['clients_complete']}/{fanout['clients']}",
            "all",
            fanout["clients_complete"] == fanout["clients"],
        )
    memory = results.get("memory")
    if memory:
        row(
            "4 memory",
            "peak RSS 10× ÷ 1×",
            f"{memory['ratio']:.3f}",
            f"≤ {memory['target_ratio']}",
            memory["target_met"],
        )
    matching = results.get("matching")
    if matching:
        for result in matching["results"]:
            ours, original = result["ours"], result["original"]
            for name, target in (
                ("dropshipper_recall", 0.95),
                ("precision_at_20", 0.95),
                ("precision_at_50", 0.95),
                ("copy_recall", 0.90),
                ("sighting_precision", 0.95),
            ):
                value = ours[name]
                where = f"seed {result['seed']}, {result['categories']} categories"
                row(
                    "6 matching",
                    f"{where}: {name} (original {original[name]})",
                    value,
                    f"≥ {target}",
                    value is not None and value >= target,
                )
            ratio = (
                ours["calls_per_dropshipper"] / original["calls_per_dropshipper"]
                if ours["calls_per_dropshipper"] and original["calls_per_dropshipper"]
                else None
            )
            row(
                "6 matching",
                f"{where}: calls per dropshipper ÷ original",
                "-" if ratio is None else f"{ratio:.3f}",
                "≤ 0.5",
                ratio is not None and ratio <= 0.5,
            )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated: " + ",".join(FIGURES))
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when a target is missed (default: only on errors)",
    )
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(FIGURES)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        parser.error(f"unknown figure(s): {', '.join(unknown)}")

    started = time.monotonic()
    results: dict[str, dict | None] = {}
    timings: dict[str, float] = {}
    failed: list[str] = []
    for name in names:
        result, elapsed, code = run_figure(name)
        results[name] = result
        timings[name] = elapsed
        if code != 0 or result is None or not result.get("ok", False):
            failed.append(name)

    rows = summarize(results)
    info = machine()
    print()
    print(
        f"Summary — {info['cpus']} CPUs ({info['cpu_model']}), {info['memory_gib']} GiB, "
        f"Python {info['python']}; total {time.monotonic() - started:.0f} s "
        f"({', '.join(f'{k} {v:.0f} s' for k, v in timings.items())})"
    )
    print(table(rows, ["figure", "measure", "value", "target", "met"]))
    if failed:
        print(f"  errors in: {', '.join(failed)}")
    missed = [r for r in rows if r[-1] == "MISSED"]
    summary = {
        "figure": "summary",
        "ok": not failed,
        "failed": failed,
        "missed": [f"{r[0]}: {r[1]}" for r in missed],
        "seconds": {k: round(v, 1) for k, v in timings.items()},
        "machine": info,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if args.json_out:
        args.json_out.write_text(json.dumps({"summary": summary, **results}, indent=1))
    print()
    print(json.dumps(summary))
    if failed:
        return 1
    return 1 if (args.strict and missed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
