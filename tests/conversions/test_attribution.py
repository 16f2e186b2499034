from datetime import timedelta

import pytest
from django.utils import timezone

from conversions.models import Conversion
from referrals.models import Coupon

pytestmark = pytest.mark.django_db


def convert(api, **fields):
    body = {"type": "purchase", "external_id": "a-1", "amount": "10", "product_id": "p", **fields}
    return api.post("/v1/convert", body, format="json")


def test_explicit_click_id_explains_step_click_time_window_and_age(acme_api, make_click):
    click = make_click(age=timedelta(days=2))

    attribution = convert(acme_api, click_id=click.click_id).json()["attribution"]

    assert attribution["step"] == "click_id" and attribution["click_id"] == click.click_id
    assert attribution["window_days"] == 30 and attribution["within_window"] is True
    assert 2 * 86400 - 5 <= attribution["age_seconds"] <= 2 * 86400 + 5
    assert attribution["click_at"] == click.created_at.isoformat()


def test_one_second_inside_the_window_is_attributed_and_one_outside_is_rejected(acme_api, make_click):
    now = timezone.now().replace(microsecond=0)
    inside = make_click("i" * 32, age=timedelta(0))
    outside = make_click("o" * 32, age=timedelta(0))
    type(inside).objects.filter(pk=inside.pk).update(created_at=now - timedelta(days=30) + timedelta(seconds=1))
    type(outside).objects.filter(pk=outside.pk).update(created_at=now - timedelta(days=30) - timedelta(seconds=1))

    first = convert(acme_api, click_id="i" * 32, external_id="in", occurred_at=now.isoformat()).json()
    second = convert(acme_api, click_id="o" * 32, external_id="out", occurred_at=now.isoformat()).json()

    assert first["status"] == "pending"
    assert second["status"] == "rejected" and second["status_reason"] == "outside_attribution_window"


def test_a_conversion_before_its_click_is_outside_the_window(acme_api, make_click):
    click = make_click(age=timedelta(minutes=1))

    body = convert(acme_api, click_id=click.click_id, occurred_at=(timezone.now() - timedelta(hours=1)).isoformat())

    assert body.json()["status_reason"] == "outside_attribution_window"


def test_referral_code_attributes_to_its_partner(acme_api, alice, offer):
    body = convert(acme_api, referral_code="alice", offer="acme-shoes").json()

    assert body["attribution"] == {"step": "referral_code", "referral_code": "ALICE", "partner_id": alice.pk}


def test_coupon_attributes_to_its_partner(write_conversions, acme_api, alice, offer):
    Coupon.objects.create(code="ALICE10", partner=alice, offer=offer)

    body = convert(acme_api, coupon="alice10").json()

    write_conversions()
    assert body["attribution"]["step"] == "coupon" and Conversion.objects.get().partner == alice
    assert body["offer"] == "acme-shoes"


def test_click_id_beats_a_referral_code(write_conversions, acme_api, bob, make_click):
    click = make_click()

    convert(acme_api, click_id=click.click_id, referral_code="BOB", offer="acme-shoes")

    write_conversions()
    assert Conversion.objects.get().partner == click.partner


def test_an_offer_with_nothing_to_attribute_by_is_stored_unattributed(write_conversions, acme_api, offer):
    body = convert(acme_api, offer="acme-shoes").json()

    assert body["status"] == "rejected" and body["status_reason"] == "unattributed"
    write_conversions()
    assert Conversion.objects.get().partner is None


def test_another_advertisers_coupon_is_unknown(acme_api, alice, globex):
    from tests.factories import OfferFactory

    Coupon.objects.create(code="GLOBEX5", partner=alice, offer=OfferFactory(advertiser=globex))

    response = convert(acme_api, coupon="GLOBEX5")

    assert response.status_code == 400 and "coupon" in response.json()["error"]["fields"]


def test_the_visitor_ip_and_user_agent_in_the_report_are_the_conversions_metadata(
    write_conversions, acme_api, make_click
):
    click = make_click()

    convert(
        acme_api, click_id=click.click_id, ip="8.8.8.8", user_agent="Googlebot/2.1 (+http://www.google.com/bot.html)"
    )

    write_conversions()
    conversion = Conversion.objects.get()
    assert (conversion.ip, conversion.country, conversion.is_bot, conversion.device) == ("8.8.8.8", "US", True, "bot")
