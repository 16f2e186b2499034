"""Home numbers and the performance report, both read from the rollups the services keep; their comparison with
the period before, the daily chart and the performance CSV."""

import csv
import io
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from conversions.lifecycle import conversion_reject
from conversions.models import ConversionStat
from conversions.reports.performance import PerformanceRow, axis_ticks, daily_chart
from referrals.models import Click, ClickStat
from tests.dashboard.conftest import click_at, convert

pytestmark = pytest.mark.django_db

MARCH = {"preset": "custom", "start": "2026-03-01", "end": "2026-03-31"}


@pytest.fixture
def traffic(acme, alice_link, bob_link, rule):
    base = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    clicks = [click_at(alice_link, base + timedelta(minutes=n), sub1="mail" if n < 6 else "blog") for n in range(8)]
    Click.objects.filter(pk=clicks[7].pk).update(is_unique=False)  # the rollup already counted it unique
    convert(acme, clicks[0], external_id="a-1", amount="100.00")
    convert(acme, clicks[6], external_id="a-2", amount="30.00")
    # Bob's traffic must never show in alice's numbers.
    bob_click = click_at(bob_link, base)
    convert(acme, bob_click, external_id="b-1", amount="999.00")
    return clicks


def stat(response, name):
    return response.content.decode().split(f'data-stat="{name}">', 1)[1].split("</dd>", 1)[0].strip()


def test_home_shows_clicks_conversions_rate_epc_and_earnings_of_the_period(alice_client, traffic):
    response = alice_client.get("/dashboard/", MARCH)

    assert response.status_code == 200
    assert stat(response, "clicks") == "8" and stat(response, "unique_clicks") == "8"
    assert stat(response, "conversions") == "2" and stat(response, "cr") == "25.00%"
    assert stat(response, "earnings") == "13.00 USD<br>"
    assert stat(response, "epc") == "1.63 USD<br>"  # 13.00 / 8 at the currency's minor unit
    assert stat(response, "pending") == "13.00 USD<br>" and stat(response, "approved") == "0"
    assert "<svg" in response.content.decode() and 'role="img"' in response.content.decode()


def test_home_period_excludes_other_months(alice_client, traffic):
    response = alice_client.get("/dashboard/", {"preset": "custom", "start": "2026-04-01", "end": "2026-04-30"})
    assert stat(response, "clicks") == "0" and stat(response, "conversions") == "0"


def test_home_tells_the_partner_about_a_disabled_postback(alice_client, alice):
    from conversions.postbacks.services import postback_create

    postback = postback_create(partner=alice, url="https://hooks.example.com/x")
    postback.is_active, postback.disabled_reason = False, "Disabled after 25 failed deliveries in a row."
    postback.save()

    assert "Disabled after 25 failed deliveries" in alice_client.get("/dashboard/").content.decode()


def test_performance_by_sub1_and_by_offer(alice_client, traffic):
    by_sub = alice_client.get("/dashboard/performance/", {**MARCH, "group_by": "sub1"}).context["rows"]
    assert [(r.label, r.clicks, r.conversions, r.earnings_list) for r in by_sub] == [
        ("mail", 6, 1, [("USD", Decimal("10.00"))]),
        ("blog", 2, 1, [("USD", Decimal("3.00"))]),
    ]
    by_offer = alice_client.get("/dashboard/performance/", {**MARCH, "group_by": "offer"})
    rows, total = by_offer.context["rows"], by_offer.context["total"]
    assert [(r.label, r.clicks, r.conversions) for r in rows] == [(traffic[0].offer.name, 8, 2)]
    assert total.conversion_rate == Decimal("25.00") and total.epc == [("USD", Decimal("1.63"))]


