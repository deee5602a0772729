"""Take part in a run that another process of this machine executes (a joiner).

    python -m django join_run RUN_ID --workers K --since ISO_TIME

``run_collection --processes`` and a task worker that picks up a run start these (see
``collection.services.spread``); they are not meant to be run by hand. Standard input is
the lifeline: when the parent closes it or dies, the joiner stops. Standard output gets one
JSON line when it ends; logs go to standard error (the parent points it at a log file).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys

from django.core.management.base import BaseCommand, CommandError

from collection.services.lifecycle import RunError
from collection.services.spread import run_join_execute


def _since(value: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--since must be an ISO time, got {value!r}.") from exc
    if when.tzinfo is None:
        raise CommandError(f"--since must carry a UTC offset, got {value!r}.")
    return when


class Command(BaseCommand):
    help = "Join a run another process of this machine executes (started by run_collection "
    "--processes and by db_worker; not meant to be run by hand)."
    # The parent ran the checks; a joiner is part of its execution, and starts fast.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int)
        parser.add_argument("--workers", type=int, required=True)
        parser.add_argument("--since", required=True, help="when the parent started it")

    def handle(self, *args, **options):
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1.")
        try:
            result = run_join_execute(
                run_id=options["run_id"],
                workers=options["workers"],
                since=_since(options["since"]),
                lifeline=sys.stdin.fileno(),
            )
        except RunError as exc:  # completed or cancelled meanwhile, or gone
            result = {"run_id": options["run_id"], "skipped": True, "message": str(exc)}
        try:
            self.stdout.write(json.dumps(result, default=str))
            self.stdout.flush()
        except BrokenPipeError:  # the parent died (the run was paused): nobody to tell
            logging.getLogger(__name__).warning("parent gone; report not sent: %s", result)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # quiet exit
