"""bench/datagen.py at a tiny size: the rows it makes hang together, and its rollups are what a rebuild makes."""

import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import Count, F, Sum

from bench.datagen import Sizes, generate
from conversions.models import (
    Conversion,
    ConversionDayStat,
    ConversionStat,
    ConversionSub1DayStat,
    ConversionSub1Stat,
    PartnerConversionSub1DayStat,
)
from referrals.models import (
    Click,
    ClickDayStat,
    ClickStat,
    ClickSub1DayStat,
    ClickSub1Stat,
    Partner,
    PartnerClickStat,
    PartnerClickSub1DayStat,
)
from rewards.models import Entry, Reward, Transaction
from tests.dashboard.test_report_read_models import partner_rollups_agree

pytestmark = pytest.mark.django_db
SIZES = Sizes(clicks=3000, conversions=150, offers=12, partners=25, days=3)
END = datetime(2026, 3, 30, 12, 0, tzinfo=UTC)  # the last Sunday of March: Berlin and London change to DST


def _rollups() -> dict:
    clicks = ["partner_id", "bucket", "offer_id", "clicks", "unique_clicks"]
    sub1_clicks = ["partner_id", "bucket", "offer_id", "sub1", "clicks", "unique_clicks"]
    conversions = ["partner_id", "bucket", "offer_id", "currency", "conversions", "earnings"]
    sub1_conversions = ["partner_id", "bucket", "offer_id", "sub1", "currency", "conversions", "earnings"]
    tables = {
        ClickStat: clicks,
        ClickSub1Stat: sub1_clicks,
        ConversionStat: conversions,
        ConversionSub1Stat: sub1_conversions,
        ClickDayStat: clicks,
        ClickSub1DayStat: sub1_clicks,
        ConversionDayStat: conversions,
        ConversionSub1DayStat: sub1_conversions,
        PartnerClickSub1DayStat: ["partner_id", "bucket", "sub1", "clicks", "unique_clicks"],
        PartnerConversionSub1DayStat: ["partner_id", "bucket", "sub1", "currency", "conversions", "earnings"],
    }
    return {model.__name__: sorted(model.objects.values_list(*fields)) for model, fields in tables.items()}


def _indexes(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s ORDER BY indexname", [table])
        return [row[0] for row in cursor.fetchall()]


def test_the_generator_makes_the_sizes_asked_for_with_consistent_rewards_ledger_and_rollups():
    before = {table: _indexes(table) for table in ("referrals_click", "conversions_conversion")}

    result = generate(connection, SIZES, seed=3, end=END, rebuild_indexes=True, log=lambda line: None)

    assert result["loaded"]
    assert Click.objects.count() == SIZES.clicks
    assert Conversion.objects.count() == SIZES.conversions
    assert Partner.objects.count() == SIZES.partners
    # Dropped for the load and made again from their own definitions: the schema is as the migrations left it.
    assert {table: _indexes(table) for table in before} == before
    # Each conversion comes after its click, within the period, and carries the click's partner and offer.
    assert not Conversion.objects.exclude(click__partner_id=F("partner_id")).exists()
    assert not Conversion.objects.filter(created_at__lt=F("click__created_at")).exists()
    assert not Conversion.objects.filter(created_at__gte=END).exists()
    # The skew: the first partner has the most clicks.
    top = Click.objects.values("partner_id").annotate(n=Count("pk")).order_by("-n").first()
    assert top["partner_id"] == Partner.objects.get(referral_code="DG00001").pk
    # A reward for every accepted conversion, none for pending or suspicious ones.
    accepted = set(Conversion.objects.filter(status="accepted").values_list("pk", flat=True))
    rewarded = set(Reward.objects.values_list("conversion_id", flat=True))
    assert accepted <= rewarded
    assert not rewarded & set(
        Conversion.objects.filter(status__in=["pending", "suspicious"]).values_list("pk", flat=True)
    )
    assert set(Reward.objects.filter(status="reversed").values_list("conversion_id", flat=True)) == rewarded - accepted
    # Every ledger transaction balances, and the partners' pending plus available balances are their live rewards.
    for total in Transaction.objects.annotate(total=Sum("entries__amount")).values_list("total", flat=True):
        assert total == 0
    held = Entry.objects.filter(account__kind__in=["partner_pending", "partner_available"]).aggregate(t=Sum("amount"))
    live = Reward.objects.exclude(status="reversed").aggregate(t=Sum("amount"))
    assert held["t"] == live["t"] > Decimal(0)
    # The rollups equal what the project's own rebuild makes from the same rows.
    assert partner_rollups_agree() == (True, True)  # filled by datagen, its triggers off
    generated = _rollups()
    call_command("rollups_rebuild", stdout=io.StringIO())
    assert _rollups() == generated
    assert sum(row[3] for row in generated["ClickStat"]) == SIZES.clicks
    assert sum(row[3] for row in generated["ClickDayStat"]) == SIZES.clicks
    assert len(generated["ClickDayStat"]) < len(generated["ClickStat"])  # days, not quarter hours
    assert sum(row[3] for row in generated["PartnerClickSub1DayStat"]) == SIZES.clicks
    assert PartnerClickStat.objects.aggregate(n=Sum("clicks"))["n"] == SIZES.clicks
    assert partner_rollups_agree() == (True, True)


def test_the_same_seed_gives_the_same_rows_and_a_second_run_adds_nothing():
    def sample():
        return list(Click.objects.order_by("created_at", "click_id").values_list("click_id", "created_at", "sub1"))

    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        generate(connection, SIZES, seed=5, end=END, log=lambda line: None)
        first = sample()
        raise Undo
    assert generate(connection, SIZES, seed=5, end=END, log=lambda line: None)["loaded"]
    assert sample() == first

    assert generate(connection, SIZES, seed=5, end=END, log=lambda line: None) == {"loaded": False}
    assert Click.objects.count() == SIZES.clicks