def test_a_long_sub1_breakdown_is_paged_busiest_first_and_the_total_covers_every_page(alice_client, alice_link, rule):
    from conversions.reports.views import BREAKDOWN_PAGE_SIZE

    base = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    for number in range(BREAKDOWN_PAGE_SIZE + 5):
        for _ in range(2 if number == BREAKDOWN_PAGE_SIZE + 4 else 1):  # one sub id is clicked twice
            click_at(alice_link, base + timedelta(minutes=number), sub1=f"s{number:03}")

    first = alice_client.get("/dashboard/performance/", {**MARCH, "group_by": "sub1"})
    second = alice_client.get("/dashboard/performance/", {**MARCH, "group_by": "sub1", "page": 2})

    assert len(first.context["rows"]) == BREAKDOWN_PAGE_SIZE and len(second.context["rows"]) == 5
    assert first.context["rows"][0].label == f"s{BREAKDOWN_PAGE_SIZE + 4:03}"
    assert first.context["total"].clicks == second.context["total"].clicks == BREAKDOWN_PAGE_SIZE + 6
    assert "Page 1 of 2" in first.content.decode() and 'rel="next"' in first.content.decode()


def test_performance_by_day_lists_every_day_of_the_period(alice_client, traffic):
    rows = alice_client.get("/dashboard/performance/", MARCH).context["rows"]
    assert len(rows) == 31 and rows[9].label == "2026-03-10" and rows[9].clicks == 8 and rows[0].clicks == 0


def test_the_rollups_match_the_raw_tables_and_a_reversal_takes_the_earnings_back(alice_client, traffic, alice):
    assert sum(ClickStat.objects.filter(partner=alice).values_list("clicks", flat=True)) == 8
    first = traffic[0].conversions.get()

    conversion_reject(conversion_id=first.pk, reason="fraud", remark="Chargeback")

    earnings = sum(ConversionStat.objects.filter(partner=alice).values_list("earnings", flat=True))
    assert earnings == Decimal("3.00")
    total = alice_client.get("/dashboard/performance/", MARCH).context["total"]
    assert total.conversions == 2 and total.earnings_list == [("USD", Decimal("3.00"))]


def test_clicks_in_one_quarter_hour_share_one_rollup_row(alice_link, alice):
    at = datetime(2026, 3, 10, 9, 1, tzinfo=UTC)
    for n in range(3):
        click_at(alice_link, at + timedelta(minutes=n * 4))  # 09:01, 09:05, 09:09
    click_at(alice_link, at + timedelta(minutes=14))  # 09:15, the next bucket

    assert list(ClickStat.objects.filter(partner=alice).order_by("bucket").values_list("bucket", "clicks")) == [
        (datetime(2026, 3, 10, 9, 0, tzinfo=UTC), 3),
        (datetime(2026, 3, 10, 9, 15, tzinfo=UTC), 1),
    ]


def test_half_hour_time_zones_get_exact_days(alice_client, alice, alice_link):
    alice.time_zone = "Asia/Kolkata"  # UTC+5:30
    alice.save()
    click_at(alice_link, datetime(2026, 3, 9, 18, 20, tzinfo=UTC))  # 23:50 on the 9th in India
    click_at(alice_link, datetime(2026, 3, 9, 18, 40, tzinfo=UTC))  # 00:10 on the 10th

    rows = alice_client.get(
        "/dashboard/performance/", {"preset": "custom", "start": "2026-03-09", "end": "2026-03-10"}
    ).context["rows"]

    assert [(r.label, r.clicks) for r in rows] == [("2026-03-09", 1), ("2026-03-10", 1)]


def test_the_default_period_is_the_last_seven_days(alice_client, alice_link):
    click_at(alice_link, timezone.now() - timedelta(days=2))
    click_at(alice_link, timezone.now() - timedelta(days=9))
    assert stat(alice_client.get("/dashboard/"), "clicks") == "1"


def test_rebuilding_the_rollups_from_the_raw_tables_gives_the_same_report(alice_client, traffic):
    from django.core.management import call_command

    from conversions.lifecycle import conversion_reject

    conversion_reject(conversion_id=traffic[6].conversions.get().pk, reason="fraud", remark="")
    before = alice_client.get("/dashboard/performance/", {**MARCH, "group_by": "sub1"}).context["rows"]
    snapshot = [(r.label, r.clicks, r.unique_clicks, r.conversions, r.earnings_list) for r in before]

    call_command("rollups_rebuild", stdout=None)

    after = alice_client.get("/dashboard/performance/", {**MARCH, "group_by": "sub1"}).context["rows"]
    # unique_clicks differ by the click made non-unique behind the rollup's back; the rebuild reads the table.
    assert [(r.label, r.clicks, r.conversions, r.earnings_list) for r in after] == [
        (s[0], s[1], s[3], s[4]) for s in snapshot
    ]
    assert sum(r.unique_clicks for r in after) == 7


