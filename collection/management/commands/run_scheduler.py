"""python manage.py run_scheduler [--once] [--interval SECONDS]

Starts due scheduled runs and puts orphaned/stranded runs back in the task queue. Safe to
run in several processes or machines at once (each slot starts exactly one run).
"""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from collection.services.schedules import scheduler_loop, scheduler_tick


class Command(BaseCommand):
    help = (
        "Run the scheduler: start due scheduled runs and re-enqueue runs whose worker died. "
        "Several schedulers may run at once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One tick, then exit.")
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="Seconds between ticks (default COLLECTION_SCHEDULER_SECONDS).",
        )

    def handle(self, *, once, interval, **options):
        if once:
            report = scheduler_tick()
            for firing in report.firings:
                if firing.run_id:
                    self.stdout.write(f"schedule {firing.schedule_id}: started run {firing.run_id}")
                else:
                    self.stdout.write(f"schedule {firing.schedule_id}: no run ({firing.error})")
            recovery = report.recovery
            for label, ids in [
                ("orphaned, re-queued", recovery.orphaned_requeued),
                ("orphaned too often, left paused", recovery.orphaned_given_up),
                ("stranded, re-queued", recovery.stranded_requeued),
                ("quota reset, re-queued", recovery.quota_resumed),
            ]:
                if ids:
                    self.stdout.write(f"{label}: runs {', '.join(map(str, ids))}")
            return
        interval = settings.COLLECTION_SCHEDULER_SECONDS if interval is None else interval
        if interval <= 0:
            raise CommandError("--interval must be positive.", returncode=2)
        stop = threading.Event()

        def request_stop(signum, frame):
            stop.set()

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        self.stdout.write(f"Scheduler running every {interval:g} s; Ctrl-C stops it.")
        scheduler_loop(stop=stop, interval=interval)
