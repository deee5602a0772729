"""The terminal display of ``run_collection``: live progress bars, the summary, the run's top
dropshippers and what to open next (rich). Output only: it reads what it is given."""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING

from collection.engine import RunReport
from collection.selectors import RunProgress

if TYPE_CHECKING:  # rich is imported when a display starts
    from rich.console import JustifyMethod
    from rich.live import Live
    from rich.progress import Progress, TaskID

    from collection.services.spread import Joiner


def resume_command(run_id: int) -> str:
    return f"python manage.py run_collection --resume {run_id}"


class ProgressDisplay:
    """Two progress bars (Amazon tasks, eBay tasks) and a line of live counters (rich).

    With joiners (``processes`` > 1) the request rate is the run's, from its stored
    counter, and the busy workers are this process's."""

    RATE_WINDOW_S = 5.0

    def __init__(self, stream, *, run_id: int, processes: int = 1) -> None:
        from rich.console import Console

        self.run_id = run_id
        self.processes = processes
        self._requests: deque[tuple[float, int]] = deque()  # (monotonic, run.requests)
        self.console = Console(file=stream, highlight=False, soft_wrap=False)
        self.progress: Progress | None = None
        self.live: Live | None = None
        self._amazon: TaskID | None = None  # set with self.progress, by start()
        self._ebay: TaskID | None = None
        self._last: RunProgress | None = None

    def __rich__(self):
        """The counters line under the bars."""
        from rich.text import Text

        p = self._last
        if p is None:
            return Text("starting…", style="dim")
        if self.processes > 1:
            rate = f"{self._run_rate():5.1f} req/s in {self.processes} processes · "
            rate += f"{p.busy_workers} busy here · "
        else:
            rate = f"{p.requests_per_s:5.1f} req/s · {p.busy_workers} busy · "
        return Text(
            f"{rate}"
            f"{p.sellers_found:,} sellers ({p.sellers_new:,} new) · "
            f"{p.retries} retries · {p.failed_tasks} failed",
            style="dim",
        )

    def _run_rate(self) -> float:
        """Requests per second of every process, over the last ``RATE_WINDOW_S``."""
        if len(self._requests) < 2:
            return 0.0
        (t0, r0), (t1, r1) = self._requests[0], self._requests[-1]
        return (r1 - r0) / (t1 - t0) if t1 > t0 else 0.0

    def start(self) -> None:
        from rich.console import Group
        from rich.live import Live
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        spread = f" in {self.processes} processes" if self.processes > 1 else ""
        self.console.print(
            f"Run {self.run_id}{spread}: Ctrl-C pauses it; {resume_command(self.run_id)} "
            "continues.",
            markup=False,
        )
        self.progress = Progress(
            TextColumn("{task.description:<19}"),
            BarColumn(bar_width=28),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=self.console,
        )
        self._amazon = self.progress.add_task("Amazon best sellers", total=None, info="")
        self._ebay = self.progress.add_task("eBay searches", total=None, info="")
        self.live = Live(
            Group(self.progress, self),
            console=self.console,
            refresh_per_second=4,
            transient=False,
        )
        self.live.start()

    def update(self, p: RunProgress) -> None:
        """The engine's progress (about twice a second). The first one starts the live
        display: its refresh thread must not exist before the run's joiners are forked."""
        if self.live is None:
            self.start()
        self._last = p
        now = time.monotonic()
        self._requests.append((now, p.requests))
        while len(self._requests) > 2 and now - self._requests[0][0] > self.RATE_WINDOW_S:
            self._requests.popleft()
        if self.progress is None or self._amazon is None or self._ebay is None:
            return
        self.progress.update(
            self._amazon,
            total=p.amazon_total or None,
            completed=p.amazon_finished,
            info=f"{p.products} products",
        )
        self.progress.update(
            self._ebay,
            total=p.ebay_total or None,
            completed=p.ebay_finished,
            info=f"{p.sightings:,} sightings",
        )

    def joiner_died(self, joiner: Joiner) -> None:
        """A joiner ended while the run went on (called from its watcher thread)."""
        self.console.print(
            f"Joiner {joiner.index} (pid {joiner.process.pid}) exited with "
            f"{joiner.process.returncode}; the other processes take over its "
            f"{joiner.released} tasks and the run goes on. Its log: {joiner.log_path}",
            markup=False,
        )

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
            self.progress = None

    def summary(
        self,
        report: RunReport,
        *,
        evidence: dict | None = None,
        processes: list[dict] | None = None,
    ) -> None:
        from rich.table import Table

        evidence = evidence or {}
        processes = processes or []

        table = Table(title=f"Run {report.run_id}: {report.status}", show_header=False)
        table.add_column(justify="left")
        table.add_column(justify="right")
        session_requests = report.session.get("requests", 0)
        if len(processes) > 1:  # this execution's requests, every process counted
            session_requests = sum(int(p.get("requests", 0)) for p in processes)
        requests_per_s = session_requests / report.duration_s if report.duration_s else 0
        rows = [
            ("Duration (this execution)", f"{report.duration_s:.1f} s"),
            *([("Processes", _processes_line(processes))] if len(processes) > 1 else []),
            ("Products", report.products),
            ("eBay searches", report.ebay_searches),
            ("Sellers found", report.sellers_found),
            ("New sellers", report.sellers_new),
            ("Sightings", report.sightings),
            *(
                [
                    ("  matched (copies: they count)", evidence["sightings_matched"]),
                    ("  look-alikes (kept, not counted)", evidence["sightings_lookalike"]),
                ]
                if "sightings_matched" in evidence
                else []
            ),
            ("Requests", f"{report.requests} ({requests_per_s:.1f}/s)"),
            ("Retries", report.retries),
            ("Failed tasks", report.failed_tasks),
        ]
        errors = {
            key.removeprefix("requests/failed/"): value
            for key, value in sorted(report.stats.items())
            if key.startswith("requests/failed/")
        }
        if errors:
            rows.append(("Failed requests", ", ".join(f"{k} {v}" for k, v in errors.items())))
        for name, value in rows:
            table.add_row(name, str(value))
        self.console.print(table)
        if report.failed:
            self.console.print("Failed tasks:")
            for task in report.failed[:20]:
                self.console.print(
                    f"  {task['key']}  {task['error_type']}  {task['error_message'][:120]}",
                    markup=False,
                )
            if report.failed_tasks > 20:
                self.console.print(f"  … and {report.failed_tasks - 20} more (see the admin).")
        if report.status != "completed" and report.message:
            self.console.print(f"Why: {report.message}", markup=False)

        died = [p for p in processes if p.get("died")]
        if len(processes) > 1:
            logs = sorted({p["log"] for p in processes if p.get("log")})
            note = " (one died: see it)" if died else ""
            self.console.print(f"Joiner logs{note}: {', '.join(logs)}", markup=False)
        self._top(report.run_id, evidence.get("top_dropshippers") or [])

    def _top(self, run_id: int, top: list[dict]) -> None:
        """The likely dropshippers of the run, and where to look next."""
        from rich.table import Table
        from rich.text import Text

        if not top:
            self.console.print("No listing of this run copies a best seller's title.")
            return
        table = Table(title=f"Top dropshippers of run {run_id}")
        columns: tuple[tuple[str, JustifyMethod], ...] = (
            ("Seller", "left"),
            ("Best sellers matched", "right"),
            ("Median markup", "right"),
            ("Score", "right"),
        )
        for name, justify in columns:
            table.add_column(name, justify=justify)
        for row in top:
            markup = row["median_markup_percent"]
            table.add_row(
                Text(row["username"]),  # scraped: never rich markup
                str(row["products_in_run"]),
                "—" if markup is None else f"{markup:.0f} %",
                f"{row['score']:.1f}",
            )
        self.console.print(table)
        self.console.print(
            "Next: ./dev serve, then open http://127.0.0.1:8000/?seen_in_run="
            f"{run_id} (the leaderboard for this run: evidence and links to eBay and "
            f"Amazon), or: python manage.py export_sellers --run {run_id} --format csv",
            markup=False,
        )


def _processes_line(processes: list[dict]) -> str:
    """'2: 25 + 25 workers, 1,210 + 1,298 requests' (a joiner that died says so)."""
    workers = " + ".join(str(p["workers"]) for p in processes)
    requests = " + ".join(f"{int(p.get('requests', 0)):,}" for p in processes)
    died = [p for p in processes if p.get("died")]
    line = f"{len(processes)}: {workers} workers, {requests} requests"
    if died:
        line += "; " + ", ".join(f"joiner {p['index']} died (exit {p['exit_code']})" for p in died)
    return line
