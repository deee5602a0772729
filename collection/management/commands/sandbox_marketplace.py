"""Serve the sandbox marketplace as a real HTTP server on loopback.

    python manage.py sandbox_marketplace --host 127.0.0.1 --port 8900 --latency-ms 50 --seed 1

Then point the live clients at it:

    MARKETPLACE=live OXYLABS_BASE_URL=http://127.0.0.1:8900 \
    EBAY_API_BASE_URL=http://127.0.0.1:8900 OXYLABS_USERNAME=u OXYLABS_PASSWORD=p \
    EBAY_CLIENT_ID=id EBAY_CLIENT_SECRET=secret python manage.py run_collection ...
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

from django.core.management.base import BaseCommand, CommandError

from collection.marketplaces.sandbox import SandboxConfig
from collection.marketplaces.sandbox.server import serve


class Command(BaseCommand):
    help = "Serve the sandbox marketplace (Oxylabs and eBay APIs emulator) over HTTP."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8900)
        parser.add_argument("--seed", type=int, help="catalogue seed (SANDBOX_SEED)")
        parser.add_argument("--latency-ms", type=float, help="added latency (SANDBOX_LATENCY_MS)")
        parser.add_argument("--jitter-ms", type=float, help="± latency jitter")
        parser.add_argument(
            "--rate-limit-rps",
            type=float,
            help="requests/s per provider before 429 + Retry-After (0 = off)",
        )
        parser.add_argument("--error-rate", type=float, help="share of transient 5xx (0–1)")
        parser.add_argument(
            "--timeout-rate",
            type=float,
            help="share of responses held past the client timeout (0–1)",
        )
        parser.add_argument(
            "--timeout-sleep-s", type=float, help="how long a 'timeout' response is held"
        )
        parser.add_argument(
            "--malformed-rate",
            type=float,
            help="share of malformed bodies (truncated JSON, HTML, captcha)",
        )
        parser.add_argument(
            "--hostile",
            action="store_true",
            default=None,
            help="markup, look-alike sellers, absurd prices, huge titles",
        )
        parser.add_argument(
            "--daily-quota", type=int, help="Browse calls per day before 429 errorId 2001 (0 = off)"
        )
        parser.add_argument(
            "--day-seconds", type=float, help="length of a quota day (fast clock for tests)"
        )
        parser.add_argument("--best-sellers-per-page", type=int)
        parser.add_argument(
            "--max-listings",
            type=int,
            help="most listings per product passing the dropshipper filters",
        )

    def handle(self, *args, **options):
        overrides = {
            field: options[option]
            for field, option in (
                ("seed", "seed"),
                ("latency_ms", "latency_ms"),
                ("jitter_ms", "jitter_ms"),
                ("rate_limit_rps", "rate_limit_rps"),
                ("error_rate", "error_rate"),
                ("timeout_rate", "timeout_rate"),
                ("timeout_sleep_s", "timeout_sleep_s"),
                ("malformed_rate", "malformed_rate"),
                ("hostile", "hostile"),
                ("daily_quota", "daily_quota"),
                ("day_seconds", "day_seconds"),
                ("best_sellers_per_page", "best_sellers_per_page"),
                ("max_listings", "max_listings"),
            )
            if options[option] is not None
        }
        for name in ("error_rate", "timeout_rate", "malformed_rate"):
            if not 0 <= overrides.get(name, 0) <= 1:
                raise CommandError(f"--{name.replace('_', '-')} must be between 0 and 1")
        config = SandboxConfig.from_settings(**overrides)

        def ready(base_url, app) -> None:
            self.stdout.write(
                f"Sandbox marketplace listening on {base_url} (seed {config.seed}, latency "
                f"{config.latency_ms:g}±{config.jitter_ms:g} ms, rate limit "
                f"{config.rate_limit_rps or 'off'}, errors {config.error_rate:g}, timeouts "
                f"{config.timeout_rate:g}, malformed {config.malformed_rate:g}, hostile "
                f"{'on' if config.hostile else 'off'}, daily quota "
                f"{config.daily_quota or 'off'}). Ctrl-C stops."
            )
            self.stdout.write(
                f"Use it: MARKETPLACE=live OXYLABS_BASE_URL={base_url} "
                f"EBAY_API_BASE_URL={base_url} and any non-empty OXYLABS_USERNAME/PASSWORD, "
                "EBAY_CLIENT_ID/SECRET."
            )
            self.stdout.flush()

        async def run() -> None:
            task = asyncio.create_task(
                serve(config, host=options["host"], port=options["port"], ready=ready)
            )
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, task.cancel)
            with contextlib.suppress(asyncio.CancelledError):
                await task

        try:
            asyncio.run(run())
        except OSError as exc:
            raise CommandError(
                f"cannot serve on {options['host']}:{options['port']}: {exc}"
            ) from exc
        self.stdout.write("Sandbox marketplace stopped.")
