from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from conversions.models import Conversion
from conversions.processing.pipeline import conversion_process
from referrals.models import Click
from tests.factories import LinkFactory, OfferFactory, RewardRuleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def click(alice_link):
    return Click.objects.create(
        click_id="c" * 32,
        link=alice_link,
        offer=alice_link.offer,
        partner=alice_link.partner,
        created_at=timezone.now() - timedelta(hours=1),
    )


def purchase(**overrides):
    body = {"type": "purchase", "click_id": "c" * 32, "external_id": "order-1", "amount": "120.50", "product_id": "sku"}
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def test_purchase_by_click_id_is_stored_pending_and_answered_202(write_conversions, acme_api, click):
    response = acme_api.post("/v1/convert", purchase(), format="json")

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending" and body["external_id"] == "order-1"
    assert body["offer"] == "acme-shoes" and body["amount"] == "120.50" and body["currency"] == "USD"
    assert body["click_id"] == "c" * 32
    assert body["attribution"]["step"] == "click_id"
    write_conversions()
    write_conversions()
    conversion = Conversion.objects.get()
    assert conversion.partner == click.partner and conversion.quantity == 1
    assert conversion.amount == Decimal("120.50")


def test_subscription_by_referral_code_and_offer(write_conversions, acme_api, alice, offer):
    body = {
        "type": "subscription",
        "referral_code": "alice",
        "offer": "acme-shoes",
        "external_id": "inv-1",
        "amount": 0,
        "plan": "pro",
        "subscription_id": "sub_1",
    }

    response = acme_api.post("/v1/convert", body, format="json")

    assert response.status_code == 202
    write_conversions()
    write_conversions()
    conversion = Conversion.objects.get()
    assert conversion.partner == alice and conversion.plan == "pro" and conversion.amount == 0
    assert conversion.attribution["step"] == "referral_code"


def test_repeated_external_id_answers_200_with_the_first_conversion(write_conversions, acme_api, click):
    first = acme_api.post("/v1/convert", purchase(), format="json").json()

    again = acme_api.post("/v1/convert", purchase(amount="999"), format="json")

    assert again.status_code == 200
    assert again.json()["id"] == first["id"] and again.json()["amount"] == "120.50"
    write_conversions()
    write_conversions()
    assert Conversion.objects.count() == 1


def test_click_outside_the_cookie_window_is_stored_rejected(write_conversions, acme_api, click):
    Click.objects.filter(pk=click.pk).update(created_at=timezone.now() - timedelta(days=30, seconds=5))

    response = acme_api.post("/v1/convert", purchase(), format="json")

    assert response.status_code == 202
    assert response.json()["status"] == "rejected"
    assert response.json()["status_reason"] == "outside_attribution_window"
    write_conversions()
    write_conversions()
    assert Conversion.objects.get().status == "rejected"


def test_click_just_inside_the_window_is_pending(acme_api, click):
    Click.objects.filter(pk=click.pk).update(created_at=timezone.now() - timedelta(days=30) + timedelta(seconds=5))

    assert acme_api.post("/v1/convert", purchase(), format="json").json()["status"] == "pending"


