"""Missing-conversion claims: the form, automatic matching, and approval through the normal pipeline."""

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.sites import site
from django.utils import timezone

from conversions.claims.services import ClaimInvalid, claim_approve, claim_decline, claim_review_start, claim_submit
from conversions.models import Conversion, MissingConversionClaim
from referrals.partner_access import partner_tz
from rewards.models import Reward
from tests.dashboard.conftest import click_at, convert
from tests.factories import LinkFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def today():
    return timezone.now().date()


def submit(partner, offer, *, order_id="lost-1", days_ago=0, amount="60.00", sub1=""):
    return claim_submit(
        partner=partner,
        offer=offer,
        order_id=order_id,
        purchase_date=timezone.now().date() - timedelta(days=days_ago),
        amount=Decimal(amount),
        sub1=sub1,
    )


def test_the_form_files_a_claim_with_the_matching_clicks_as_evidence(alice_client, alice, alice_link, today):
    # The window starts the day before the purchase, in the partner's time zone: noon then counts at any hour.
    near = click_at(alice_link, datetime.combine(today - timedelta(days=1), time(12), partner_tz(alice)), sub1="mail")
    click_at(alice_link, timezone.now() - timedelta(days=5))  # too early to count

    response = alice_client.post(
        "/dashboard/claims/",
        {"offer": alice_link.offer.pk, "order_id": "lost-9", "purchase_date": today.isoformat(), "amount": "59.90"},
    )

    claim = MissingConversionClaim.objects.get(partner=alice)
    assert response["Location"] == f"/dashboard/claims/{claim.pk}/"
    assert claim.status == "submitted" and claim.amount == Decimal("59.90") and claim.currency == "USD"
    assert claim.evidence["clicks_found"] == 1 and claim.evidence["clicks"][0]["click_id"] == near.click_id


def test_evidence_includes_a_conversion_the_advertiser_already_reported_with_the_order_id(
    acme, alice, bob, alice_link, bob_link, rule
):
    existing = convert(acme, click_at(bob_link, timezone.now() - timedelta(hours=2)), external_id="lost-1")

    claim = submit(alice, alice_link.offer)

    assert [c["conversion_id"] for c in claim.evidence["conversions"]] == [str(existing.pk)]
    assert claim.evidence["conversions"][0]["partner_id"] == bob.pk
    with pytest.raises(ClaimInvalid, match="already credited to another partner"):
        claim_approve(claim_id=claim.pk)


@pytest.mark.parametrize(("days_ago", "accepted"), [(90, True), (91, False), (-1, False)])
def test_claims_are_accepted_up_to_90_days_after_the_purchase(alice_client, alice_link, today, days_ago, accepted):
    day = today - timedelta(days=days_ago)
    response = alice_client.post(
        "/dashboard/claims/",
        {"offer": alice_link.offer.pk, "order_id": f"o-{days_ago}", "purchase_date": day.isoformat(), "amount": "5"},
    )
    assert (response.status_code == 302) is accepted
    assert MissingConversionClaim.objects.exists() is accepted


def test_an_order_is_claimed_once_and_only_on_a_joined_offer(alice_client, alice, alice_link, other_offer, today):
    submit(alice, alice_link.offer)
    response = alice_client.post(
        "/dashboard/claims/",
        {"offer": alice_link.offer.pk, "order_id": "lost-1", "purchase_date": today.isoformat(), "amount": "5"},
    )
    assert "Already claimed for this offer." in response.content.decode()
    with pytest.raises(ClaimInvalid, match="no link"):
        submit(alice, other_offer)


def test_approval_records_the_conversion_through_the_pipeline_on_the_matched_click(
    acme, alice, alice_link, rule, admin_user, django_capture_on_commit_callbacks, run_worker
):
    click = click_at(alice_link, timezone.now() - timedelta(hours=1), sub1="mail")
    claim = submit(alice, alice_link.offer, amount="60.00", sub1="mail")
    claim_review_start(claim_id=claim.pk, actor=admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        approved = claim_approve(claim_id=claim.pk, actor=admin_user)
    run_worker()

    conversion = Conversion.objects.get(external_id="lost-1")
    assert approved.status == "approved" and approved.conversion == conversion
    assert conversion.channel == "admin" and conversion.click == click and conversion.partner == alice
    assert conversion.status == "accepted"  # processed by the worker, as any conversion
    assert Reward.objects.get(conversion_id=conversion.pk).amount == Decimal("6.00")
    assert claim_approve(claim_id=claim.pk) == approved  # twice: one conversion
    assert Conversion.objects.filter(external_id="lost-1").count() == 1


def test_approval_without_a_click_credits_the_partner_by_referral_code(acme, alice, alice_link, rule):
    claim = submit(alice, alice_link.offer, days_ago=40)

    claim_approve(claim_id=claim.pk)

    conversion = Conversion.objects.get(external_id="lost-1")
    assert conversion.partner == alice and conversion.click is None
    assert conversion.attribution["step"] == "referral_code"


def test_decline_needs_a_reason_the_partner_then_reads(alice_client, alice, alice_link):
    claim = submit(alice, alice_link.offer)
    with pytest.raises(ClaimInvalid):
        claim_decline(claim_id=claim.pk, reason=" ")

    claim_decline(claim_id=claim.pk, reason="No sale with this order id")

    page = alice_client.get(f"/dashboard/claims/{claim.pk}/").content.decode()
    assert "Declined: No sale with this order id" in page
    with pytest.raises(ClaimInvalid):
        claim_approve(claim_id=claim.pk)


def test_staff_see_the_evidence_and_approve_in_the_admin(admin_client, acme, alice, alice_link, rule):
    click = click_at(alice_link, timezone.now() - timedelta(hours=1))
    claim = submit(alice, alice_link.offer)

    change = admin_client.get(f"/admin/conversions/missingconversionclaim/{claim.pk}/change/").content.decode()
    assert click.click_id in change

    response = admin_client.post(
        "/admin/conversions/missingconversionclaim/",
        {"action": "approve", "_selected_action": [claim.pk]},
        follow=True,
    )
    assert "1 claim(s) approved." in response.content.decode()
    claim.refresh_from_db()
    assert claim.status == "approved" and claim.conversion.channel == "admin"
    assert MissingConversionClaim in site._registry


def test_a_partner_with_another_link_sees_only_joined_offers_in_the_form(alice_client, alice, other_offer):
    LinkFactory(partner=alice, offer=other_offer, code="alice-hats")
    options = alice_client.get("/dashboard/claims/").context["form"].fields["offer"].queryset
    assert list(options) == [other_offer]
