"""Seller exports: filters, formula neutralization, the change log, the command."""

import csv
import datetime as dt
import io
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from collection.models import CollectionRun, Product, Seller, SellerChange, SellerSighting
from collection.services.exports import COLUMNS, ExportError, csv_text, sellers_export
from collection.services.sellers import sellers_delete

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sellers():
    now = timezone.now()
    rows = {
        "plain": dict(feedback_score=1200, feedback_percent=Decimal("99.50"), flagged=True),
        '=HYPERLINK("http://evil")': dict(feedback_score=-3),
        "+sum": dict(display_name="@admin"),
        "-minus": dict(display_name="\tTabbed"),
        "old": dict(flagged=True),
        "gone": dict(),
    }
    made = {}
    for i, (name, extra) in enumerate(rows.items()):
        made[name] = Seller.objects.create(
            username=name,
            normalized=name.lower(),
            first_seen_at=now - dt.timedelta(days=i),
            last_seen_at=now,
            times_seen=i + 1,
            products_matched=i,
            runs_seen=1,
            score=i / 10,
            **extra,
        )
    Seller.objects.filter(pk=made["old"].pk).update(first_seen_at=now - dt.timedelta(days=30))
    sellers_delete(seller_ids=[made["gone"].pk])
    return made


def _csv(export):
    return list(csv.DictReader(io.StringIO("".join(export.chunks))))


def test_csv_export_neutralizes_formulas_and_keeps_numbers(sellers):
    export = sellers_export(fmt="csv")
    rows = _csv(export)
    assert list(rows[0]) == list(COLUMNS)
    by_name = {r["normalized"]: r for r in rows}
    assert "gone" not in by_name  # soft-deleted sellers are not exported
    evil = by_name['\'=hyperlink("http://evil")']  # every text cell is neutralized
    assert evil["username"] == '\'=HYPERLINK("http://evil")'
    assert by_name["'+sum"]["username"] == "'+sum"
    assert by_name["'+sum"]["display_name"] == "'@admin"
    assert by_name["'-minus"]["display_name"] == "'\tTabbed"
    assert evil["feedback_score"] == "-3"  # a number stays a number
    assert by_name["plain"]["feedback_percent"] == "99.50"
    assert by_name["plain"]["flagged"] == "true"
    assert export.count == len(rows) == 5
    change = SellerChange.objects.get(pk=export.change_id)
    assert change.action == "exported" and change.seller_id is None
    assert change.details == {
        "format": "csv",
        "filters": {},
        "count": 5,
        "rows_written": 5,
        "completed": True,
    }


def test_csv_text_rules():
    for text in ["=1+1", "+1", "-1", "@x", "\tx", "\rx"]:
        assert csv_text(text) == "'" + text
    assert csv_text("a=b") == "a=b" and csv_text("") == ""


def test_json_export_with_filters(sellers):
    run = CollectionRun.objects.create()
    product = Product.objects.create(asin="B0EXP00001", title="P")
    for name in ("plain", "old", "gone"):
        SellerSighting.objects.create(run=run, seller=sellers[name], product=product)

    export = sellers_export(fmt="json", run_id=run.pk, flagged=True, source="command")
    data = json.loads("".join(export.chunks))
    assert [r["normalized"] for r in data] == ["plain", "old"]
    assert data[0]["feedback_percent"] == 99.5 and data[0]["flagged"] is True
    assert set(data[0]) == set(COLUMNS)

    since = timezone.localdate() - dt.timedelta(days=2)
    export = sellers_export(fmt="json", since=since)
    assert sorted(r["normalized"] for r in json.loads("".join(export.chunks))) == [
        "+sum",
        '=hyperlink("http://evil")',
        "plain",
    ]
    change = SellerChange.objects.get(pk=export.change_id)
    assert change.details["filters"] == {"since": since.isoformat()}
    assert json.loads("".join(sellers_export(fmt="json", run_id=run.pk, since=since).chunks)) == [
        json.loads("".join(sellers_export(fmt="json", run_id=run.pk).chunks))[0]
    ]


def test_empty_json_export_is_an_empty_array():
    assert json.loads("".join(sellers_export(fmt="json").chunks)) == []


