"""A partner in a real browser: log in, read and filter the report, export it, build a link, claim a sale."""

import csv
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conversions.models import MissingConversionClaim
from tests.dashboard.conftest import click_at, convert
from tests.factories import RewardRuleFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice_with_sales(acme, alice, alice_link):
    RewardRuleFactory(offer=alice_link.offer, reward_type="percentage", value=Decimal("10"))
    now = timezone.now()
    convert(acme, click_at(alice_link, now - timedelta(hours=3), sub1="mail"), external_id="web-1", amount="120.00")
    convert(acme, click_at(alice_link, now - timedelta(hours=2), sub1="blog"), external_id="web-2", amount="40.00")
    return alice


PASSWORD = "password"  # tests/factories.py UserFactory


def log_in(page, username="alice", password=PASSWORD):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard/")


def test_log_in_and_see_the_home_numbers(page, alice_with_sales):
    log_in(page)

    icon = page.locator('link[rel="icon"]').get_attribute("href")
    assert page.request.get(icon).status == 200  # the tab shows our icon

    assert page.get_by_role("heading", name="Home").is_visible()
    assert page.locator('[data-stat="conversions"]').inner_text() == "2"
    assert page.locator("svg[role=img]").count() == 1


def test_read_filter_and_export_the_conversion_report(page, alice_with_sales, tmp_path):
    log_in(page)
    page.get_by_role("link", name="Conversions").click()
    table = page.locator("table.report tbody")
    assert table.get_by_text("web-1").is_visible() and table.get_by_text("web-2").is_visible()

    page.get_by_label("Sub ID 1").fill("blog")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**sub1=blog**")
    assert table.get_by_text("web-2").is_visible() and table.get_by_text("web-1").count() == 0
    assert "4.00 USD" in page.locator("tfoot").inner_text()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    path = tmp_path / "export.csv"
    download_info.value.save_as(path)
    rows = list(csv.DictReader(path.open()))
    assert [(row["external_id"], row["sub1"], row["reward"]) for row in rows] == [("web-2", "blog", "4.00")]


def test_build_a_link_and_copy_it(page, alice_with_sales, alice_link):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page)
    page.get_by_role("link", name="Links").first.click()
    page.get_by_role("link", name="Build a link with sub IDs").click()

    page.get_by_label("Sub ID 1").fill("summer")
    page.get_by_label("Sub ID 2").fill("banner top")
    page.get_by_role("button", name="Build").click()

    built = page.locator("#built-url").inner_text()
    assert built.endswith("/c/alice-shoes?sub1=summer&sub2=banner+top")
    page.get_by_role("button", name="Copy to clipboard").click()
    expect(page.locator("[data-copy-status]")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == built


def test_submit_a_missing_conversion_claim(page, alice_with_sales, alice_link):
    log_in(page)
    page.get_by_role("link", name="Claims").click()

    page.get_by_label("Offer").select_option(label=str(alice_link.offer))
    page.get_by_label("Order id").fill("lost-77")
    page.get_by_label("Purchase date").fill(timezone.now().date().isoformat())
    page.get_by_label("Amount").fill("59.90")
    page.get_by_label("Sub ID 1").fill("mail")
    page.get_by_role("button", name="Submit claim").click()

    assert page.get_by_role("heading", name="Claim for order lost-77").is_visible()
    assert page.locator('[data-stat="status"]').inner_text() == "Submitted"
    claim = MissingConversionClaim.objects.get(order_id="lost-77")
    assert claim.evidence["clicks_found"] == 2
