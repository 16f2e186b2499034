"""What the reports read instead of the raw rows: the click's sub ids on the conversion, the per-partner rollups."""

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Sum

from conversions.lifecycle import conversion_reject
from conversions.models import Conversion, ConversionStat, PartnerConversionStat
from referrals.models import ClickStat, PartnerClickStat
from tests.dashboard.conftest import click_at, convert
from tests.factories import LinkFactory

pytestmark = pytest.mark.django_db
BASE = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def test_a_conversion_carries_its_clicks_sub_ids_however_it_is_saved(acme, alice_link, rule):
    click = click_at(alice_link, BASE, sub1="mail", sub2="a", sub5="z")
    conversion = convert(acme, click, external_id="o-1")

    stored = Conversion.objects.filter(pk=conversion.pk).values_list("sub1", "sub2", "sub3", "sub4", "sub5").get()
    assert stored == ("mail", "a", "", "", "z")
    # A bulk insert (the CSV importer's way) and a move to another click are covered too.
    other = click_at(alice_link, BASE, sub1="blog")
    Conversion.objects.filter(pk=conversion.pk).update(click=other)
    assert Conversion.objects.get(pk=conversion.pk).sub1 == "blog"
    Conversion.objects.filter(pk=conversion.pk).update(click=None)
    assert Conversion.objects.get(pk=conversion.pk).sub1 == ""


def _per_partner(model, keys, counters) -> list:
    rows = model.objects.values(*keys).annotate(**{name: Sum(name) for name in counters}).order_by(*keys)
    return [tuple(row[name] for name in [*keys, *counters]) for row in rows if any(row[c] for c in counters)]


def partner_rollups_agree() -> tuple[bool, bool]:
    """Whether the per-partner click and conversion rollups equal the per-offer ones summed."""
    clicks = ["partner_id", "bucket"], ["clicks", "unique_clicks"]
    conversions = ["partner_id", "bucket", "currency"], ["conversions", "earnings"]
    return (
        _per_partner(PartnerClickStat, *clicks) == _per_partner(ClickStat, *clicks),
        _per_partner(PartnerConversionStat, *conversions) == _per_partner(ConversionStat, *conversions),
    )


def test_the_per_partner_rollups_are_the_per_offer_ones_summed_through_every_change_and_a_rebuild(
    acme, alice, alice_link, bob_link, other_offer, rule
):
    hats = LinkFactory(partner=alice, offer=other_offer, code="alice-hats")
    for minutes in range(0, 40, 7):
        click_at(alice_link, BASE + timedelta(minutes=minutes), sub1="mail")
        click_at(hats, BASE + timedelta(minutes=minutes))
    one = convert(acme, click_at(alice_link, BASE, sub1="x"), external_id="o-1", amount="80.00")
    convert(acme, click_at(bob_link, BASE), external_id="o-2", amount="20.00")
    conversion_reject(conversion_id=one.pk, reason="returned", remark="Returned.", now=BASE + timedelta(days=1))

    assert partner_rollups_agree() == (True, True)
    assert PartnerClickStat.objects.filter(partner=alice).aggregate(n=Sum("clicks"))["n"] == 13
    call_command("rollups_rebuild", stdout=io.StringIO())
    assert partner_rollups_agree() == (True, True)


def test_the_day_report_of_all_offers_and_of_one_offer_agree(alice_client, acme, alice, alice_link, other_offer, rule):
    hats = LinkFactory(partner=alice, offer=other_offer, code="alice-hats")
    convert(acme, click_at(alice_link, BASE), external_id="o-1", amount="50.00")
    click_at(hats, BASE + timedelta(hours=30))
    period = {"preset": "custom", "start": "2026-03-01", "end": "2026-03-31"}

    every = alice_client.get("/dashboard/performance/", period).context["rows"]
    shoes = alice_client.get("/dashboard/performance/", {**period, "offer": alice_link.offer_id}).context["rows"]

    by_day = {row.label: (row.clicks, row.conversions) for row in every if row.clicks}
    assert by_day == {"2026-03-10": (1, 1), "2026-03-11": (1, 0)}
    assert {row.label: row.clicks for row in shoes if row.clicks} == {"2026-03-10": 1}


def test_the_period_totals_from_the_rollup_are_the_totals_of_the_rows(acme, alice, alice_link, bob_link, rule):
    from conversions.reports.periods import Period
    from conversions.reports.selectors import ConversionFilters, _matching_totals, _period_totals
    from referrals.partner_access import partner_tz

    alice.time_zone = "Europe/Berlin"
    alice.save()
    kept = convert(acme, click_at(alice_link, BASE), external_id="o-1", amount="80.00")
    rejected = convert(acme, click_at(alice_link, BASE), external_id="o-2", amount="20.50")
    conversion_reject(conversion_id=rejected.pk, reason="returned", remark="Returned.", now=BASE + timedelta(days=1))
    convert(acme, click_at(alice_link, BASE), external_id="o-3", amount="0", currency="EUR")
    # 23:30 UTC on the 31st is April 1st in Berlin: outside March there, whatever UTC says.
    convert(acme, click_at(alice_link, datetime(2026, 3, 31, 23, 30, tzinfo=UTC)), external_id="o-4", amount="5.00")
    convert(acme, click_at(bob_link, BASE), external_id="o-5", amount="999.00")
    march = Period(datetime(2026, 3, 1).date(), datetime(2026, 3, 31).date(), partner_tz(alice))

    from_rollup = _period_totals(partner=alice, period=march)

    assert from_rollup == _matching_totals(partner=alice, filters=ConversionFilters(period=march, status="", subs={}))
    assert from_rollup.conversions == 3 and kept.partner_id == alice.pk
    assert from_rollup.amounts == [("EUR", Decimal("0.00")), ("USD", Decimal("100.50"))]
    assert from_rollup.rewards == [("USD", Decimal("8.00"))]
