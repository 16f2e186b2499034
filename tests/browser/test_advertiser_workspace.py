"""In a real browser: an advertiser logs in, chooses a period on its home, and reads its conversions, the commission
it owes, its top partner by name and the daily chart, in its own time zone."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.dashboard.conftest import click_at, convert
from tests.factories import LinkFactory, OfferFactory, RewardRuleFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def acme_sales(acme, offer, alice, bob, globex):
    """Acme in New York: Alice Archer sells twice, Bob once, in March 2026; Globex's sale must never show."""
    acme.time_zone = "America/New_York"
    acme.save()
    acme.members.add(UserFactory(username="acme-finance", password="correct horse battery"))
    alice.user.first_name, alice.user.last_name = "Alice", "Archer"
    alice.user.save()
    offer.name = "Acme Shoes"
    offer.save()
    tools = OfferFactory(advertiser=globex, public_id="globex-tools", name="Globex Tools")
    for each in (offer, tools):
        RewardRuleFactory(offer=each, reward_type="percentage", value=Decimal("10"))
    alice_link = LinkFactory(partner=alice, offer=offer, code="alice-shoes")
    bob_link = LinkFactory(partner=bob, offer=offer, code="bob-shoes")
    march = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
    convert(acme, click_at(alice_link, march), external_id="a-1", amount="1200.00")
    convert(acme, click_at(alice_link, march + timedelta(days=3)), external_id="a-2", amount="34.50")
    convert(acme, click_at(bob_link, march + timedelta(days=1)), external_id="b-1", amount="80.00")
    convert(globex, click_at(LinkFactory(partner=bob, offer=tools), march), external_id="g-1", amount="9999.00")


def test_an_advertiser_reads_its_workspace_for_a_chosen_period(page, live_server, acme_sales, screenshots):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("acme-finance")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/advertiser/")
    assert "times in America/New_York" in page.locator("#time-zone").inner_text()

    period = page.get_by_role("form", name="Period")
    period.get_by_label("Period").select_option("custom")
    period.get_by_label("From").fill("2026-03-01")
    period.get_by_label("To").fill("2026-03-31")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url(re.compile(r"start=2026-03-01"))

    assert page.locator("#period-shown").inner_text().startswith("2026-03-01 to 2026-03-31, days in America/New_York")
    assert page.locator('[data-stat="conversions"]').inner_text() == "3"
    assert page.locator('[data-stat="amount"]').inner_text() == "1,314.50 USD"
    assert page.locator('[data-stat="owed"]').inner_text() == "131.45 USD"
    top = page.locator("#top-partners tbody tr").first
    assert top.locator("th").inner_text() == "Alice Archer" and "123.45 USD" in top.inner_text()
    assert "Globex Tools" not in page.content() and "9,999.00" not in page.content()
    # The chart: bars over an axis per panel, and each day's figures on hover, commission among them.
    chart = page.locator("figure.series-chart")
    assert chart.locator("svg.series-chart-plot").is_visible() and chart.locator(".axis").count() == 3
    assert chart.locator("rect.bar").count() > 0 and "Mar" in chart.locator(".series-chart-days").inner_text()
    day = chart.locator('g.day[data-day="2026-03-10"] title').text_content()
    assert day.startswith("Tue 10 Mar 2026") and "Commission: " in day
    screenshots(page, "advertiser-home")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: wide tables scroll inside, the page does not
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.locator('[data-stat="owed"]').is_visible()
    page.set_viewport_size({"width": 1366, "height": 900})

    page.get_by_role("link", name=re.compile("Settings")).click()
    page.get_by_label("Time zone").select_option("Asia/Tokyo")
    page.get_by_role("button", name="Save").click()
    assert "times in Asia/Tokyo" in page.locator("#time-zone").inner_text()
    screenshots(page, "advertiser-settings")
