"""The advertiser's request log and the missing-conversion claims on their offers; and the outsider."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from conversions.claims.services import claim_submit
from conversions.intake.request_log import request_log_record
from conversions.models import Conversion, MissingConversionClaim
from tests.factories import OfferFactory

pytestmark = pytest.mark.django_db


def logged(advertiser, *, reason="invalid", channel="api", minutes_ago=0, payload=None, message="Refused."):
    return request_log_record(
        advertiser=advertiser,
        channel=channel,
        method="POST",
        path="/v1/convert",
        reason=reason,
        message=message,
        http_status=400 if reason != "duplicate" else 200,
        payload=payload if payload is not None else {"external_id": "o-1"},
        ip="203.0.113.5",
        now=timezone.now() - timedelta(minutes=minutes_ago),
    )


# Request log ------------------------------------------------------------------------------------


def test_the_request_log_shows_the_advertisers_entries_newest_first_with_secrets_redacted(acme_client, acme):
    logged(acme, message="older entry", minutes_ago=10)
    logged(acme, message="newer entry", payload={"token": "s3cret-value", "external_id": "o-2"})

    html = acme_client.get("/advertiser/request-log/").content.decode()

    assert html.index("newer entry") < html.index("older entry")
    assert "s3cret-value" not in html and "[redacted]" in html
    assert "2 requests" in html and "/v1/convert" in html


def test_the_payload_is_shown_escaped(acme_client, acme):
    logged(acme, payload={"external_id": "<script>alert(1)</script>"})

    html = acme_client.get("/advertiser/request-log/").content.decode()

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_request_log_filters_by_reason_and_channel(acme_client, acme):
    logged(acme, reason="invalid", channel="api", message="api invalid")
    logged(acme, reason="duplicate", channel="api", message="api duplicate")
    logged(acme, reason="bad_auth", channel="postback", message="postback bad auth")

    by_reason = acme_client.get("/advertiser/request-log/?reason=duplicate").content.decode()
    by_channel = acme_client.get("/advertiser/request-log/?channel=postback").content.decode()
    both = acme_client.get("/advertiser/request-log/?reason=invalid&channel=postback").content.decode()

    assert "api duplicate" in by_reason and "api invalid" not in by_reason and "postback bad auth" not in by_reason
    assert "postback bad auth" in by_channel and "api duplicate" not in by_channel
    assert "0 requests" in both and "No refused or duplicate requests match." in both


def test_the_request_log_is_paginated(acme_client, acme):
    for minute in range(55):
        logged(acme, message=f"entry {minute:02d}.", minutes_ago=minute)

    first = acme_client.get("/advertiser/request-log/?reason=invalid").content.decode()
    second = acme_client.get("/advertiser/request-log/?reason=invalid&page=2").content.decode()

    assert "entry 00." in first and "entry 54." not in first and "Page 1 of 2" in first
    assert "entry 54." in second and "entry 00." not in second
    assert "reason=invalid&amp;page=2" in first


def test_another_advertiser_sees_none_of_acmes_request_log(client, globex_user, acme, globex):
    logged(acme, message="acme refused call")
    logged(None, message="unknown key call")
    logged(globex, message="globex own call")
    client.force_login(globex_user)

    html = client.get("/advertiser/request-log/").content.decode()

    assert "globex own call" in html
    assert "acme refused call" not in html and "unknown key call" not in html


def test_the_home_page_links_the_request_log_and_claims(acme_client):
    html = acme_client.get("/advertiser/").content.decode()

    assert "not available" not in html
    assert 'href="/advertiser/request-log/"' in html and 'href="/advertiser/claims/"' in html


# Claims -----------------------------------------------------------------------------------------


@pytest.fixture
def claim(alice, alice_link):
    return claim_submit(
        partner=alice,
        offer=alice_link.offer,
        order_id="lost-1",
        purchase_date=timezone.now().date() - timedelta(days=1),
        amount=Decimal("60.00"),
        remarks="Bought with the spring coupon",
    )


def test_the_claims_page_lists_open_claims_on_the_advertisers_offers_with_evidence(acme_client, claim):
    html = acme_client.get("/advertiser/claims/").content.decode()

    assert "lost-1" in html and "ALICE" in html and "60.00 USD" in html
    assert "0 clicks by this partner around the day" in html and "No conversion with this order id." in html
    assert "Bought with the spring coupon" in html


def test_accepting_a_claim_creates_exactly_one_conversion_even_when_posted_twice(acme_client, acme_user, claim):
    first = acme_client.post(f"/advertiser/claims/{claim.pk}/", {"decision": "accept"}, follow=True)
    second = acme_client.post(f"/advertiser/claims/{claim.pk}/", {"decision": "accept"}, follow=True)

    claim.refresh_from_db()
    assert "accepted; the conversion was added" in first.content.decode()
    assert "already approved" in second.content.decode()
    assert claim.status == "approved" and claim.reviewed_by == acme_user
    conversions = Conversion.objects.filter(external_id="lost-1")
    assert conversions.count() == 1 and claim.conversion == conversions.get()
    assert conversions.get().partner.referral_code == "ALICE" and conversions.get().amount == Decimal("60.00")


def test_declining_a_claim_needs_a_reason_the_partner_then_sees(acme_client, acme_user, claim):
    refused = acme_client.post(f"/advertiser/claims/{claim.pk}/", {"decision": "decline", "reason": " "}, follow=True)
    claim.refresh_from_db()
    assert claim.status == "submitted"
    assert "Say why you decline the claim" in refused.content.decode()

    acme_client.post(f"/advertiser/claims/{claim.pk}/", {"decision": "decline", "reason": "No such order"})

    claim.refresh_from_db()
    assert claim.status == "declined" and claim.decision_reason == "No such order"
    assert claim.reviewed_by == acme_user and not Conversion.objects.filter(external_id="lost-1").exists()


def test_a_decided_claim_cannot_be_decided_again(acme_client, claim):
    acme_client.post(f"/advertiser/claims/{claim.pk}/", {"decision": "decline", "reason": "No such order"})

    response = acme_client.post(f"/advertiser/claims/{claim.pk}/", {"decision": "accept"}, follow=True)

    claim.refresh_from_db()
    assert claim.status == "declined" and "already declined" in response.content.decode()
    assert not Conversion.objects.filter(external_id="lost-1").exists()
    assert "lost-1" not in acme_client.get("/advertiser/claims/").content.decode()
    assert "lost-1" in acme_client.get("/advertiser/claims/?status=declined").content.decode()


def test_another_advertiser_cannot_see_or_decide_acmes_claims(client, globex_user, globex, bob, claim):
    globex_offer = OfferFactory(advertiser=globex, public_id="globex-tv")
    from tests.factories import LinkFactory

    LinkFactory(partner=bob, offer=globex_offer, code="bob-tv")
    claim_submit(
        partner=bob,
        offer=globex_offer,
        order_id="globex-order",
        purchase_date=timezone.now().date(),
        amount=Decimal("10"),
    )
    client.force_login(globex_user)

    html = client.get("/advertiser/claims/").content.decode()
    accept = client.post(f"/advertiser/claims/{claim.pk}/", {"decision": "accept"})
    decline = client.post(f"/advertiser/claims/{claim.pk}/", {"decision": "decline", "reason": "no"})

    assert "globex-order" in html and "lost-1" not in html
    assert accept.status_code == 404 and decline.status_code == 404
    assert MissingConversionClaim.objects.get(pk=claim.pk).status == "submitted"