def test_amount_is_quantized_to_the_currency(acme_api, click):
    response = acme_api.post("/v1/convert", purchase(amount="1000.5", currency="jpy"), format="json")

    assert response.json()["amount"] == "1001" and response.json()["currency"] == "JPY"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (purchase(amount=None), "amount"),
        (purchase(amount="-1"), "amount"),
        (purchase(amount="ten"), "amount"),
        (purchase(amount="NaN"), "amount"),
        (purchase(amount=True), "amount"),
        (purchase(type="refund"), "type"),
        (purchase(currency="XYZ"), "currency"),
        (purchase(product_id=None), "product_id"),
        (purchase(meta=["a", "list"]), "meta"),
        (purchase(meta={"blob": "x" * 11_000}), "meta"),
        (purchase(external_id=None), "external_id"),
        (purchase(quantity=0), "quantity"),
        (purchase(click_id="nope"), "click_id"),
        (purchase(click_id=None), "click_id"),
        (purchase(click_id=None, referral_code="ALICE"), "offer"),
        (purchase(click_id=None, referral_code="NOBODY", offer="acme-shoes"), "referral_code"),
        (purchase(occurred_at="yesterday"), "occurred_at"),
        (purchase(occurred_at=(timezone.now() + timedelta(days=1)).isoformat()), "occurred_at"),
    ],
)
def test_bad_input_answers_400_naming_the_field_and_stores_nothing(write_conversions, acme_api, click, body, field):
    response = acme_api.post("/v1/convert", body, format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid" and error["message"]
    assert field in error["fields"], error
    write_conversions()
    write_conversions()
    assert not Conversion.objects.exists()


def test_broken_json_answers_400(write_conversions, acme_api, click):
    response = acme_api.post("/v1/convert", '{"type": "purchase",', content_type="application/json")

    assert response.status_code == 400
    assert "body" in response.json()["error"]["fields"]
    write_conversions()
    assert not Conversion.objects.exists()


def test_wrong_content_type_answers_400(write_conversions, acme_api, click):
    response = acme_api.post("/v1/convert", "type=purchase", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 400
    assert "content_type" in response.json()["error"]["fields"]
    write_conversions()
    write_conversions()
    assert not Conversion.objects.exists()


def test_no_key_answers_401(write_conversions, api, click):
    response = api.post("/v1/convert", purchase(), format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    write_conversions()
    write_conversions()
    assert not Conversion.objects.exists()


def test_wrong_key_answers_401(api, click):
    api.credentials(HTTP_AUTHORIZATION="Bearer ak_not-a-key")

    assert api.post("/v1/convert", purchase(), format="json").status_code == 401


def test_revoked_key_answers_401(api, acme, click):
    from referrals.services import api_key_create, api_key_revoke

    key, raw = api_key_create(advertiser=acme)
    api_key_revoke(api_key=key)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert api.post("/v1/convert", purchase(), format="json").status_code == 401


def test_another_advertisers_click_answers_404(write_conversions, globex_key, api, click):
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {globex_key}")

    response = api.post("/v1/convert", purchase(), format="json")

    assert response.status_code == 404
    write_conversions()
    write_conversions()
    assert not Conversion.objects.exists()


def test_another_advertisers_offer_answers_404(write_conversions, acme_api, alice, globex):
    OfferFactory(advertiser=globex, public_id="globex-tv")
    body = purchase(click_id=None, referral_code="ALICE", offer="globex-tv")

    response = acme_api.post("/v1/convert", body, format="json")

    assert response.status_code == 404
    write_conversions()
    write_conversions()
    assert not Conversion.objects.exists()


def test_click_on_another_offer_than_named_answers_400(acme_api, acme, alice, click):
    other = OfferFactory(advertiser=acme, public_id="acme-hats")
    LinkFactory(partner=alice, offer=other)

    response = acme_api.post("/v1/convert", purchase(offer="acme-hats"), format="json")

    assert response.status_code == 400 and "offer" in response.json()["error"]["fields"]


def test_external_ids_are_per_advertiser(write_conversions, acme_api, api, globex_key, globex, alice, click):
    OfferFactory(advertiser=globex, public_id="globex-tv")
    acme_api.post("/v1/convert", purchase(), format="json")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {globex_key}")

    response = api.post("/v1/convert", purchase(click_id=None, referral_code="ALICE", offer="globex-tv"), format="json")

    assert response.status_code == 202
    write_conversions()
    write_conversions()
    assert Conversion.objects.count() == 2


def test_meta_with_a_nul_character_is_refused_not_a_server_error(write_conversions, acme_api, click):
    response = acme_api.post("/v1/convert", purchase(meta={"note": "a\u0000b"}), format="json")

    assert response.status_code == 400 and "meta" in response.json()["error"]["fields"]
    write_conversions()
    write_conversions()
    assert not Conversion.objects.exists()


def test_a_date_filter_with_an_extreme_offset_is_not_a_server_error(acme_api, click):
    response = acme_api.get("/v1/conversions", {"created_after": "0422-09-03T04:28:11-20:31"})

    assert response.status_code in (200, 400)


def test_the_written_out_representation_matches_drf_field_by_field(
    write_conversions, acme_api, click, make_click, alice
):
    from rest_framework import serializers

    from conversions.intake.serializers import ConversionSerializer, PartnerConversionSerializer

    make_click("d" * 32, age=timedelta(days=400))  # outside the cookie window: rejected at once
    acme_api.post("/v1/convert", purchase(meta={"customer_id": "c-1"}, category="shoes", quantity=2), format="json")
    acme_api.post("/v1/convert", purchase(external_id="order-2", click_id="d" * 32), format="json")
    acme_api.post(
        "/v1/convert",
        {"type": "subscription", "referral_code": "alice", "offer": "acme-shoes", "external_id": "i-1", "amount": 9},
        format="json",
    )
    RewardRuleFactory(offer=click.offer, reward_type="percentage", value=Decimal("10"))
    write_conversions()
    write_conversions()
    for pending in Conversion.objects.filter(status="pending"):
        conversion_process(conversion_id=pending.pk)  # a reward, its explanation, processed_at

    conversions = list(Conversion.objects.select_related("offer", "click"))
    assert {conversion.status for conversion in conversions} >= {"rejected"}
    assert any(conversion.processed_at and conversion.reward_explanation for conversion in conversions)
    for serializer_class in (ConversionSerializer, PartnerConversionSerializer):
        for conversion in conversions:
            serializer = serializer_class(conversion)
            assert serializer.data == serializers.ModelSerializer.to_representation(serializer, conversion)
