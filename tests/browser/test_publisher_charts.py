"""The publisher's charts and comparisons in a real browser: the home chart's axes and hover figures, the
performance page's comparison with the period before and its CSV, the earnings CSV."""

import csv
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.test_dashboard_browser import log_in
from tests.dashboard.conftest import click_at, convert
from tests.factories import RewardRuleFactory

pytestmark = pytest.mark.django_db(transaction=True)

# Clicks and sales per day, most recent first: this week's 7 days, then the 7 before.
CLICKS = [12, 30, 18, 25, 9, 40, 22, 8, 15, 10, 20, 6, 14, 11]
SALES = [1, 3, 0, 2, 1, 4, 2, 0, 1, 1, 2, 0, 1, 1]


@pytest.fixture
def alice_fortnight(acme, alice, alice_link):
    """Two weeks of traffic: every day's clicks from 00:00, a sale of 1,234.50 USD five minutes after
    each of the day's first SALES clicks (123.45 USD of commission)."""
    RewardRuleFactory(offer=alice_link.offer, reward_type="percentage", value=Decimal("10"))
    today = timezone.now().astimezone(UTC).date()  # alice's days are UTC days
    midnight = datetime.combine(today, time.min, tzinfo=UTC)
    for days_ago, (clicks, sales) in enumerate(zip(CLICKS, SALES, strict=True)):
        for n in range(clicks):
            click = click_at(alice_link, midnight - timedelta(days=days_ago) + timedelta(minutes=n), sub1=f"s{n % 3}")
            if n < sales:
                convert(acme, click, external_id=f"d{days_ago}-{n}", amount="1234.50")
    return today


def test_the_home_chart_has_axes_with_round_ticks_and_each_days_figures_on_hover(page, alice_fortnight, screenshots):
    log_in(page)

    panels = page.locator(".series-chart-axes .panel-name")
    expect(panels).to_have_text(["Clicks", "Conversions", "Earnings (USD)"])
    ticks = page.locator(".series-chart-axes .tick").all_text_contents()
    assert ticks[:5] == ["0", "10", "20", "30", "40"]  # clicks: the busiest day had 40
    assert ticks[5:10] == ["0", "1", "2", "3", "4"]  # conversions on their own scale
    assert ticks[10:] == ["0", "200", "400", "600"]  # 4 x 123.45 USD
    assert page.locator(".series-chart-days").inner_text().split() == [
        part
        for day in reversed(range(7))
        for part in f"{alice_fortnight - timedelta(days=day):%b} {(alice_fortnight - timedelta(days=day)).day}".split()
    ]

    # Point at the day with 40 clicks, low in the clicks panel (where its bar is), as a user would.
    day = (alice_fortnight - timedelta(days=5)).isoformat()
    hit = page.locator(f'g.day[data-day="{day}"] rect.hit')
    hit.scroll_into_view_if_needed()
    box = hit.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + 100
    page.mouse.move(x, y)
    shown = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).closest('g.day').querySelector('title').textContent", [x, y]
    )
    assert [line.strip() for line in shown.strip().splitlines()][1:] == [
        "Clicks: 40",
        "Conversions: 4",
        "Earnings: 493.80 USD",
    ]
    highlighted = page.evaluate("([x, y]) => getComputedStyle(document.elementFromPoint(x, y)).fill", [x, y])
    assert highlighted != "rgba(0, 0, 0, 0)"  # the day's column lights up under the pointer

    expect(page.locator('[data-change="clicks"]')).to_have_text("+86% vs previous 7 days (84)")
    expect(page.locator('[data-stat="earnings"]')).to_have_text("1,604.85 USD")
    screenshots(page, "home")

    page.get_by_label("Period:").select_option("last_30")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**preset=last_30**")
    labels = page.locator(".series-chart-days").inner_text().splitlines()
    assert len(labels) == 6 and labels[-1] == f"{alice_fortnight:%b} {alice_fortnight.day}"  # every 5th, to today
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling on a phone
    screenshots(page, "home-30-days")


def test_performance_compares_with_the_previous_period_and_exports_the_breakdown(
    page, alice_fortnight, tmp_path, screenshots
):
    log_in(page)
    page.get_by_role("link", name="Performance").click()

    expect(page.locator('[data-change="conversions"]')).to_have_text("+117% vs previous 7 days (6)")
    expect(page.locator('[data-change="earnings"]')).to_have_text("+117% vs previous 7 days (740.70 USD)")
    assert page.locator(".series-chart-plot[role=img]").count() == 1  # by day, the chart
    screenshots(page, "performance")

    page.get_by_label("Group by").select_option("sub1")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**group_by=sub1**")
    assert page.locator(".series-chart-plot").count() == 0
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    path = tmp_path / "performance.csv"
    download_info.value.save_as(path)
    rows = list(csv.DictReader(path.open()))

    assert download_info.value.suggested_filename.startswith("performance-by-sub1-")
    assert sum(int(row["clicks"]) for row in rows) == sum(CLICKS[:7])
    assert sum(int(row["conversions"]) for row in rows) == sum(SALES[:7])
    assert sum(Decimal(row["earnings_USD"]) for row in rows) == Decimal("1604.85")  # plain decimals, no separators


def test_earnings_shows_separated_amounts_and_exports_its_commissions(page, alice_fortnight, tmp_path, screenshots):
    log_in(page)
    page.get_by_role("link", name="Earnings").click()
    expect(page.locator("table").first).to_contain_text("2,345.55 USD")  # 19 commissions in validation
    screenshots(page, "earnings")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    path = tmp_path / "commissions.csv"
    download_info.value.save_as(path)
    rows = list(csv.DictReader(path.open()))

    assert len(rows) == sum(SALES) and {row["commission"] for row in rows} == {"123.45"}
