"""Each way in, end to end: a click, the report, a real RQ worker, the reward in the ledger."""

import json
import time
from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.db.models import F

from conversions.intake.signatures import signature_header
from conversions.models import Conversion
from referrals.models import Click
from referrals.services import postback_token_rotate, signing_secret_rotate
from rewards.models import Entry, Reward
from tests.factories import RewardRuleFactory

pytestmark = pytest.mark.django_db(transaction=True)


def via_api(client, acme_api, acme, click_id):
    body = {"type": "purchase", "click_id": click_id, "external_id": "e2e", "amount": "80.00", "product_id": "p"}
    return acme_api.post("/v1/convert", body, format="json")


def via_postback_get(client, acme_api, acme, click_id):
    params = {
        "token": postback_token_rotate(advertiser=acme),
        "type": "purchase",
        "click_id": click_id,
        "external_id": "e2e",
        "amount": "80.00",
        "product_id": "p",
    }
    return client.get(f"/v1/postback?{urlencode(params)}")


def via_postback_post(client, acme_api, acme, click_id):
    token = postback_token_rotate(advertiser=acme)
    body = {"type": "purchase", "click_id": click_id, "external_id": "e2e", "amount": "80.00", "product_id": "p"}
    return client.post(f"/v1/postback?token={token}", body)


def via_signed_postback(client, acme_api, acme, click_id):
    token, secret = postback_token_rotate(advertiser=acme), signing_secret_rotate(advertiser=acme)
    raw = json.dumps(
        {"type": "purchase", "click_id": click_id, "external_id": "e2e", "amount": "80.00", "product_id": "p"}
    ).encode()
    header = signature_header(secret=secret, timestamp=int(time.time()), body=raw)
    return client.post(
        f"/v1/postback?token={token}", raw, content_type="application/json", HTTP_AFFITRACK_SIGNATURE=header
    )


def via_pixel(client, acme_api, acme, click_id):
    # No click id in the request: the browser's click cookie attributes it.
    return client.get(
        "/v1/pixel.gif", {"offer": "acme-shoes", "external_id": "e2e", "amount": "80.00", "product_id": "p"}
    )


@pytest.mark.parametrize("send", [via_api, via_postback_get, via_postback_post, via_signed_postback, via_pixel])
def test_each_channel_ends_in_a_reward_through_a_real_worker(
    write_conversions, client, acme_api, acme, alice_link, queue, run_worker, send
):
    RewardRuleFactory(offer=alice_link.offer, reward_type="percentage", value=Decimal("10"))
    click_id = client.get("/c/alice-shoes").cookies["atc_acme-shoes"].value
    # The buyer shops a few minutes: a purchase seconds after the click is held by fraud screening.
    Click.objects.filter(click_id=click_id).update(created_at=F("created_at") - timedelta(minutes=5))

    response = send(client, acme_api, acme, click_id)
    assert response.status_code in (200, 202)
    write_conversions()
    assert Conversion.objects.get().status == "pending" and queue.count == 1

    run_worker()

    conversion = Conversion.objects.get()
    assert conversion.status == "accepted" and conversion.click.click_id == click_id
    assert Reward.objects.get(conversion_id=conversion.pk).amount == Decimal("8.00")
    assert sum(Entry.objects.values_list("amount", flat=True)) == 0
