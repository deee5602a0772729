"""The terminal display of ``run_collection``: live progress bars, the summary, the run's top
dropshippers and what to open next (rich). Output only: it reads what it is given."""

from __future__ import annotations

from typing import TYPE_CHECKING

from collection.engine import RunReport
from collection.selectors import RunProgress

if TYPE_CHECKING:  # rich is imported when a display starts
    from rich.console import JustifyMethod
    from rich.live import Live
    from rich.progress import Progress, TaskID


def resume_command(run_id: int) -> str:
    return f"python manage.py run_collection --resume {run_id}"


class ProgressDisplay:
    """Two progress bars (Amazon tasks, eBay tasks) and a line of live counters (rich)."""

    def __init__(self, stream, *, run_id: int) -> None:
        from rich.console import Console

        self.run_id = run_id
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
        return Text(
            f"{p.requests_per_s:5.1f} req/s · {p.busy_workers} busy · "
            f"{p.sellers_found:,} sellers ({p.sellers_new:,} new) · "
            f"{p.retries} retries · {p.failed_tasks} failed",
            style="dim",
        )

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

        self.console.print(
            f"Run {self.run_id}: Ctrl-C pauses it; {resume_command(self.run_id)} continues.",
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
        self._last = p
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

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
            self.progress = None

    def summary(self, report: RunReport, *, evidence: dict | None = None) -> None:
        from rich.table import Table

        evidence = evidence or {}

        table = Table(title=f"Run {report.run_id}: {report.status}", show_header=False)
        table.add_column(justify="left")
        table.add_column(justify="right")
        session_requests = report.session.get("requests", 0)
        requests_per_s = session_requests / report.duration_s if report.duration_s else 0
        rows = [
            ("Duration (this process)", f"{report.duration_s:.1f} s"),
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
