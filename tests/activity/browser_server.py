"""A live Seller Scout for the browser test: ``manage.py serve`` on a loopback port.

    python -m tests.activity.browser_server --port 8765 [--fresh-postgres]

Environment: DATABASE_URL (a SQLite file, or a PostgreSQL database this script recreates
with --fresh-postgres), REDIS_URL (optional: then task workers are separate ``db_worker``
processes and events cross processes through Redis, as deployed), DEBUG=True (daphne then
serves static files), SANDBOX_* knobs.

It migrates, creates an operator and a run to be scripted, then runs the real ``serve``
command (daphne + a task worker): runs started from the admin execute with the engine and
the sandbox marketplace. Protocol on stdio, one line each:

    stdout  READY {"script_run": ..., "category": {...}, "username": ..., "password": ...}
    stdin   script <run_id>   a scripted run through EventRecorder (on the server's loop),
                              with markup and script payloads in titles, seller names,
                              categories, URLs and messages
    stdin   seq <run_id>      stdout: SEQ <run_id> <status> <event_seq>
    stdout  DONE <run_id> <status> <event_seq>   when a scripted run ends
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from urllib.parse import urlsplit

USERNAME = "operator"
PASSWORD = "browser-test-password-8d1f"

# Payloads that must stay text. `evil.example` would be a foreign request if any of them
# were ever parsed as HTML; `window.__pwned` would be set by a script that ran.
HOSTILE_TITLE = (
    'Desk Lamp <img src=x onerror=alert(1)> <img src="https://evil.example/t.png"> '
    "<script>window.__pwned=1</script>"
)
HOSTILE_SELLER = '<script>alert("seller")</script>deal"><img src=x onerror=alert(2)>'
HOSTILE_CATEGORY = "Toys <b onmouseover=alert(3)>& Games</b>"
HOSTILE_MESSAGE = "upstream said <iframe src=javascript:alert(4)></iframe>"
HOSTILE_URL = "javascript:alert(5)"
EBAY_SEARCH = "https://api.ebay.com/buy/browse/v1/item_summary/search"

logger = logging.getLogger("browser_server")


def recreate_postgres_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def prepare() -> dict:
    """Migrate, create the operator and the run to script; return what the test needs."""
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from collection.models import Category
    from collection.services.lifecycle import run_create

    # A test server: a cheap hasher saves seconds of PBKDF2 at creation and at login.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("migrate", verbosity=0)
    User.objects.create_superuser(USERNAME, password=PASSWORD)
    category = Category.objects.get(node_id="3741261")  # 50 best sellers on page 1
    scripted_run = run_create(categories=[category], workers=3, amazon_pages=1, ebay_pages=1)
    top_seller = seed_dropshippers(run_id=scripted_run.pk, category=category)
    return {
        "script_run": scripted_run.pk,
        "category": {"pk": category.pk, "node_id": category.node_id},
        "top_seller": top_seller,
    }


def seed_dropshippers(*, run_id: int, category) -> dict:
    """Sellers with evidence for the operator pages (as the store leaves them, seen by the
    scripted run): a clear top dropshipper, a hostile one, and a tail of small sellers."""
    from decimal import Decimal

    from django.utils import timezone

    from collection.models import Product, ProductCategory, Seller, SellerSighting
    from collection.normalize import seller_key

    now = timezone.now()
    products = []
    for i in range(6):
        product = Product.objects.create(
            asin=f"B0SEED{i:04d}",
            title=HOSTILE_TITLE if i == 5 else f"Seeded best seller {i}",
            price=Decimal("20.00") + i,
        )
        ProductCategory.objects.create(product=product, category=category, rank=i + 1)
        products.append(product)

    def seller(name: str, score: float, matched: int) -> Seller:
        return Seller.objects.create(
            username=name,
            normalized=seller_key(name),
            score=score,
            products_matched=matched,
            median_price_ratio=1.9 if matched else None,
            copy_share=0.8 if matched else None,
            feedback_score=1200,
            feedback_percent=Decimal("99.2"),
            first_seen_run_id=run_id,
            last_seen_run_id=run_id,
            first_seen_at=now,
            last_seen_at=now,
            runs_seen=1,
        )

    top = seller("top-dropshipper", 95.0, 5)
    hostile = seller(HOSTILE_SELLER, 80.0, 1)
    tail = [seller(f"small-shop-{i:02d}", 10.0 - i / 10, 0) for i in range(60)]
    rows = [
        SellerSighting(
            run_id=run_id,
            seller=top,
            product=product,
            item_id=f"11{i:010d}",
            listing_price=product.price * Decimal("1.9"),
            currency="USD",
            title=f"Copy of {product.title}",
            match_score=95.0,
            is_match=True,
            price_ratio=1.9,
            shipping_cost=Decimal(0),
            location="US",
            query="seeded best seller",
        )
        for i, product in enumerate(products[:5])
    ]
    rows.append(
        SellerSighting(
            run_id=run_id,
            seller=hostile,
            product=products[5],
            item_id="javascript:alert(6)",
            listing_price=Decimal("50.00"),
            currency="USD",
            title=HOSTILE_TITLE,
            item_url=HOSTILE_URL,
            match_score=91.0,
            is_match=True,
            price_ratio=2.0,
            query=HOSTILE_TITLE,
            location=HOSTILE_CATEGORY,
        )
    )
    rows += [
        SellerSighting(
            run_id=run_id,
            seller=small,
            product=products[0],
            item_id=f"22{i:010d}",
            listing_price=Decimal("21.00"),
            title="Something else entirely",
            match_score=20.0,
            is_match=False,
            price_ratio=1.05,
        )
        for i, small in enumerate(tail)
    ]
    SellerSighting.objects.bulk_create(rows)
    return {"id": top.pk, "username": top.username}


# --- drivers ------------------------------------------------------------------------------


def _finished_line(run_id: int) -> str:
    from collection.models import CollectionRun

    run = CollectionRun.objects.get(pk=run_id)
    return f"DONE {run_id} {run.status} {run.event_seq}"


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def drive_script(run_id: int) -> None:
    """A small run written by hand: tasks and counters move, events flow in frames."""
    import asyncio

    from asgiref.sync import sync_to_async

    from activity.events import EventRecorder
    from activity.payloads import Action
    from collection.models import CollectionRun, RunTask
    from collection.services.lifecycle import run_transition

    Status = CollectionRun.Status
    recorder = EventRecorder(run_id)

    def start() -> list[int]:
        run_transition(run_id=run_id, to=Status.RUNNING)
        RunTask.objects.create(run_id=run_id, phase="amazon", key="amazon:3741261:1")
        return [
            RunTask.objects.create(run_id=run_id, phase="ebay", key=f"ebay:B0SCRIPT{i}:1").pk
            for i in range(6)
        ]

    def finish_task(*, phase: str, key_prefix: str, failed: bool = False, **counters) -> None:
        task = RunTask.objects.filter(
            run_id=run_id, phase=phase, key__startswith=key_prefix, status="pending"
        ).first()
        task.status = "failed" if failed else "done"
        task.save(update_fields=["status"])
        from django.db.models import F

        CollectionRun.objects.filter(pk=run_id).update(
            **{name: F(name) + value for name, value in counters.items()}
        )

    ebay_tasks = await sync_to_async(start)()
    recorder.emit(Action.RUN_STARTED)
    recorder.emit(Action.PHASE_STARTED, phase="amazon")
    recorder.emit(
        Action.FETCHING,
        worker=1,
        phase="amazon",
        page=1,
        category=HOSTILE_CATEGORY,
        url="https://realtime.oxylabs.io/v1/queries",
        attempt=1,
    )
    await recorder.aflush()
    await asyncio.sleep(0.3)
    await sync_to_async(finish_task)(
        phase="amazon", key_prefix="amazon", requests=1, products_found=6
    )
    recorder.emit(Action.FOUND, worker=1, phase="amazon", count=6, skipped=0, duration_ms=310)
    recorder.emit(Action.STORED, phase="amazon", tasks=1, products=6, sightings=0)
    recorder.emit(Action.PHASE_FINISHED, phase="amazon")
    recorder.emit(Action.PHASE_STARTED, phase="ebay")
    await recorder.aflush()
    for i, _task in enumerate(ebay_tasks):
        worker = 1 + i % 3
        title = HOSTILE_TITLE if i == 0 else f"Scripted product {i}"
        recorder.emit(
            Action.FETCHING,
            worker=worker,
            phase="ebay",
            page=1,
            product=title,
            url=HOSTILE_URL if i == 1 else f"{EBAY_SEARCH}?q=p{i}",
            attempt=1,
        )
        await recorder.aflush()
        await asyncio.sleep(0.25)
        if i == 5:
            recorder.emit(
                Action.RETRYING,
                worker=worker,
                phase="ebay",
                attempt=2,
                delay_s=0.1,
                error_type="timeout",
            )
            recorder.emit(
                Action.ERROR,
                worker=worker,
                phase="ebay",
                error_type="timeout",
                message=HOSTILE_MESSAGE,
                task=f"ebay:B0SCRIPT{i}:1",
            )
            await sync_to_async(finish_task)(
                phase="ebay",
                key_prefix="ebay",
                failed=True,
                requests=2,
                retries=1,
                failed_tasks=1,
            )
        else:
            recorder.emit(
                Action.FOUND,
                worker=worker,
                phase="ebay",
                count=3,
                skipped=0,
                has_next=False,
                duration_ms=240,
            )
            await sync_to_async(finish_task)(
                phase="ebay",
                key_prefix="ebay",
                requests=1,
                ebay_searches=1,
                sightings=3,
                sellers_found=2,
                sellers_new=2 if i == 0 else 0,
            )
        if i == 0:
            recorder.emit(
                Action.INSERTED, phase="ebay", sellers=2, names=[HOSTILE_SELLER, "calm-seller"]
            )
        recorder.emit(Action.STORED, phase="ebay", tasks=1, products=0, sightings=3)
        await recorder.aflush()
    recorder.emit(Action.PHASE_FINISHED, phase="ebay")
    recorder.emit(Action.COMPLETED, summary={"sellers_new": 2, "failed_tasks": 1})
    await recorder.aflush()

    def complete() -> str:
        CollectionRun.objects.filter(pk=run_id).update(phase="done")
        run_transition(run_id=run_id, to=Status.COMPLETED)
        return _finished_line(run_id)

    say(await sync_to_async(complete)())


# --- entry points -------------------------------------------------------------------------


def serve(port: int) -> None:
    import django
    from daphne.server import twisted_loop  # installs the asyncio reactor before Twisted

    django.setup()
    from django.core.management import call_command

    ready = prepare()

    def commands() -> None:
        for line in sys.stdin:
            parts = line.split()
            if len(parts) != 2:
                continue
            action, run_id = parts[0], int(parts[1])
            if action == "script":
                twisted_loop.call_soon_threadsafe(
                    lambda rid=run_id: twisted_loop.create_task(drive_script(rid))
                )
            elif action == "seq":
                from django.db import connection

                say(_finished_line(run_id).replace("DONE", "SEQ", 1))
                connection.close()

    threading.Thread(target=commands, daemon=True).start()
    say("READY " + json.dumps({**ready, "username": USERNAME, "password": PASSWORD}))
    call_command(
        "serve",
        host="127.0.0.1",
        port=port,
        task_workers=1,
        no_scheduler=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fresh-postgres", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if args.fresh_postgres:
        recreate_postgres_database(os.environ["DATABASE_URL"])
    serve(args.port)


if __name__ == "__main__":
    main()
