"""In a real browser: an advertiser validates conversions; the publisher sees the commission approved."""

import re

import pytest

from conversions.advertiser import validation_views
from conversions.models import Conversion
from rewards.models import Reward
from tests.conversions.test_advertiser_validation import accepted, held
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def log_in(page, username: str, landing: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(landing))


@pytest.fixture
def acme_finance(acme, manual_offer, alice):
    """Acme's user (password "password"), its manual offer rewarding 4%, and alice, a publisher with a name."""
    user = UserFactory(username="acme-finance")
    acme.members.add(user)
    alice.user.first_name, alice.user.last_name = "Alice", "Archer"
    alice.user.save()
    return user


def test_approving_early_approves_and_the_publishers_earnings_move(
    page, browser, live_server, acme, acme_finance, screenshots
):
    first, second = accepted(acme, "order-1", "100.00"), accepted(acme, "order-2", "50.00")
    held(acme, "order-held")
    log_in(page, "acme-finance", "/advertiser/")
    page.goto("/advertiser/validation/")
    screenshots(page, "validation")

    page.get_by_label("Select order-1").check()
    page.get_by_label("Select order-2").check()
    page.get_by_label("Decision").select_option("approve")
    page.get_by_role("button", name="Apply").click()

    assert page.get_by_role("status").get_by_text("2 conversion(s) approved; 0 already were.").is_visible()
    row = page.locator('tr[data-external-id="order-1"]')
    assert "4.00 USD approved" in row.inner_text()
    screenshots(page, "validation-approved")
    assert {Reward.objects.get(conversion_id=c.pk).status for c in (first, second)} == {"approved"}

    publisher = browser.new_context(base_url=live_server.url).new_page()
    log_in(publisher, "alice", "/dashboard/")
    publisher.goto("/dashboard/earnings/")
    balances = publisher.get_by_role("table").first
    assert balances.get_by_role("row", name=re.compile("Approved")).inner_text().split("\t")[-1] == "6.00 USD"
    assert balances.get_by_role("row", name=re.compile("Pending")).inner_text().split("\t")[-1] == "0.00 USD"
    publisher.context.close()


def test_select_all_approves_the_whole_filtered_set_across_pages(page, acme, acme_finance, monkeypatch, screenshots):
    monkeypatch.setattr(validation_views, "PER_PAGE", 2)
    for n in range(5):
        accepted(acme, f"order-{n}")
    cheap = accepted(acme, "small-1", "5.00")
    log_in(page, "acme-finance", "/advertiser/")
    page.goto("/advertiser/validation/?q=order")
    assert page.get_by_role("navigation", name="Pages").get_by_role("link", name="Page 3").is_visible()

    page.get_by_label(re.compile("Select all 5 matching conversions")).check()
    page.get_by_role("button", name="Apply").click()
    page.get_by_text("Approve all 5 conversions matching these filters, on all 3 pages?").wait_for()
    screenshots(page, "validation-select-all-confirm")
    page.get_by_role("button", name="Approve all 5").click()

    assert page.get_by_role("status").get_by_text("5 conversion(s) approved; 0 already were.").is_visible()
    assert page.get_by_label("External id").input_value() == "order"  # the filters are kept
    statuses = dict(Reward.objects.values_list("conversion__external_id", "status"))
    assert statuses == {**{f"order-{n}": "approved" for n in range(5)}, "small-1": "pending"}
    assert Reward.objects.get(conversion_id=cheap.pk).status == "pending"


def test_a_failed_submit_keeps_the_selection_and_the_decision(page, acme, acme_finance):
    accepted(acme, "order-1")
    accepted(acme, "order-2")
    accepted(acme, "order-3")
    log_in(page, "acme-finance", "/advertiser/")
    page.goto("/advertiser/validation/")

    page.get_by_label("Select order-1").check()
    page.get_by_label("Select order-3").check()
    page.get_by_label("Decision").select_option("reject")
    page.get_by_role("button", name="Apply").click()

    assert page.get_by_role("alert").get_by_text("Say why you reject: the publisher is told.").is_visible()
    assert page.get_by_label("Select order-1").is_checked() and page.get_by_label("Select order-3").is_checked()
    assert not page.get_by_label("Select order-2").is_checked()
    assert page.get_by_label("Decision").input_value() == "reject"

    page.get_by_label(re.compile("^Reason")).fill("Returned")
    page.get_by_role("button", name="Apply").click()

    assert page.get_by_role("status").get_by_text("2 conversion(s) rejected; 0 already were.").is_visible()
    assert set(Conversion.objects.filter(status="rejected").values_list("external_id", flat=True)) == {
        "order-1",
        "order-3",
    }


def test_held_conversions_are_labelled_and_not_selectable(page, acme, acme_finance):
    accepted(acme, "order-1")
    held(acme, "order-held")
    log_in(page, "acme-finance", "/advertiser/")
    page.goto("/advertiser/validation/")

    row = page.locator('tr[data-external-id="order-held"]')
    assert "Held by the network" in row.inner_text()
    assert row.locator("input[type=checkbox]").count() == 0
    assert page.get_by_label("Select order-1").count() == 1
    assert page.get_by_label(re.compile("Select all 1 matching conversion,")).count() == 1
