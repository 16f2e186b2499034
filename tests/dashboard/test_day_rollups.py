"""The day-grain rollups: each is its quarter hours summed per UTC day, whoever writes, and the reports that read them
show what the rows say in any time zone."""

import io
import itertools
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.db.models.functions import TruncDay

from conversions.intake.recording import ConversionReport, conversions_record
from conversions.lifecycle import conversion_amount_change, conversion_reject
from conversions.models import (
    Conversion,
    ConversionDayStat,
    ConversionStat,
    ConversionSub1DayStat,
    ConversionSub1Stat,
    PartnerConversionSub1DayStat,
)
from conversions.processing.pipeline import conversions_process
from conversions.reports.performance import performance_report
from conversions.reports.periods import Period
from referrals.click_buffer import clicks_flush
from referrals.models import (
    Click,
    ClickDayStat,
    ClickStat,
    ClickSub1DayStat,
    ClickSub1Stat,
    PartnerClickSub1DayStat,
)
from referrals.partner_access import partner_tz
from rewards.models import Reward
from tests.dashboard.conftest import click_at, convert
from tests.factories import LinkFactory

pytestmark = pytest.mark.django_db
# A quarter hour before UTC midnight: the first clicks land on the 9th, the later ones on the 10th.
LATE = datetime(2026, 3, 9, 23, 45, tzinfo=UTC)
CLICKS = ["partner_id", "offer_id"], ["clicks", "unique_clicks"]
CONVERSIONS = ["partner_id", "offer_id", "currency"], ["conversions", "earnings"]
FAMILIES = [
    (ClickStat, ClickDayStat, *CLICKS),
    (ClickSub1Stat, ClickSub1DayStat, [*CLICKS[0], "sub1"], CLICKS[1]),
    (ConversionStat, ConversionDayStat, *CONVERSIONS),
    (ConversionSub1Stat, ConversionSub1DayStat, [*CONVERSIONS[0], "sub1"], CONVERSIONS[1]),
    # The days per sub1 over all offers: the sub1 quarter hours summed per day and over offers.
    (ClickSub1Stat, PartnerClickSub1DayStat, ["partner_id", "sub1"], CLICKS[1]),
    (ConversionSub1Stat, PartnerConversionSub1DayStat, ["partner_id", "sub1", "currency"], CONVERSIONS[1]),
]


def _by_day(model, keys, counters, *, truncate: bool) -> list[tuple]:
    rows = model.objects.annotate(day=TruncDay("bucket", tzinfo=UTC)) if truncate else model.objects.all()
    group = ["day" if truncate else "bucket", *keys]
    summed = rows.values(*group).annotate(**{f"total_{name}": Sum(name) for name in counters}).order_by(*group)
    # A row whose counters net to nothing (a reward granted and reversed) says the same as no row.
    return [
        tuple(row[name] for name in group) + tuple(row[f"total_{name}"] for name in counters)
        for row in summed
        if any(row[f"total_{name}"] for name in counters)
    ]


def day_rollups_agree() -> list[bool]:
    """For each family, whether its day rollup equals its quarter-hour rollup summed per UTC day."""
    return [
        _by_day(day, keys, counters, truncate=False) == _by_day(quarter, keys, counters, truncate=True)
        for quarter, day, keys, counters in FAMILIES
    ]


def _snapshot() -> dict:
    return {day.__name__: _by_day(day, keys, counters, truncate=False) for _, day, keys, counters in FAMILIES}


