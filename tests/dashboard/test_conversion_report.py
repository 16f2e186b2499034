"""The conversion report: filters, search, totals, sorting, pagination, time-zone days, CSV export."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from conversions.intake.recording import ConversionReport, conversions_record
from conversions.lifecycle import conversion_reject, conversion_validate
from conversions.reports.periods import period_for_preset
from referrals.partner_access import partner_today, partner_tz
from referrals.partner_tokens import partner_token_rotate
from rewards.models import ExchangeRate
from tests.dashboard.conftest import click_at, convert
from tests.factories import LinkFactory, OfferFactory, RewardRuleFactory

pytestmark = pytest.mark.django_db

URL = "/dashboard/conversions/"


def rows_of(response) -> list[str]:
    """The external ids shown, in order."""
    return [conversion.external_id for conversion in response.context["page"]]


def export(client, **params) -> list[dict]:
    response = client.get(URL + "export.csv", params)
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.fixture
def march(acme, alice_link, other_offer, alice, rule):
    """Three conversions of alice in March 2026 (UTC partner), on two offers, with sub ids."""
    hats = LinkFactory(partner=alice, offer=other_offer, code="alice-hats")
    RewardRuleFactory(offer=other_offer, reward_type="percentage", value=Decimal("10"))
    base = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    one = convert(acme, click_at(alice_link, base, sub1="mail", sub2="a"), external_id="ord-1", amount="50.00")
    two = convert(acme, click_at(alice_link, base + timedelta(hours=1), sub1="blog"), external_id="ord-2", amount="200")
    three = convert(acme, click_at(hats, base + timedelta(hours=2), sub1="mail"), external_id="ord-3", amount="10.00")
    return one, two, three


def march_params(**extra):
    return {"preset": "custom", "start": "2026-03-01", "end": "2026-03-31", **extra}


def test_report_lists_the_partners_conversions_newest_first_with_reward_and_click(alice_client, march):
    response = alice_client.get(URL, march_params())

    assert response.status_code == 200
    assert rows_of(response) == ["ord-3", "ord-2", "ord-1"]
    html = response.content.decode()
    assert "2026-03-10 12:05:00" in html  # local time (UTC partner)
    assert march[0].click.click_id in html and "mail · a" in html
    assert "5.00 USD" in html  # 10% of 50.00


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"sub1": "mail"}, ["ord-3", "ord-1"]),
        ({"sub1": "mail", "sub2": "a"}, ["ord-1"]),
        ({"type": "subscription"}, []),
        ({"status": "accepted"}, ["ord-3", "ord-2", "ord-1"]),
        ({"status": "rejected"}, []),
        ({"q": "ord-2"}, ["ord-2"]),
    ],
)
def test_filters_narrow_the_report(alice_client, march, params, expected):
    assert rows_of(alice_client.get(URL, march_params(**params))) == expected


def test_filter_by_offer_and_search_by_conversion_id(alice_client, march, other_offer):
    assert rows_of(alice_client.get(URL, march_params(offer=other_offer.pk))) == ["ord-3"]
    assert rows_of(alice_client.get(URL, march_params(q=str(march[1].pk)))) == ["ord-2"]


def test_totals_row_sums_amounts_and_rewards_of_the_filtered_rows(alice_client, march):
    totals = alice_client.get(URL, march_params()).context["totals"]
    assert totals.conversions == 3
    assert [(c, str(v)) for c, v in totals.amounts] == [("USD", "260.00")]
    assert [(c, str(v)) for c, v in totals.rewards] == [("USD", "26.00")]

    filtered = alice_client.get(URL, march_params(sub1="mail")).context["totals"]
    assert filtered.conversions == 2 and [(c, str(v)) for c, v in filtered.amounts] == [("USD", "60.00")]


def test_a_reversed_reward_is_left_out_of_the_totals(alice_client, march):
    conversion_reject(conversion_id=march[1].pk, reason="fraud", remark="Returned order")

    response = alice_client.get(URL, march_params())

    assert [(c, str(v)) for c, v in response.context["totals"].rewards] == [("USD", "6.00")]
    assert "Returned order" in response.content.decode()


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("amount", ["ord-3", "ord-1", "ord-2"]),
        ("-amount", ["ord-2", "ord-1", "ord-3"]),
        ("time", ["ord-1", "ord-2", "ord-3"]),
        ("-reward", ["ord-2", "ord-1", "ord-3"]),
        ("not-a-column", ["ord-3", "ord-2", "ord-1"]),
    ],
)
def test_sorting_by_a_column(alice_client, march, sort, expected):
    assert rows_of(alice_client.get(URL, march_params(sort=sort))) == expected


def test_report_paginates_50_a_page(alice_client, acme, alice_link, rule):
    base = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    for n in range(55):
        convert(acme, click_at(alice_link, base + timedelta(minutes=n)), external_id=f"bulk-{n:02d}", amount="1")

    first = alice_client.get(URL, march_params(sort="time"))
    second = alice_client.get(URL, march_params(sort="time", page=2))

    assert len(rows_of(first)) == 50 and rows_of(second) == [f"bulk-{n}" for n in range(50, 55)]
    assert first.context["totals"].conversions == 55
    assert 'rel="next"' in first.content.decode()


def test_presets_follow_the_partners_today(alice_client, acme, alice_link, rule):
    now = timezone.now()
    convert(
        acme, click_at(alice_link, now - timedelta(minutes=10)), external_id="recent", at=now - timedelta(minutes=5)
    )
    convert(acme, click_at(alice_link, now - timedelta(days=20)), external_id="older")

    assert rows_of(alice_client.get(URL, {"preset": "today"})) == ["recent"]
    assert rows_of(alice_client.get(URL, {"preset": "last_7"})) == ["recent"]
    assert rows_of(alice_client.get(URL, {"preset": "last_30"})) == ["recent", "older"]
    assert rows_of(alice_client.get(URL, {"preset": "yesterday"})) == []


def test_a_bad_custom_range_shows_an_error(alice_client, march):
    response = alice_client.get(URL, {"preset": "custom", "start": "2026-03-10", "end": "2026-03-01"})
    assert response.status_code == 200 and "The last day comes before the first." in response.content.decode()


def test_a_sorted_column_without_a_period_shows_the_period_it_applies(alice_client, acme, alice_link, rule):
    now = timezone.now()
    convert(acme, click_at(alice_link, now - timedelta(days=3)), external_id="three-days-ago")

    response = alice_client.get(URL, {"sort": "-amount"})

    assert rows_of(response) == ["three-days-ago"]  # the last 7 days, not today
    assert '<option value="last_7" selected>' in response.content.decode()


@pytest.mark.parametrize(
    "params",
    [
        {"preset": "last_30_days", "sub1": "mail"},
        {"preset": "custom", "start": "2026-03-10", "end": "2026-03-01", "sub1": "mail"},
        {"preset": "custom", "start": "not-a-day", "sub1": "mail"},
    ],
)
def test_invalid_filters_show_their_error_and_no_rows_rather_than_unfiltered_ones(
    alice_client, acme, alice_link, rule, params
):
    now = timezone.now()
    for sub1 in ("mail", "blog"):  # both inside the default period, the last 7 days
        convert(acme, click_at(alice_link, now - timedelta(days=1), sub1=sub1), external_id=f"recent-{sub1}")
    assert rows_of(alice_client.get(URL, {"sub1": "mail"})) == ["recent-mail"]

    response = alice_client.get(URL, params)

    assert response.status_code == 200 and response.context["form"].errors
    assert rows_of(response) == [] and response.context["totals"].conversions == 0
    html = response.content.decode()
    assert "No conversions are shown: the filters have an error" in html
    assert "No conversions are shown until the filters are corrected." in html
    assert "recent-mail" not in html and "recent-blog" not in html
    assert export(alice_client, **params) == []


def date_inputs(response) -> tuple[str, str]:
    form = response.context["form"]
    return str(form["start"].value()), str(form["end"].value())


@pytest.mark.parametrize("preset", ["today", "yesterday", "last_7", "last_30", "this_month", "last_month"])
def test_a_preset_fills_the_date_inputs_with_its_days(alice_client, alice, preset):
    period = period_for_preset(preset, today=partner_today(alice, timezone.now()), tz=partner_tz(alice))

    response = alice_client.get(URL, {"preset": preset, "start": "2020-01-01", "end": "2020-01-31"})

    assert date_inputs(response) == (period.start.isoformat(), period.end.isoformat())
    html = response.content.decode()
    assert f'name="start" value="{period.start.isoformat()}"' in html
    assert f'name="end" value="{period.end.isoformat()}"' in html


def test_an_unknown_preset_leaves_the_period_select_on_choose_a_period_not_on_today(alice_client, march):
    html = alice_client.get(URL, {"preset": "last_30_days"}).content.decode()

    select = re.search(r'<select name="preset".*?</select>', html, re.DOTALL).group()
    # Nothing selected: the browser shows the first option, which asks for a period rather than naming one.
    assert "selected" not in select and select.index("Choose a period") < select.index("Today")


def test_a_custom_start_alone_is_one_day_and_both_date_inputs_say_so(alice_client, march):
    response = alice_client.get(URL, {"preset": "custom", "start": "2026-03-10"})

    assert date_inputs(response) == ("2026-03-10", "2026-03-10")
    assert rows_of(response) == ["ord-3", "ord-2", "ord-1"]


def test_the_report_without_parameters_shows_the_last_7_days_in_the_date_inputs(alice_client, alice):
    period = period_for_preset("last_7", today=partner_today(alice, timezone.now()), tz=partner_tz(alice))
    html = alice_client.get(URL).content.decode()

    assert f'name="start" value="{period.start.isoformat()}"' in html
    assert f'name="end" value="{period.end.isoformat()}"' in html


def test_sort_and_page_links_keep_every_filter_and_the_period(alice_client, acme, alice_link, rule):
    base = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    for n in range(51):
        convert(acme, click_at(alice_link, base + timedelta(minutes=n), sub1="mail"), external_id=f"b-{n}", amount="1")
    params = march_params(status="accepted", sub1="mail", sort="amount")

    response = alice_client.get(URL, params)

    html = response.content.decode()
    kept = ("preset=custom", "start=2026-03-01", "end=2026-03-31", "status=accepted", "sub1=mail")
    sort_link = next(line for line in html.splitlines() if "sort=-amount" in line)
    next_link = next(line for line in html.splitlines() if 'rel="next"' in line)
    assert all(part in sort_link for part in kept) and "page=" not in sort_link
    assert all(part in next_link for part in kept) and "sort=amount" in next_link and "page=2" in next_link
    assert 'name="sort" value="amount"' in html  # Apply keeps the sort


def test_an_unknown_sort_is_shown_as_the_newest_first_it_applies(alice_client, march):
    response = alice_client.get(URL, march_params(sort="not-a-column"))

    assert 'name="sort" value="-time"' in response.content.decode()
    assert response.context["columns"][0]["aria_sort"] == "descending"  # the time column, newest first


def test_the_filters_summary_names_the_period_and_each_filter_in_force(alice_client, march):
    html = alice_client.get(URL, march_params(status="accepted", sub1="mail")).content.decode()

    assert "2026-03-01 to 2026-03-31 · Conversion status: accepted · Sub ID 1: mail" in html


def test_each_row_names_the_conversion_status_and_the_commission_status(alice_client, march):
    conversion_validate(conversion_id=march[0].pk)
    conversion_reject(conversion_id=march[1].pk, reason="fraud", remark="Returned order")

    html = alice_client.get(URL, march_params(sort="time")).content.decode()

    cells = re.findall(r'data-cell="status">(.*?)</td>', html, re.DOTALL)
    assert [" ".join(re.sub(r"<[^>]+>", "", cell).split()) for cell in cells] == [
        "Conversion: accepted · Commission: approved",
        "Conversion: rejected · Commission: reversed",
        "Conversion: accepted · Commission: pending",
    ]
    assert "What the statuses mean" in html and "Commission: pending</dt>" in html


def test_the_same_sale_reads_with_the_same_statuses_on_report_page_earnings_and_api(alice_client, alice, march):
    sale = march[0]
    report = alice_client.get(URL, march_params(q="ord-1")).content.decode()
    conversion_page = alice_client.get(f"{URL}{sale.pk}/").content.decode()
    earnings = alice_client.get("/dashboard/earnings/").content.decode()

    assert "Commission: pending" in report and "Commission: pending" in conversion_page
    assert "Conversion: accepted" in report and "Conversion: accepted" in conversion_page
    assert '<th scope="col">Commission status</th>' in earnings and "<td>pending</td>" in earnings
    token = partner_token_rotate(partner=alice)[1]
    answer = alice_client.get(f"/v1/conversions/{sale.pk}", headers={"Authorization": f"Bearer {token}"}).json()
    assert (answer["status"], answer["reward"]["status"]) == ("accepted", "pending")


class TestConversionPage:
    def test_shows_the_commission_its_status_dates_and_how_it_was_decided(self, alice_client, march):
        html = alice_client.get(f"{URL}{march[0].pk}/").content.decode()

        assert "Conversion: accepted" in html and "Commission: pending" in html
        assert '<dd data-stat="commission">5.00 USD</dd>' in html
        assert '<dd data-stat="commission-created">2026-03-10 12:05 UTC</dd>' in html
        assert '<dd data-stat="commission-approve-after">2026-04-10 00:00 UTC</dd>' in html
        assert '<dd data-stat="commission-approved">not yet</dd>' in html
        click_id = march[0].click.click_id
        assert (
            f"Click chosen: your click {click_id} at 2026-03-10 12:00, found by the click id the advertiser sent "
            "(the last click wins); the sale came 5 min later, inside the offer&#x27;s 30-day cookie window."
        ) in html
        assert "Rule matched: “Rule" in html and "the offer&#x27;s rule" in html
        assert "Commission: 10% of 50.00 USD = 5.00 USD." in html
        assert "No cap: the rule has no maximum." in html

    def test_an_approved_commission_shows_its_approval_date(self, alice_client, march):
        conversion_validate(conversion_id=march[0].pk, now=datetime(2026, 3, 12, 9, 30, tzinfo=UTC))

        html = alice_client.get(f"{URL}{march[0].pk}/").content.decode()

        assert "Commission: approved" in html
        assert '<dd data-stat="commission-approved">2026-03-12 09:30 UTC</dd>' in html
        assert "commission-approve-after" not in html  # no longer in validation

    def test_a_capped_commission_in_another_currency_says_the_rate_and_the_cap(self, alice_client, acme, alice):
        euro = OfferFactory(advertiser=acme, public_id="acme-euro", name="Acme Euro", currency="EUR")
        RewardRuleFactory(
            offer=euro, reward_type="percentage", value=Decimal("50"), currency="USD", max_reward=Decimal("20.00")
        )
        ExchangeRate.objects.create(base="EUR", quote="USD", date=datetime(2026, 3, 10, tzinfo=UTC).date(), rate="1.1")
        link = LinkFactory(partner=alice, offer=euro, code="alice-euro")
        sale = convert(acme, click_at(link, datetime(2026, 3, 10, 12, 0, tzinfo=UTC)), external_id="eu-1", amount="100")

        html = alice_client.get(f"{URL}{sale.pk}/").content.decode()

        assert '<dd data-stat="commission">20.00 USD</dd>' in html
        assert "Exchange rate: 1 EUR = 1.1 USD (the rate of 2026-03-10), so the sale counts as 110.00 USD." in html
        assert "Commission: 50% of 110.00 USD = 55.00 USD." in html
        assert "Cap applied: the rule pays at most 20.00 USD, so the commission is 20.00 USD." in html

    def test_a_sale_no_rule_pays_says_so(self, alice_client, acme, alice, alice_link):
        sale = convert(acme, click_at(alice_link, datetime(2026, 3, 10, 12, 0, tzinfo=UTC)), external_id="none-1")

        html = alice_client.get(f"{URL}{sale.pk}/").content.decode()

        assert "Conversion: rejected" in html and "Commission: " not in html.split("<h2>Commission</h2>")[0]
        assert '<dd data-stat="commission">None</dd>' in html
        assert "No reward rule of the offer matches this sale, so it earns no commission." in html

    def test_a_spend_limit_is_explained_within_it_and_once_reached(self, alice_client, acme, alice_link):
        RewardRuleFactory(
            offer=alice_link.offer, value=Decimal("4.00"), spend_limit=Decimal("10.00"), spend_limit_period="day"
        )
        base = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
        sales = [
            convert(acme, click_at(alice_link, base + timedelta(minutes=n)), external_id=f"cap-{n}") for n in range(3)
        ]

        first = alice_client.get(f"{URL}{sales[0].pk}/").content.decode()
        third = alice_client.get(f"{URL}{sales[2].pk}/").content.decode()

        assert "Commission: a fixed 4.00 USD a sale." in first
        within = "Within the rule&#x27;s spend limit of 10.00 USD for a day (4.00 USD of it used, this sale included)."
        assert within in first
        assert '<dd data-stat="commission">None</dd>' in third
        assert "No commission: the rule&#x27;s spend limit for the period was reached." in third
        assert "The rule&#x27;s spend limit of 10.00 USD for a day was reached." in third

    def test_another_partners_conversion_is_not_found(self, bob_client, march):
        assert bob_client.get(f"{URL}{march[0].pk}/").status_code == 404


class TestTimeZoneDays:
    """Days are the partner's local days. New York springs forward on 2026-03-08 (a 23-hour day)."""

    @pytest.fixture
    def new_york(self, alice, acme, alice_link, rule):
        alice.time_zone = "America/New_York"
        alice.save()
        # 2026-03-08 04:30 UTC is 23:30 on the 7th in New York (EST, -5).
        convert(acme, click_at(alice_link, datetime(2026, 3, 8, 4, 25, tzinfo=UTC)), external_id="on-7th")
        # 2026-03-09 03:30 UTC is 23:30 on the 8th in New York (EDT, -4 after the switch).
        convert(acme, click_at(alice_link, datetime(2026, 3, 9, 3, 25, tzinfo=UTC)), external_id="late-8th")
        # 2026-03-09 04:30 UTC is 00:30 on the 9th.
        convert(acme, click_at(alice_link, datetime(2026, 3, 9, 4, 25, tzinfo=UTC)), external_id="on-9th")

    def test_a_day_runs_from_local_midnight_to_local_midnight_across_dst(self, alice_client, new_york):
        day = {"preset": "custom", "start": "2026-03-08", "end": "2026-03-08"}
        response = alice_client.get(URL, day)

        assert rows_of(response) == ["late-8th"]
        assert "2026-03-08 23:30:00" in response.content.decode()  # shown in local time, EDT

    def test_export_shows_local_times_and_the_zone(self, alice_client, new_york):
        rows = export(alice_client, preset="custom", start="2026-03-07", end="2026-03-09", sort="time")

        assert [(row["external_id"], row["local_time"]) for row in rows] == [
            ("on-7th", "2026-03-07 23:30:00"),
            ("late-8th", "2026-03-08 23:30:00"),
            ("on-9th", "2026-03-09 00:30:00"),
        ]
        assert {row["time_zone"] for row in rows} == {"America/New_York"}

    def test_performance_by_day_puts_each_conversion_on_its_local_day(self, alice_client, new_york):
        response = alice_client.get(
            "/dashboard/performance/", {"preset": "custom", "start": "2026-03-07", "end": "2026-03-09"}
        )
        by_day = {row.label: (row.clicks, row.conversions) for row in response.context["rows"]}

        assert by_day == {"2026-03-07": (1, 1), "2026-03-08": (1, 1), "2026-03-09": (1, 1)}


