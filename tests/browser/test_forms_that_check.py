"""Forms that check what staff and partners type, in a real browser: the admin's rule form (offer and partner
found by search, conditions as rows) and a partner's postback URL refused on save when no delivery could reach it."""

import pytest

from rewards.models import RewardRule
from tests.browser.test_dashboard_browser import PASSWORD, log_in
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def staff_open_the_new_rule_form(page) -> None:
    UserFactory(username="staff", is_staff=True, is_superuser=True)
    page.goto("/admin/login/")
    page.get_by_label("Username").fill("staff")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto("/admin/rewards/rewardrule/add/")


def test_staff_add_a_rule_finding_the_offer_by_search_and_typing_conditions_in_rows(page, offer, alice, screenshots):
    staff_open_the_new_rule_form(page)

    page.locator(".field-offer .select2-selection").click()  # the admin's autocomplete: type to search
    page.locator(".select2-search__field").fill(offer.name[:4])
    page.locator(".select2-results__option", has_text=offer.name).click()
    page.locator(".field-partner .select2-selection").click()
    page.locator(".select2-search__field").fill(alice.referral_code)
    page.locator(".select2-results__option", has_text=alice.referral_code).click()
    page.get_by_label("Name").fill("Shoes and boots")
    page.get_by_label("Condition 1: field").fill("category")
    page.get_by_label("Condition 1: operator").select_option(label="is one of")
    page.get_by_label("Condition 1: value").fill("shoes, boots")
    page.get_by_label("Condition 2: field").fill("quantity")
    page.get_by_label("Condition 2: operator").select_option(label="is at least")
    page.get_by_label("Condition 2: value").fill("2")
    page.get_by_label("Reward type").select_option("fixed")
    page.locator("#id_value").fill("3.00")
    screenshots(page, "admin-rule-form")
    page.get_by_role("button", name="Save", exact=True).click()

    assert "was added successfully" in page.locator(".messagelist").inner_text()
    rule = RewardRule.objects.get(name="Shoes and boots")
    assert rule.offer == offer and rule.partner == alice
    assert rule.conditions == [
        {"field": "category", "operator": "in", "value": ["shoes", "boots"]},
        {"field": "quantity", "operator": "gte", "value": "2"},
    ]


def test_a_condition_the_engine_cannot_read_is_refused_and_the_rows_are_kept(page, offer):
    staff_open_the_new_rule_form(page)
    page.locator(".field-offer .select2-selection").click()
    page.locator(".select2-search__field").fill(offer.name[:4])
    page.locator(".select2-results__option", has_text=offer.name).click()
    page.get_by_label("Name").fill("Colourful")
    page.get_by_label("Condition 1: field").fill("colour")
    page.get_by_label("Reward type").select_option("fixed")
    page.locator("#id_value").fill("3.00")
    page.get_by_role("button", name="Save", exact=True).click()

    assert "unknown field 'colour'" in page.locator(".errorlist").first.inner_text()
    assert page.get_by_label("Condition 1: field").input_value() == "colour"
    assert not RewardRule.objects.filter(name="Colourful").exists()


def test_a_partner_postback_to_a_private_address_is_refused_on_save(page, alice, screenshots):
    log_in(page)
    page.goto("/dashboard/postbacks/")
    page.get_by_label("URL").fill("http://127.0.0.1:9/hook?click={click_id}")
    page.get_by_role("button", name="Add postback").click()

    assert "refused" in page.locator(".errorlist, .error").first.inner_text()  # a delivery could never reach it
    screenshots(page, "postbacks-refused")
    assert not alice.postbacks.exists()
