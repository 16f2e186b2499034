"""The click table partitioned by month (referrals/partitions.py and migration 0002), on the real server."""

import csv
import importlib
import logging
import re
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversions.intake.recording import ConversionReport, conversions_record
from conversions.models import Conversion
from referrals.click_buffer import click_copy_line, clicks_write
from referrals.models import Click, ClickStat
from referrals.partitions import (
    _ADVISORY_LOCK,
    DEFAULT_PARTITION,
    click_partitions,
    click_partitions_maintain,
    month_after,
    month_start,
    partition_name,
)

pytestmark = pytest.mark.django_db

_PARTITION_IN_PLAN = re.compile(r" on (referrals_click_(?:p\d{4}_\d{2}|default))\b")


def foreign_keys_checked() -> None:
    """Check the foreign keys of the rows written so far, as a commit would: a test runs in one transaction, and
    PostgreSQL drops no table with checks still pending (the job's DROP runs after the clicks were committed)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def click_at(link, at, click_id: str) -> Click:
    click = Click.objects.create(
        click_id=click_id, link=link, offer=link.offer, partner=link.partner, created_at=at, sub1="s"
    )
    foreign_keys_checked()
    return click


def aged_click(link, age: timedelta, click_id: str) -> Click:
    """A click made `age` ago into its month, as the job then made it (before the month aged past retention)."""
    at = timezone.now() - age
    click_partitions_maintain(now=at)
    return click_at(link, at, click_id)


def partition_of(click: Click) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM referrals_click WHERE click_id = %s AND created_at = %s",
            [click.click_id, click.created_at],
        )
        return cursor.fetchone()[0]


def tables_named(prefix: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname FROM pg_class WHERE relname LIKE %s AND relkind = 'r'", [f"{prefix}%"])
        return {name for (name,) in cursor.fetchall()}


def test_partitions_are_made_for_this_month_and_the_months_ahead(settings):
    settings.CLICK_PARTITIONS_AHEAD_MONTHS = 5
    now = timezone.now()

    click_partitions_maintain(now=now)

    names = [partition.name for partition in click_partitions()]
    for months in range(6):
        assert partition_name(month_after(month_start(now), months)) in names
    ranges = [(p.start, p.end) for p in click_partitions()]
    assert all(end == month_after(start) for start, end in ranges)  # a month each, UTC


def test_the_scheduled_job_run_by_a_worker_makes_the_months_ahead(queue, run_worker, settings):
    from referrals.jobs import maintain_click_partitions

    settings.CLICK_PARTITIONS_AHEAD_MONTHS = 6
    job = queue.enqueue(maintain_click_partitions)
    run_worker()

    job.refresh()
    furthest = partition_name(month_after(month_start(timezone.now()), 6))
    assert job.is_finished and furthest in job.return_value()["created"]
    assert furthest in [partition.name for partition in click_partitions()]


def test_a_click_at_a_month_boundary_lands_in_the_month_it_opens(alice_link):
    now = timezone.now()
    click_partitions_maintain(now=now)
    boundary = month_after(month_start(now))  # the first instant of next month, UTC

    first = click_at(alice_link, boundary, "a" * 32)
    last_before = click_at(alice_link, boundary - timedelta(microseconds=1), "b" * 32)

    assert partition_of(first) == partition_name(boundary)
    assert partition_of(last_before) == partition_name(month_start(now))


def test_a_click_outside_every_month_is_kept_by_the_default_partition_and_moved_into_its_month(alice_link, settings):
    settings.CLICK_RETENTION_DAYS = 0  # kept for ever
    old = click_at(alice_link, timezone.now() - timedelta(days=800), "o" * 32)
    assert partition_of(old) == DEFAULT_PARTITION

    created = click_partitions_maintain()["created"]

    assert partition_name(month_start(old.created_at)) in created
    assert partition_of(old) == partition_name(month_start(old.created_at))


def test_running_the_job_twice_changes_nothing_twice(alice_link):
    aged_click(alice_link, timedelta(days=500), "r" * 32)  # its month is retired by the first run
    first = click_partitions_maintain()
    partitions, clicks = click_partitions(), Click.objects.count()

    second = click_partitions_maintain()

    assert first["created"] and first["retired"]
    assert second == {"skipped": False, "created": [], "retired": []}
    assert click_partitions() == partitions and Click.objects.count() == clicks


def test_an_overlapping_run_waits_for_nobody_and_does_nothing(alice_link):
    params = connection.get_connection_params()
    other = psycopg.connect(
        **{key: params[key] for key in ("dbname", "user", "password", "host", "port") if params.get(key)},
        autocommit=True,
    )
    try:
        other.execute("SELECT pg_advisory_lock(%s)", [_ADVISORY_LOCK])  # a run in another process
        assert click_partitions_maintain() == {"skipped": True, "created": [], "retired": []}
        other.execute("SELECT pg_advisory_unlock(%s)", [_ADVISORY_LOCK])
    finally:
        other.close()
    assert click_partitions_maintain()["skipped"] is False


def test_a_month_past_retention_is_detached_and_its_clicks_leave_the_table(alice_link, settings):
    settings.CLICK_RETENTION_DAYS, settings.CLICK_PARTITION_RETIRE = 400, "detach"
    now = timezone.now()
    old = aged_click(alice_link, timedelta(days=460), "d" * 32)
    kept = aged_click(alice_link, timedelta(days=300), "k" * 32)
    old_month = partition_name(month_start(old.created_at))

    result = click_partitions_maintain(now=now)

    assert old_month in result["retired"]
    assert partition_name(month_start(kept.created_at)) not in result["retired"]
    assert list(Click.objects.values_list("click_id", flat=True)) == [kept.click_id]
    assert old_month in tables_named(old_month)  # detached: still a table of its own, out of every query
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT click_id FROM {old_month}")  # noqa: S608 - our own partition name
        assert cursor.fetchall() == [(old.click_id,)]


def test_drop_mode_drops_the_retired_month(alice_link, settings):
    settings.CLICK_PARTITION_RETIRE = "drop"
    old = aged_click(alice_link, timedelta(days=460), "d" * 32)
    old_month = partition_name(month_start(old.created_at))

    assert old_month in click_partitions_maintain()["retired"]

    assert not Click.objects.exists()
    assert old_month not in tables_named(old_month)


def test_archive_mode_copies_the_month_to_a_readable_csv_and_drops_it(alice_link, settings, tmp_path):
    settings.CLICK_PARTITION_RETIRE, settings.CLICK_PARTITION_ARCHIVE_DIR = "archive", str(tmp_path)
    at = month_start(timezone.now() - timedelta(days=460)) + timedelta(days=1)
    click_partitions_maintain(now=at)
    old = [click_at(alice_link, at + timedelta(minutes=n), f"{n:032x}") for n in range(3)]
    old_month = partition_name(month_start(at))

    click_partitions_maintain()

    with (tmp_path / f"{old_month}.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert sorted(row["click_id"] for row in rows) == sorted(click.click_id for click in old)
    assert {(row["sub1"], row["partner_id"]) for row in rows} == {("s", str(alice_link.partner_id))}
    assert not Click.objects.exists() and old_month not in tables_named(old_month)
    assert not list(tmp_path.glob("*.partial"))


def test_retention_not_longer_than_a_cookie_window_plus_the_claim_window_is_refused_and_logged(
    alice_link, offer, settings, caplog
):
    settings.CLICK_RETENTION_DAYS, settings.CLAIM_MAX_AGE_DAYS = 400, 90
    offer.cookie_window_days = 365  # a click may count for a year, and be claimed 90 days after that
    offer.save()
    old = aged_click(alice_link, timedelta(days=460), "d" * 32)

    with caplog.at_level(logging.ERROR, logger="referrals.partitions"):
        result = click_partitions_maintain()

    assert result["retired"] == []
    assert Click.objects.filter(pk=old.pk).exists()
    assert "CLICK_RETENTION_DAYS=400 is not longer than the longest cookie window (365 days)" in caplog.text


def test_a_click_older_than_retention_in_the_default_partition_stays_there(alice_link, settings, caplog):
    settings.CLICK_PARTITION_RETIRE = "detach"
    aged_click(alice_link, timedelta(days=460), "d" * 32)
    click_partitions_maintain()  # its month is detached: a table of that name stays
    late = click_at(alice_link, timezone.now() - timedelta(days=460, minutes=1), "l" * 32)  # e.g. a late replay

    with caplog.at_level(logging.WARNING, logger="referrals.partitions"):
        assert click_partitions_maintain() == {"skipped": False, "created": [], "retired": []}

    assert partition_of(late) == DEFAULT_PARTITION
    assert "the DEFAULT partition holds clicks past retention" in caplog.text


def test_retention_zero_keeps_every_month(alice_link, settings):
    settings.CLICK_RETENTION_DAYS = 0
    old = click_at(alice_link, timezone.now() - timedelta(days=900), "d" * 32)

    assert click_partitions_maintain()["retired"] == []
    assert Click.objects.filter(pk=old.pk).exists()


def test_a_replayed_batch_across_two_months_inserts_and_counts_nothing_twice(alice_link):
    now = timezone.now()
    click_partitions_maintain(now=now)
    boundary = month_after(month_start(now))
    clicks = [
        Click(click_id=f"{n:032x}", link=alice_link, offer=alice_link.offer, partner=alice_link.partner, created_at=at)
        for n, at in enumerate([boundary - timedelta(seconds=1), boundary, boundary + timedelta(seconds=1)])
    ]
    lines = [f"{click_copy_line(click)}\tt".encode() for click in clicks]
    with transaction.atomic():
        assert clicks_write(lines) == 3

    with transaction.atomic():
        assert clicks_write(lines) == 0  # the flusher's replay after a crash: the same lines, the same times

    assert Click.objects.count() == 3
    assert sum(ClickStat.objects.values_list("clicks", flat=True)) == 3


def test_attribution_finds_the_click_reading_only_the_months_its_window_reaches(acme_api, alice_link):
    now = timezone.now()
    # Months before the window exist and hold clicks: the query must not read them.
    click_at(alice_link, now - timedelta(days=75), "e" * 32)
    click_at(alice_link, now - timedelta(days=45), "f" * 32)
    click_partitions_maintain(now=now)
    recent = click_at(alice_link, now - timedelta(hours=1), "c" * 32)
    body = {"type": "purchase", "external_id": "o-1", "amount": "10", "product_id": "p", "click_id": recent.click_id}

    with CaptureQueriesContext(connection) as queries:
        response = acme_api.post("/v1/convert", {**body, "occurred_at": now.isoformat()}, format="json")

    assert response.status_code == 202 and response.json()["attribution"]["click_id"] == recent.click_id
    [lookup] = [query["sql"] for query in queries if "FROM referrals_click click JOIN" in query["sql"]]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {lookup}")
        plan = "\n".join(line for (line,) in cursor.fetchall())
    window = alice_link.offer.cookie_window_days
    reachable = {partition_name(month_start(now - timedelta(days=window))), partition_name(month_start(now))}
    assert set(_PARTITION_IN_PLAN.findall(plan)) == reachable, plan


def test_a_click_outside_its_window_is_still_found_and_rejected_as_such(acme_api, alice_link):
    click_partitions_maintain()
    old = click_at(alice_link, timezone.now() - timedelta(days=70), "c" * 32)
    body = {"type": "purchase", "external_id": "o-1", "amount": "10", "product_id": "p", "click_id": old.click_id}

    response = acme_api.post("/v1/convert", body, format="json")

    assert response.status_code == 202
    assert response.json()["status_reason"] == "outside_attribution_window"


def test_a_conversion_copies_its_clicks_sub_ids_from_the_recent_months_and_from_older_ones(acme, alice_link):
    # The trigger looks in the conversion's last month first (one or two partitions), then in every month.
    click_partitions_maintain(now=timezone.now() - timedelta(days=200))
    click_partitions_maintain()
    clicks = {
        "recent": click_at(alice_link, timezone.now() - timedelta(hours=1), "a" * 32),
        "a month and a day": click_at(alice_link, timezone.now() - timedelta(days=32), "b" * 32),
        "old": click_at(alice_link, timezone.now() - timedelta(days=200), "c" * 32),
    }
    reports = [
        ConversionReport(type="purchase", external_id=name, amount=Decimal(10), product_id="p", click_id=c.click_id)
        for name, c in clicks.items()
    ]

    recorded = conversions_record(advertiser=acme, reports=reports, channel=Conversion.Channel.API)
    one = conversions_record(advertiser=acme, reports=[replace(reports[2], external_id="old, alone")], channel="api")

    assert all(outcome.created for outcome in [*recorded, *one])
    subs = dict(Conversion.objects.values_list("external_id", "sub1"))
    assert subs == {"recent": "s", "a month and a day": "s", "old": "s", "old, alone": "s"}


def test_conversions_whose_click_month_was_dropped_still_list_and_show(
    acme_api, alice_link, settings, client, write_conversions
):
    settings.CLICK_PARTITION_RETIRE = "drop"
    old = aged_click(alice_link, timedelta(days=460), "d" * 32)
    body = {"type": "purchase", "external_id": "old-1", "amount": "10", "product_id": "p", "click_id": old.click_id}
    occurred = old.created_at + timedelta(days=1)
    created = acme_api.post("/v1/convert", {**body, "occurred_at": occurred.isoformat()}, format="json").json()
    write_conversions()
    click_partitions_maintain()
    assert not Click.objects.exists()

    listed = acme_api.get("/v1/conversions", {"external_id": "old-1"})
    shown = acme_api.get(f"/v1/conversions/{created['id']}")
    client.force_login(alice_link.partner.user)
    report = client.get("/dashboard/conversions/")
    detail = client.get(f"/dashboard/conversions/{created['id']}/")
    export = client.get("/dashboard/conversions/export.csv")

    assert listed.status_code == 200 and listed.json()["results"][0]["click_id"] is None
    assert shown.status_code == 200 and shown.json()["click_id"] is None
    assert report.status_code == 200 and detail.status_code == 200
    conversion = Conversion.objects.get(pk=created["id"])
    conversion.status_remark = "checked"
    conversion.save()  # a full save names click_id: the sub ids copied from the click stay
    assert Conversion.objects.values_list("sub1", flat=True).get(pk=created["id"]) == "s"
    assert export.status_code == 200 and "old-1" in b"".join(export.streaming_content).decode()


def test_the_migration_converts_a_table_with_rows_keeping_them_ids_and_names(alice_link):
    from django.db.migrations.loader import MigrationLoader

    migration = importlib.import_module("referrals.migrations.0002_click_partitioned_by_month")
    historical = MigrationLoader(connection).project_state(("referrals", "0001_initial")).apps
    with connection.cursor() as cursor:
        cursor.execute("SHOW search_path")
        [search_path] = cursor.fetchone()
        # The table as migration 0001 made it, in a schema of its own (its foreign keys reach the real links).
        cursor.execute("CREATE SCHEMA click_migration")
        cursor.execute(f"SET search_path TO click_migration, {search_path}")
        try:
            with connection.schema_editor() as editor:
                editor.create_model(historical.get_model("referrals", "Click"))
            cursor.execute(
                "INSERT INTO referrals_click (click_id, link_id, offer_id, partner_id, created_at, user_agent, "
                "referer, sub1, sub2, sub3, sub4, sub5, country, device, browser, os, accept_language, is_unique, "
                "is_bot) SELECT md5(g::text), %s, %s, %s, now() - g * interval '1 day', '', '', 's' || g, '', '', "
                "'', '', '', '', '', '', '', true, false FROM generate_series(1, 100) g",
                [alice_link.pk, alice_link.offer_id, alice_link.partner_id],
            )
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # rows committed before a migration: no checks pending
            cursor.execute("SELECT id, click_id, created_at, sub1 FROM referrals_click ORDER BY id")
            before = cursor.fetchall()

            cursor.execute(migration.TO_PARTITIONED)

            cursor.execute("SELECT id, click_id, created_at, sub1 FROM referrals_click ORDER BY id")
            assert cursor.fetchall() == before
            cursor.execute("SELECT relkind FROM pg_class WHERE oid = 'referrals_click'::regclass")
            assert cursor.fetchone() == ("p",)
            cursor.execute(
                "SELECT count(DISTINCT tableoid) FROM referrals_click WHERE tableoid <> "
                "'click_migration.referrals_click_default'::regclass"
            )
            assert cursor.fetchone()[0] >= 4  # the rows span four months or more, each in its own
            cursor.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'click_migration'")
            indexes = {name for (name,) in cursor.fetchall()}
            assert {"click_partner_time", "click_offer_partner_time", "click_id_unique_in_time"} <= indexes
            cursor.execute(
                "INSERT INTO referrals_click (click_id, link_id, offer_id, partner_id, created_at, user_agent, "
                "referer, sub1, sub2, sub3, sub4, sub5, country, device, browser, os, accept_language, is_unique, "
                "is_bot) VALUES ('n', %s, %s, %s, now(), '', '', '', '', '', '', '', '', '', '', '', '', true, "
                "false) RETURNING id",
                [alice_link.pk, alice_link.offer_id, alice_link.partner_id],
            )
            assert cursor.fetchone()[0] == before[-1][0] + 1  # ids go on after the highest
        finally:
            cursor.execute(f"SET search_path TO {search_path}")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def test_a_rollup_rebuild_after_a_month_is_retired_keeps_that_months_counts(alice_link, settings):
    from referrals.rollups import rollup_clicks_rebuild

    settings.CLICK_PARTITION_RETIRE = "drop"
    now = timezone.now()
    click_partitions_maintain(now=now - timedelta(days=460))
    clicks = [
        Click(click_id=f"{n:032x}", link=alice_link, offer=alice_link.offer, partner=alice_link.partner, created_at=at)
        for n, at in enumerate([now - timedelta(days=460), now - timedelta(days=460), now - timedelta(hours=1)])
    ]
    with transaction.atomic():
        clicks_write([f"{click_copy_line(click)}\tt".encode() for click in clicks])
    foreign_keys_checked()
    assert click_partitions_maintain(now=now)["retired"]
    ClickStat.objects.filter(bucket__gte=now - timedelta(days=2)).update(clicks=99)  # a count gone wrong

    rollup_clicks_rebuild()

    assert Click.objects.count() == 1
    assert sorted(ClickStat.objects.values_list("clicks", flat=True)) == [1, 2]  # the retired month's 2 kept
