"""The publisher's conversion report and conversion page in a real browser: the period and filters the page shows
are the ones its rows follow, the commission is explained, and a phone shows amount, reward and status."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conversions.lifecycle import conversion_validate
from conversions.reports.periods import period_for_preset
from referrals.partner_access import partner_today, partner_tz
from tests.browser.test_dashboard_browser import log_in
from tests.dashboard.conftest import click_at, convert
from tests.factories import RewardRuleFactory

pytestmark = pytest.mark.django_db(transaction=True)

REPORT = "/dashboard/conversions/"


@pytest.fixture
def sales(acme, alice, alice_link):
    """Alice's sales: two today-ish (one validated early), one 20 days ago (in the last 30 days, not the last 7)."""
    RewardRuleFactory(offer=alice_link.offer, reward_type="percentage", value=Decimal("10"))
    now = timezone.now()
    click = click_at(alice_link, now - timedelta(hours=3), sub1="mail")
    recent = convert(acme, click, external_id="web-1", amount="1250")
    convert(acme, click_at(alice_link, now - timedelta(hours=2), sub1="blog"), external_id="web-2", amount="40.00")
    convert(acme, click_at(alice_link, now - timedelta(days=20), sub1="mail"), external_id="old-1", amount="80.00")
    conversion_validate(conversion_id=recent.pk)
    return recent


def preset_days(partner, preset: str) -> tuple[str, str]:
    period = period_for_preset(preset, today=partner_today(partner, timezone.now()), tz=partner_tz(partner))
    return period.start.isoformat(), period.end.isoformat()


def rows(page) -> list[str]:
    """The external ids the report shows, in order."""
    return page.locator("table.report tbody td[data-label='External id']").all_inner_texts()


def test_sort_then_apply_keeps_the_period(page, sales, alice):
    log_in(page)
    page.goto(REPORT)
    period = page.locator("select[name=preset]")
    period.select_option("last_30")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**preset=last_30**")
    assert sorted(rows(page)) == ["old-1", "web-1", "web-2"]

    page.locator("table.report thead").get_by_role("link", name="Amount").click()
    page.wait_for_url("**sort=-amount**")
    expect(period).to_have_value("last_30")
    assert rows(page) == ["web-1", "old-1", "web-2"]  # the last 30 days still, by amount

    page.get_by_role("button", name="Apply").click()
    page.wait_for_load_state()
    assert "preset=last_30" in page.url and "sort=-amount" in page.url
    expect(period).to_have_value("last_30")
    assert rows(page) == ["web-1", "old-1", "web-2"]


def test_a_sorted_column_without_a_period_shows_and_keeps_the_last_7_days(page, sales, alice):
    log_in(page)
    page.goto(REPORT + "?sort=-amount")
    period = page.locator("select[name=preset]")

    expect(period).to_have_value("last_7")
    start, end = preset_days(alice, "last_7")
    expect(page.locator("input[name=start]")).to_have_value(start)
    expect(page.locator("input[name=end]")).to_have_value(end)
    assert rows(page) == ["web-1", "web-2"]

    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**preset=last_7**")
    expect(period).to_have_value("last_7")
    assert rows(page) == ["web-1", "web-2"]


def test_a_bad_preset_shows_no_unfiltered_rows(page, sales, screenshots):
    log_in(page)
    page.goto(REPORT + "?preset=last_30_days&status=accepted&sub1=newsletter")

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("No conversions are shown: the filters have an error")
    expect(alert).to_contain_text("last_30_days is not one of the available choices")
    expect(page.locator("select[name=preset]")).to_have_value("")  # "Choose a period", not a period it does not apply
    body = page.locator("table.report tbody")
    expect(body).to_have_text("No conversions are shown until the filters are corrected.")
    for external_id in ("web-1", "web-2", "old-1"):
        expect(page.get_by_text(external_id)).to_have_count(0)
    expect(page.locator("tfoot")).to_contain_text("Total: 0")
    screenshots(page, "report-bad-preset")


def test_choosing_a_preset_fills_the_dates_and_a_typed_date_makes_the_period_custom(page, sales, alice):
    log_in(page)
    page.goto(REPORT)
    period, start = page.locator("select[name=preset]"), page.locator("input[name=start]")
    end = page.locator("input[name=end]")

    period.select_option("last_30")
    first, last = preset_days(alice, "last_30")
    expect(start).to_have_value(first)
    expect(end).to_have_value(last)

    week_start, _ = preset_days(alice, "last_7")
    start.fill(week_start)
    expect(period).to_have_value("custom")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**preset=custom**")
    expect(start).to_have_value(week_start)
    expect(end).to_have_value(last)
    assert sorted(rows(page)) == ["web-1", "web-2"]


def test_the_conversion_page_shows_the_commission_and_why(page, sales, screenshots):
    log_in(page)
    page.goto(REPORT)
    row = page.locator("table.report tbody tr", has_text="web-1")
    expect(row.locator("[data-cell=status]")).to_have_text("Conversion: accepted · Commission: approved")
    page.get_by_text("What the statuses mean").click()
    expect(page.locator("[data-legend=commission]")).to_contain_text("Commission: pending")
    screenshots(page, "report")

    row.get_by_role("link").click()
    page.wait_for_url(f"**{sales.pk}/")
    expect(page.locator("[data-stat=statuses]")).to_have_text("Conversion: accepted · Commission: approved")
    expect(page.locator("[data-stat=commission]")).to_have_text("125.00 USD")
    expect(page.locator("[data-stat=commission-approved]")).not_to_have_text("not yet")
    expect(page.locator("[data-stat=commission-paid]")).to_have_text("not yet")
    explanation = page.locator("[data-explanation]")
    expect(explanation).to_contain_text(f"Click chosen: your click {sales.click.click_id}")
    expect(explanation).to_contain_text("Rule matched:")
    expect(explanation).to_contain_text("Commission: 10% of 1,250.00 USD = 125.00 USD.")
    expect(explanation).to_contain_text("No cap: the rule has no maximum.")
    screenshots(page, "conversion-page")


def test_on_a_phone_the_filters_fold_and_each_row_shows_amount_reward_and_status(page, sales, screenshots):
    log_in(page)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(REPORT + "?sort=-amount")  # the biggest sale, 1,250.00 USD, first: the widest amounts

    filters = page.locator("details.report-filters")
    expect(filters).not_to_have_attribute("open", "")
    expect(page.get_by_label("Sub ID 1")).to_be_hidden()
    first = page.locator("table.report tbody tr").first
    for cell in ("amount", "reward", "status"):
        box = first.locator(f"[data-cell={cell}]").bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, (cell, box)
        assert box["y"] + box["height"] <= 844, (cell, box)  # on the first screen, not under 1,000 px of filters
    expect(first.locator("[data-cell=amount]")).to_contain_text("1,250.00 USD")
    expect(first.locator("[data-cell=reward]")).to_contain_text("125.00 USD")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    screenshots(page, "report-phone-filters-closed")

    filters.locator("summary").click()
    expect(page.get_by_label("Sub ID 1")).to_be_visible()
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