def test_a_batch_of_clicks_is_counted_like_single_ones(alice_link, alice):
    from django.db import transaction

    from referrals.click_buffer import click_copy_line, click_write, clicks_write
    from referrals.models import Click

    at = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    clicks = [
        Click(click_id=f"{n:032d}", link=alice_link, offer=alice_link.offer, partner=alice, created_at=at, sub1="x")
        for n in range(5)
    ]

    click_write(click=clicks[0], is_unique=True)
    with transaction.atomic():
        clicks_write([f"{click_copy_line(click)}\tf".encode() for click in clicks[1:]])

    assert ClickStat.objects.get(partner=alice).clicks == 5
    assert ClickStat.objects.get(partner=alice).unique_clicks == 1


def test_performance_with_an_invalid_period_shows_the_error_and_no_figures(alice_client, alice_link):
    click_at(alice_link, timezone.now() - timedelta(days=2), sub1="mail")  # inside the default last 7 days
    assert alice_client.get("/dashboard/performance/", {"group_by": "sub1"}).context["total"].clicks == 1

    response = alice_client.get("/dashboard/performance/", {"preset": "last_30_days", "group_by": "sub1"})

    assert response.context["form"].errors and list(response.context["rows"]) == []
    assert response.context["total"].clicks == 0
    assert "No traffic in this period." in response.content.decode()


# The period before a week: the week before it, of equal length.
WEEK = {"preset": "custom", "start": "2026-03-08", "end": "2026-03-14"}


@pytest.fixture
def two_weeks(traffic, alice_link, acme):
    """`traffic` (8 clicks, 2 conversions, 13.00 USD on 10 March) and, the week before, 4 clicks and 1 sale."""
    before = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    clicks = [click_at(alice_link, before + timedelta(minutes=n)) for n in range(4)]
    convert(acme, clicks[0], external_id="a-0", amount="50.00")
    return clicks


def change(response, name):
    return re.sub(r"\s+", " ", response.content.decode().split(f'data-change="{name}">', 1)[1].split("</dd>", 1)[0])


def test_home_shows_each_headline_figure_beside_the_previous_period_of_equal_length(alice_client, two_weeks):
    response = alice_client.get("/dashboard/", WEEK)

    assert stat(response, "clicks") == "8" and stat(response, "conversions") == "2"
    assert change(response, "clicks") == "+100% vs previous 7 days (4)"
    assert change(response, "unique_clicks") == "+100% vs previous 7 days (4)"
    assert change(response, "conversions") == "+100% vs previous 7 days (1)"
    assert change(response, "cr") == "0% vs previous 7 days (25.00%)"
    assert change(response, "epc") == "+30% vs previous 7 days (1.25 USD)"  # 1.63 against 5.00 / 4
    assert change(response, "earnings") == "+160% vs previous 7 days (5.00 USD)"
    assert "compared with the previous 7 days, 2026-03-01 to 2026-03-07" in response.content.decode()


def test_a_fall_and_a_start_from_nothing_are_said_as_such(alice_client, two_weeks):
    week_before = alice_client.get("/dashboard/", {"preset": "custom", "start": "2026-03-01", "end": "2026-03-07"})
    assert change(week_before, "clicks") == "up from 0 in the previous 7 days"
    assert change(week_before, "cr") == "none in the previous 7 days"  # no clicks then, so no rate

    week_after = alice_client.get("/dashboard/", {"preset": "custom", "start": "2026-03-15", "end": "2026-03-21"})
    assert stat(week_after, "earnings") == "0.00 USD<br>"  # a currency earned before still shows, at nothing
    assert change(week_after, "earnings") == "-100% vs previous 7 days (13.00 USD)"
    assert change(week_after, "cr") == "down from 25.00% in the previous 7 days"