def test_bad_export_parameters_are_refused():
    with pytest.raises(ExportError, match="Unknown export format"):
        sellers_export(fmt="xlsx")
    with pytest.raises(ExportError, match="Run 424242 does not exist"):
        sellers_export(fmt="csv", run_id=424242)
    assert not SellerChange.objects.filter(action="exported").exists()


def test_export_command_writes_a_file_and_logs_it(sellers, tmp_path):
    target = tmp_path / "flagged.csv"
    err = io.StringIO()
    call_command(
        "export_sellers", "--format", "csv", "--flagged", "--output", str(target), stderr=err
    )
    rows = list(csv.DictReader(target.open(encoding="utf-8", newline="")))
    assert [r["normalized"] for r in rows] == ["plain", "old"]
    assert "Exported 2 seller(s)" in err.getvalue()
    change = SellerChange.objects.get(action="exported")
    assert change.source == "command" and change.details["filters"] == {"flagged": True}

    out = io.StringIO()
    call_command("export_sellers", "--format", "json", "--since", "2000-01-01", stdout=out)
    assert len(json.loads(out.getvalue())) == 5


def test_export_command_bad_input_exits_2(tmp_path):
    with pytest.raises(CommandError) as excinfo:
        call_command("export_sellers", "--run", "987654")
    assert excinfo.value.returncode == 2 and "Run 987654 does not exist" in str(excinfo.value)
    with pytest.raises(CommandError) as excinfo:
        call_command("export_sellers", "--output", str(tmp_path / "missing-dir" / "x.csv"))
    assert excinfo.value.returncode == 2 and "Cannot write" in str(excinfo.value)

    with pytest.raises(CommandError, match="invalid choice: 'xlsx'"):
        call_command("export_sellers", "--format", "xlsx")

    # Through manage.py: the exit status and the message an operator sees.
    result = subprocess.run(
        [sys.executable, "manage.py", "export_sellers", "--since", "last tuesday"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "--since 'last tuesday' is not a date" in result.stderr


def test_admin_and_command_exports_agree_on_rows_and_columns(sellers, tmp_path):
    """Issue 14: the admin exported soft-deleted sellers, with no column saying so."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    Seller.objects.filter(normalized="plain").update(
        median_price_ratio=1.96, copy_share=0.88, products_matched=14, score=77.5
    )
    user = get_user_model().objects.create_superuser("exp", "exp@example.com", None)
    client = Client()
    client.force_login(user)
    response = client.post(
        reverse("admin:collection_seller_changelist"),
        {"action": "export_csv", "_selected_action": [sellers["plain"].pk], "select_across": "1"},
    )
    admin_text = b"".join(response.streaming_content).decode()
    output = tmp_path / "cli.csv"
    call_command("export_sellers", "--format", "csv", "--output", str(output))
    cli_text = output.read_text(encoding="utf-8")

    admin_rows = list(csv.DictReader(io.StringIO(admin_text)))
    cli_rows = list(csv.DictReader(io.StringIO(cli_text)))
    assert list(admin_rows[0]) == list(cli_rows[0]) == list(COLUMNS)
    for column in (
        "deleted_at",
        "products_matched",
        "median_markup_percent",
        "copy_share_percent",
        "score",
        "why",
    ):
        assert column in COLUMNS
    assert sorted(r["normalized"] for r in admin_rows) == sorted(r["normalized"] for r in cli_rows)
    assert "gone" not in {r["normalized"] for r in admin_rows}
    plain = next(r for r in admin_rows if r["normalized"] == "plain")
    assert plain["median_markup_percent"] == "96.0" and plain["copy_share_percent"] == "88.0"
    assert plain["deleted_at"] == "" and plain["score"] == "77.5"
    assert "14 best sellers" in plain["why"] and "96 %" in plain["why"]

    # Asked for explicitly (the admin's "Deleted" filter, the command's --include-deleted),
    # both include the soft-deleted sellers, and say when they were deleted.
    response = client.post(
        reverse("admin:collection_seller_changelist") + "?deleted=yes",
        {"action": "export_csv", "_selected_action": [sellers["gone"].pk], "select_across": "1"},
    )
    (gone,) = csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    assert gone["normalized"] == "gone" and gone["deleted_at"]
    call_command("export_sellers", "--include-deleted", "--output", str(output))
    everyone = list(csv.DictReader(io.StringIO(output.read_text(encoding="utf-8"))))
    assert {r["normalized"]: r["deleted_at"] != "" for r in everyone}["gone"] is True