def test_the_day_rollups_follow_clicks_every_channel_status_changes_reversals_and_equal_a_rebuild(
    acme, alice, alice_link, bob_link, other_offer, rule
):
    hats = LinkFactory(partner=alice, offer=other_offer, code="alice-hats")
    for minutes in range(0, 60, 10):  # either side of midnight UTC, two offers, two sub ids
        click_at(alice_link, LATE + timedelta(minutes=minutes), sub1="mail" if minutes % 20 else "blog")
        click_at(hats, LATE + timedelta(minutes=minutes))
    # One conversion as the API records it (a VALUES row), processed by its job.
    api = convert(acme, click_at(alice_link, LATE, sub1="mail"), external_id="o-api", amount="80.00")
    # A file's chunk (a COPY-filled stage) and a postback, processed in one batch by the sweeper's path.
    chunk = [
        ConversionReport(
            type="purchase",
            external_id=f"o-file-{n}",
            amount=Decimal("30.00"),
            click_id=click_at(alice_link, LATE + timedelta(minutes=20), sub1="blog").click_id,
            product_id="sku",
            occurred_at=LATE + timedelta(minutes=25),
        )
        for n in range(3)
    ]
    at = LATE + timedelta(minutes=30)
    recorded = conversions_record(advertiser=acme, reports=chunk, channel="upload", now=at)
    postback = ConversionReport(
        type="purchase",
        external_id="o-postback",
        amount=Decimal("12.00"),
        click_id=click_at(bob_link, LATE).click_id,
        product_id="sku",
        occurred_at=at,
    )
    recorded += conversions_record(advertiser=acme, reports=[postback], channel="postback", now=at)
    conversions_process(conversion_ids=[item.conversion_id for item in recorded], now=at + timedelta(minutes=1))
    assert Conversion.objects.filter(status="accepted").count() == 5
    # A reversal (earnings move back) and an amount change (earnings move by the difference).
    conversion_reject(conversion_id=api.pk, reason="returned", remark="Returned.", now=at + timedelta(days=1))
    file_one = Conversion.objects.get(external_id="o-file-0")
    assert conversion_amount_change(conversion_id=file_one.pk, amount=Decimal("50.00"), now=at + timedelta(days=1))

    assert day_rollups_agree() == [True] * len(FAMILIES)
    days = _snapshot()
    # 23:45 and 23:55 on two links and the API conversion's click on the 9th; the rest, the file's too, on the 10th.
    alice_clicks = dict(
        ClickDayStat.objects.filter(partner=alice).values("bucket").annotate(n=Sum("clicks")).values_list("bucket", "n")
    )
    assert alice_clicks == {LATE.replace(hour=0, minute=0): 5, LATE.replace(day=10, hour=0, minute=0): 11}
    earned = ConversionDayStat.objects.filter(partner=alice, currency="USD").aggregate(n=Sum("earnings"))["n"]
    assert earned == Decimal("11.00")  # 10% of 30 + 30 + 50; the 80 was reversed
    call_command("rollups_rebuild", stdout=io.StringIO())
    assert _snapshot() == days


@pytest.mark.usefixtures("click_buffer")
def test_clicks_flushed_from_the_buffer_are_counted_by_day_too(client, alice_link):
    for _ in range(3):
        assert client.get("/c/alice-shoes", {"sub1": "news"}).status_code == 302

    assert clicks_flush() == 3

    assert day_rollups_agree() == [True] * len(FAMILIES)
    assert ClickSub1DayStat.objects.get(sub1="news").clicks == 3


def _from_the_rows(partner, period: Period) -> tuple[Counter, Counter, Counter]:
    """Clicks by sub1, conversions by offer and earnings by currency, counted from the rows."""
    in_period = {"partner": partner, "created_at__gte": period.utc_start, "created_at__lt": period.utc_end}
    clicks = Click.objects.filter(**in_period).values_list("sub1", flat=True)
    conversions = Conversion.objects.filter(**in_period)
    earned = Counter()
    rewards = Reward.objects.filter(conversion__in=conversions).exclude(status="reversed")
    for currency, amount in rewards.values_list("currency", "amount"):
        earned[currency] += amount
    return Counter(clicks), Counter(conversions.values_list("offer_id", flat=True)), earned


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/Los_Angeles", "UTC", "Pacific/Kiritimati"])
def test_the_reports_by_sub1_and_offer_show_what_the_rows_say_at_every_local_midnight(
    acme, alice, alice_link, other_offer, rule, zone
):
    alice.time_zone = zone
    alice.save()
    hats = LinkFactory(partner=alice, offer=other_offer, code="alice-hats")
    tz = partner_tz(alice)
    start, numbers = date(2026, 3, 3), itertools.count()
    # A click and a conversion a quarter hour either side of each local and each UTC midnight, over a week.
    for day in range(-1, 9):
        local = datetime.combine(start + timedelta(days=day), datetime.min.time(), tzinfo=tz)
        utc = local.astimezone(UTC).replace(hour=0, minute=0)
        for moment in (local, utc):
            for offset in (timedelta(minutes=-10), timedelta(minutes=5)):
                at = moment + offset
                click_at(hats, at, sub1=f"s{day % 3}")
                click = click_at(alice_link, at - timedelta(hours=1), sub1="x")  # not too quick to be real
                convert(acme, click, external_id=f"o-{next(numbers)}", at=at)
    period = Period(start, start + timedelta(days=6), tz)

    by_sub1, _ = performance_report(partner=alice, period=period, group_by="sub1")
    by_offer, total = performance_report(partner=alice, period=period, group_by="offer")
    one_offer, _ = performance_report(partner=alice, period=period, group_by="sub1", offer=other_offer)

    clicks, conversions, earned = _from_the_rows(alice, period)
    assert {row.key: row.clicks for row in by_sub1} == dict(clicks)
    assert {row.key: row.conversions for row in by_offer if row.conversions} == dict(conversions)
    assert {row.key: row.clicks for row in one_offer} == {key: n for key, n in clicks.items() if key != "x"}
    assert total.earnings == earned == Counter({"USD": Decimal("10.00") * sum(conversions.values())})
    _, day_total = performance_report(partner=alice, period=period, group_by="day")
    assert (day_total.clicks, day_total.conversions) == (total.clicks, total.conversions)
