"""Redis stopped during ingestion: requests still answer 2xx and conversions are stored `pending`;
when Redis returns, the sweeper processes them."""

from datetime import timedelta
from decimal import Decimal

import django_rq
import pytest
from django.db.models import F
from rq import SimpleWorker

from conversions.models import Conversion
from conversions.processing.jobs import process_pending_conversions
from referrals.models import Click
from referrals.services import postback_token_rotate
from rewards.models import Entry, Reward
from tests.factories import RewardRuleFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_ingestion_answers_while_redis_is_down_and_nothing_is_lost(client, acme_api, acme, alice_link, private_redis):
    RewardRuleFactory(offer=alice_link.offer, value=Decimal("2.00"))
    token = postback_token_rotate(advertiser=acme)
    first_click = client.get("/c/alice-shoes").cookies["atc_acme-shoes"].value
    # The buyer shops a few minutes: the sweeper screens for fraud too, and holds a purchase seconds after its click.
    Click.objects.filter(click_id=first_click).update(created_at=F("created_at") - timedelta(minutes=5))

    private_redis.stop()

    click = client.get("/c/alice-shoes")
    api = [
        acme_api.post(
            "/v1/convert",
            {
                "type": "purchase",
                "click_id": first_click,
                "external_id": f"down-{n}",
                "amount": "10",
                "product_id": "p",
            },
            format="json",
        )
        for n in range(5)
    ]
    postback = client.get(
        "/v1/postback",
        {
            "token": token,
            "type": "purchase",
            "click_id": first_click,
            "external_id": "down-pb",
            "amount": "10",
            "product_id": "p",
        },
    )
    health = client.get("/healthz")

    assert click.status_code == 302 and Click.objects.count() == 2
    assert [response.status_code for response in api] == [202] * 5 and postback.status_code == 202
    assert health.status_code == 503 and health.json()["checks"]["redis"].startswith("error")
    assert set(Conversion.objects.values_list("status", flat=True)) == {"pending"}

    private_redis.start()
    queue = django_rq.get_queue("default")
    queue.enqueue(process_pending_conversions)  # what the scheduler does every minute
    SimpleWorker([queue], connection=queue.connection).work(burst=True)

    assert set(Conversion.objects.values_list("status", flat=True)) == {"accepted"}
    assert Reward.objects.count() == 6
    assert sum(Entry.objects.values_list("amount", flat=True)) == 0


def test_with_the_click_buffer_a_click_during_an_outage_is_written_straight_to_the_table(
    client, alice_link, private_redis, click_buffer
):
    from referrals.models import Click

    assert client.get("/c/alice-shoes").status_code == 302
    assert not Click.objects.exists()  # buffered in Redis
    private_redis.stop()

    during = client.get("/c/alice-shoes")

    assert during.status_code == 302
    click = Click.objects.get()
    assert click.click_id == during.cookies["atc_acme-shoes"].value and click.is_unique  # unique fails open
