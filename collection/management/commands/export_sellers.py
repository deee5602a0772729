"""python manage.py export_sellers --format csv|json [--run ID] [--flagged] [--since DATE]
[--include-deleted] [--output FILE]"""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime

from collection.models import SellerChange
from collection.services.exports import FORMATS, ExportError, sellers_export


def _since(value: str) -> dt.date | dt.datetime:
    try:
        parsed = parse_datetime(value) or parse_date(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise CommandError(
            f"--since {value!r} is not a date (YYYY-MM-DD) or an ISO datetime.", returncode=2
        )
    if isinstance(parsed, dt.datetime) and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


class Command(BaseCommand):
    help = (
        "Export active sellers as CSV or JSON, streamed (constant memory). Filters: sellers "
        "seen by a run, flagged sellers, sellers first seen on or after a date. Every export "
        "is logged as an 'exported' seller change."
    )

    def add_arguments(self, parser):
        parser.add_argument("--format", dest="fmt", choices=sorted(FORMATS), default="csv")
        parser.add_argument("--run", type=int, metavar="ID", help="Only sellers this run saw.")
        parser.add_argument("--flagged", action="store_true", help="Only flagged sellers.")
        parser.add_argument(
            "--since", metavar="DATE", help="Only sellers first seen on or after DATE (UTC)."
        )
        parser.add_argument(
            "--include-deleted",
            action="store_true",
            help="Also export soft-deleted sellers (the deleted_at column says which).",
        )
        parser.add_argument("--output", metavar="FILE", help="Write here instead of stdout.")

    def handle(self, *, fmt, run, flagged, since, output, include_deleted, **options):
        since = _since(since) if since else None
        handle = None
        if output:
            try:
                handle = open(output, "w", encoding="utf-8", newline="")
            except OSError as exc:
                raise CommandError(f"Cannot write {output}: {exc.strerror}.", returncode=2) from exc
        try:
            export = sellers_export(
                fmt=fmt,
                run_id=run,
                flagged=True if flagged else None,
                since=since,
                include_deleted=include_deleted,
                source=SellerChange.Source.COMMAND,
            )
        except ExportError as exc:
            if handle:
                handle.close()
            raise CommandError(str(exc), returncode=2) from exc

        if handle is None:
            for chunk in export.chunks:
                self.stdout.write(chunk, ending="")
            return
        with handle:
            for chunk in export.chunks:
                handle.write(chunk)
        self.stderr.write(f"Exported {export.count} seller(s) to {output}.")