def test_the_comparison_leaves_out_other_partners(alice_client, two_weeks, bob_link, acme):
    bob_click = click_at(bob_link, datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    convert(acme, bob_click, external_id="b-0", amount="700.00")

    assert change(alice_client.get("/dashboard/", WEEK), "earnings") == "+160% vs previous 7 days (5.00 USD)"


def test_performance_compares_with_the_period_before_for_the_chosen_offer(alice_client, two_weeks, other_offer):
    response = alice_client.get("/dashboard/performance/", {**WEEK, "group_by": "sub1"})
    assert change(response, "conversions") == "+100% vs previous 7 days (1)"
    assert response.context["chart"] is None  # a chart only by day

    from tests.factories import LinkFactory

    LinkFactory(partner=two_weeks[0].partner, offer=other_offer, code="alice-hats")
    by_other = alice_client.get("/dashboard/performance/", {**WEEK, "offer": other_offer.pk})
    assert stat(by_other, "clicks") == "0" and change(by_other, "clicks") == "same as the previous 7 days"


def test_amounts_show_thousands_separators_and_epc_the_currencys_minor_unit(alice_client, acme, alice_link, rule):
    convert(acme, click_at(alice_link, datetime(2026, 3, 10, 9, tzinfo=UTC)), external_id="big", amount="23456.70")
    click_at(alice_link, datetime(2026, 3, 10, 10, tzinfo=UTC))
    click_at(alice_link, datetime(2026, 3, 10, 11, tzinfo=UTC))

    home = alice_client.get("/dashboard/", MARCH)
    performance = alice_client.get("/dashboard/performance/", MARCH).content.decode()

    assert stat(home, "earnings") == "2,345.67 USD<br>" and stat(home, "epc") == "781.89 USD<br>"
    assert stat(home, "pending") == "2,345.67 USD<br>"
    assert "2,345.67 USD" in performance and "781.89 USD" in performance


def test_epc_is_rounded_at_each_currencys_minor_unit():
    row = PerformanceRow(key=None, clicks=3, earnings=Counter({"JPY": Decimal("100"), "KWD": Decimal("1"), "USD": 0}))
    assert row.epc == [("JPY", Decimal("33")), ("KWD", Decimal("0.333"))]


def test_axis_ticks_are_round_numbers_from_zero_past_the_highest_value():
    assert axis_ticks(8) == [0, 2, 4, 6, 8]
    assert axis_ticks(2) == [0, 1, 2]
    assert axis_ticks(1234) == [0, 500, 1000, 1500]
    assert axis_ticks(0) == [0, 1]
    assert axis_ticks(Decimal("13.00"), unit=Decimal("0.01")) == [0, 5, 10, 15]
    assert axis_ticks(Decimal("0.03"), unit=Decimal("0.01")) == [0, Decimal("0.01"), Decimal("0.02"), Decimal("0.03")]
    assert axis_ticks(Decimal("0.004"), unit=Decimal("0.01")) == [0, Decimal("0.01")]  # never finer than a cent


def test_the_chart_gives_clicks_conversions_and_each_currency_its_own_scale():
    rows = [
        PerformanceRow(date(2026, 3, 1), "2026-03-01", clicks=1200, conversions=3, earnings=Counter(USD=Decimal(40))),
        PerformanceRow(date(2026, 3, 2), "2026-03-02", clicks=600, conversions=1, earnings=Counter(EUR=Decimal(7))),
    ]

    chart = daily_chart(rows)

    names = [panel["name"] for panel in chart["panels"]]
    assert names == ["Clicks", "Conversions", "Earnings (EUR)", "Earnings (USD)"]
    ticks = {panel["name"]: [tick["label"] for tick in panel["ticks"]] for panel in chart["panels"]}
    assert ticks["Clicks"] == ["0", "500", "1,000", "1,500"] and ticks["Conversions"] == ["0", "1", "2", "3"]
    assert ticks["Earnings (USD)"] == ["0", "10", "20", "30", "40"] and ticks["Earnings (EUR)"][-1] == "8"
    conversions = chart["panels"][1]
    # The top conversion bar reaches its own panel's top tick: 3 conversions are not lost under 1,200 clicks.
    assert conversions["bars"][0]["y"] == conversions["ticks"][-1]["y"]
    assert [day["label"] for day in chart["days"]] == ["Mar 1", "Mar 2"]


def test_the_home_chart_has_an_axis_and_a_title_with_each_days_figures(alice_client, traffic):
    html = alice_client.get("/dashboard/", MARCH).content.decode()

    day = html.split('data-day="2026-03-10">', 1)[1].split("</title>", 1)[0]
    assert re.sub(r"\s+", " ", day) == "<title>Tue 10 Mar 2026 Clicks: 8 Conversions: 2 Earnings: 13.00 USD "
    axes = html.split('class="series-chart-axes"', 1)[1].split("</svg>", 1)[0]
    assert [re.sub("<[^>]+>", "", text) for text in re.findall(r'<text class="tick"[^>]*>[^<]*</text>', axes)] == [
        *["0", "2", "4", "6", "8"],  # clicks
        *["0", "1", "2"],  # conversions
        *["0", "5", "10", "15"],  # earnings, USD
    ]


def export(client, **query):
    response = client.get("/dashboard/performance/export.csv", query)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return response, list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_performance_csv_has_every_day_of_the_period_in_plain_decimals(alice_client, traffic):
    response, rows = export(alice_client, **MARCH)

    assert 'filename="performance-by-day-20260301-20260331.csv"' in response["Content-Disposition"]
    header = ["day", "time_zone", "clicks", "unique_clicks", "conversions", "conversion_rate", "earnings_USD"]
    assert rows[0] == [*header, "epc_USD"]
    assert len(rows) == 32 and rows[1] == ["2026-03-01", "UTC", "0", "0", "0", "", "0.00", ""]
    assert rows[10] == ["2026-03-10", "UTC", "8", "8", "2", "25.00", "13.00", "1.63"]


def test_performance_csv_follows_the_grouping_and_escapes_formulas(alice_client, traffic, alice_link):
    click_at(alice_link, datetime(2026, 3, 11, 9, tzinfo=UTC), sub1="=HYPERLINK(1)")

    _, by_sub = export(alice_client, **MARCH, group_by="sub1")
    _, by_offer = export(alice_client, **MARCH, group_by="offer", offer=alice_link.offer.pk)

    assert [row[:4] for row in by_sub] == [
        ["sub1", "clicks", "unique_clicks", "conversions"],
        ["mail", "6", "6", "1"],
        ["blog", "2", "2", "1"],
        ["'=HYPERLINK(1)", "1", "1", "0"],
    ]
    assert by_offer[1][:3] == ["acme-shoes", alice_link.offer.name, "9"] and len(by_offer) == 2


def test_performance_csv_has_only_the_partners_own_rows(bob_client, traffic):
    _, rows = export(bob_client, **MARCH, group_by="sub1")
    assert rows[1:] == [["", "1", "1", "1", "100.00", "99.90", "99.90"]]  # bob's one click (no sub1) and sale


def test_performance_csv_refuses_invalid_input_rather_than_export_another_period(alice_client, traffic):
    response = alice_client.get(
        "/dashboard/performance/export.csv", {"preset": "custom", "start": "2026-03-09", "end": "2026-03-01"}
    )
    assert response.status_code == 400 and "The last day comes before the first." in response.content.decode()


def test_performance_page_links_its_export_with_the_filters_shown(alice_client, traffic):
    html = alice_client.get("/dashboard/performance/", {**MARCH, "group_by": "sub1", "page": 1}).content.decode()
    assert (
        'href="/dashboard/performance/export.csv?preset=custom&amp;start=2026-03-01&amp;end=2026-03-31&amp;group_by=sub1"'
        in html
    )


def test_home_with_an_invalid_period_shows_the_error_and_no_figures(alice_client, alice_link):
    click_at(alice_link, timezone.now() - timedelta(days=2))  # inside the default last 7 days

    response = alice_client.get("/dashboard/", {"preset": "custom", "start": "2026-03-09", "end": "2026-03-01"})

    html = response.content.decode()
    assert "The last day comes before the first." in html and "No figures until the period above is corrected." in html
    assert "data-stat=" not in html and "series-chart" not in html


def test_a_period_without_earnings_still_has_the_earnings_series_flat_and_saying_why():
    chart = daily_chart([PerformanceRow(date(2026, 3, 1), "2026-03-01", clicks=5)], earnings_name="Commission")

    flat = chart["panels"][-1]
    assert flat["name"] == "Commission (none in this period)" and [tick["label"] for tick in flat["ticks"]] == ["0"]