class TestExport:
    def test_export_has_every_column_and_the_filtered_rows(self, alice_client, march):
        rows = export(alice_client, **march_params(sub1="mail"))

        assert [row["external_id"] for row in rows] == ["ord-3", "ord-1"]
        first = rows[1]
        assert first["conversion_id"] == str(march[0].pk) and first["offer_id"] == "acme-shoes"
        assert (first["amount"], first["currency"], first["reward"], first["status"]) == (
            "50.00",
            "USD",
            "5.00",
            "accepted",
        )
        assert (first["sub1"], first["sub2"], first["click_id"]) == ("mail", "a", march[0].click.click_id)

    @pytest.mark.parametrize("dangerous", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"])
    def test_cells_that_a_spreadsheet_would_run_get_a_leading_apostrophe(
        self, alice_client, acme, alice_link, rule, dangerous
    ):
        click = click_at(alice_link, datetime(2026, 3, 10, 12, 0, tzinfo=UTC), sub1=dangerous)
        convert(acme, click, external_id=dangerous)

        row = export(alice_client, **march_params())[0]

        assert row["external_id"] == "'" + dangerous and row["sub1"] == "'" + dangerous

    def test_export_file_is_named_for_the_period(self, alice_client, march):
        response = alice_client.get(URL + "export.csv", march_params())
        assert response["Content-Disposition"] == 'attachment; filename="conversions-20260301-20260331.csv"'


def _link(response, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', response.content.decode())
    return found and found.group(1).replace("&amp;", "&")


@pytest.fixture
def many(acme, alice_link, bob_link, rule):
    """120 of alice's conversions in March (amounts with many ties, a few at one instant) and one of bob's."""
    base = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    for hour in range(12):
        at = base + timedelta(hours=hour)
        reports = [
            ConversionReport(
                type="purchase",
                external_id=f"k-{hour:02d}-{n}",
                amount=Decimal((hour * 10 + n) % 7),
                click_id=click_at(alice_link, at - timedelta(minutes=10)).click_id,
                product_id="sku",
                occurred_at=at,
            )
            for n in range(10)
        ]
        conversions_record(advertiser=acme, reports=reports, channel="upload", now=at)  # 10 at one instant
    return convert(acme, click_at(bob_link, base), external_id="bobs")


@pytest.mark.parametrize("sort", ["-time", "time", "-amount", "amount", "status", "-offer"])
def test_next_and_previous_links_walk_the_same_pages_as_page_numbers(alice_client, many, sort):
    by_number = [rows_of(alice_client.get(URL, march_params(sort=sort, page=n))) for n in (1, 2, 3)]
    assert sorted(row for page in by_number for row in page) == sorted(
        f"k-{h:02d}-{n}" for h in range(12) for n in range(10)
    )

    walked, response = [], alice_client.get(URL, march_params(sort=sort))
    while True:
        walked.append(rows_of(response))
        if not (next_link := _link(response, "next")):
            break
        response = alice_client.get(URL + next_link)
    back = [rows_of(response)]
    while previous := _link(response, "prev"):
        response = alice_client.get(URL + previous)
        back.insert(0, rows_of(response))

    assert walked == by_number == back
    if sort.lstrip("-") != "offer":  # the offer's name is another table's: that sort pages by number
        assert "after=" in (next_link or _link(alice_client.get(URL, march_params(sort=sort)), "next"))


def test_a_page_link_naming_someone_elses_conversion_pages_by_number(alice_client, many):
    typed = alice_client.get(URL, march_params(page=2))
    forged = alice_client.get(URL, march_params(page=2, after=str(many.pk)))
    garbage = alice_client.get(URL, march_params(page=2, after="not-an-id", before="x"))

    assert rows_of(forged) == rows_of(typed) == rows_of(garbage)
    assert "bobs" not in rows_of(forged)
