"""The intake log: a conversion is answered 202 once it is in the log, found by every read at once (pending), stored
by the writer through the one recorder, and processed once."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from conversions.intake.intake_log import LOG, PROCESSING, intake_log_length
from conversions.intake.log_writer import intake_log_write
from conversions.models import Conversion, ConversionStat, RequestLogEntry, StatusChange
from core.redis_connection import redis_for_intake
from referrals.models import Click
from rewards.models import Reward
from tests.factories import RewardRuleFactory

pytestmark = pytest.mark.django_db

BODY = {"type": "purchase", "click_id": "c" * 32, "external_id": "order-1", "amount": "120.50", "product_id": "sku"}


@pytest.fixture
def click(alice_link):
    return Click.objects.create(
        click_id="c" * 32,
        link=alice_link,
        offer=alice_link.offer,
        partner=alice_link.partner,
        created_at=timezone.now() - timedelta(hours=1),
    )


def test_a_202_is_in_the_log_not_yet_in_postgresql_and_the_writer_stores_it_as_answered(acme_api, click):
    response = acme_api.post("/v1/convert", BODY, format="json")

    assert response.status_code == 202
    answered = response.json()
    assert answered["status"] == "pending" and answered["offer"] == "acme-shoes"
    assert not Conversion.objects.exists() and intake_log_length() == 1

    assert intake_log_write() == 1

    conversion = Conversion.objects.get()
    assert str(conversion.pk) == answered["id"] and conversion.amount == Decimal("120.50")
    assert conversion.created_at.isoformat().replace("+00:00", "Z") == answered["created_at"]
    assert conversion.partner == click.partner and conversion.status == "pending"
    assert StatusChange.objects.filter(conversion=conversion).count() == 1
    assert ConversionStat.objects.get().conversions == 1
    assert intake_log_length() == 0


@pytest.mark.parametrize("read", ["by_id", "by_external_id", "status"])
def test_a_read_right_after_the_202_finds_the_conversion_pending(acme_api, click, read):
    answered = acme_api.post("/v1/convert", BODY, format="json").json()

    if read == "by_id":
        response = acme_api.get(f"/v1/conversions/{answered['id']}")
        found = response.json()
    elif read == "by_external_id":
        response = acme_api.get("/v1/conversions", {"external_id": "order-1"})
        [found] = response.json()["results"]
    else:
        body = {"status": "rejected", "reason": "returned", "remark": "sent back"}
        response = acme_api.post(f"/v1/conversions/{answered['id']}/status", body, format="json")
        found = response.json()

    assert response.status_code == 200
    assert found["id"] == answered["id"]
    assert found["status"] == ("rejected" if read == "status" else "pending")
    assert intake_log_write() == 0  # stored for the read already: the writer's replay stores nothing twice
    assert Conversion.objects.count() == 1


def test_a_read_of_another_advertisers_logged_conversion_is_still_a_404(acme_api, api, globex_key, click):
    answered = acme_api.post("/v1/convert", BODY, format="json").json()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {globex_key}")

    assert api.get(f"/v1/conversions/{answered['id']}").status_code == 404


@pytest.mark.parametrize("writer_ran", [False, True])
def test_a_repeated_external_id_answers_200_with_the_first_conversion(acme_api, click, writer_ran):
    first = acme_api.post("/v1/convert", BODY, format="json").json()
    if writer_ran:
        intake_log_write()

    again = acme_api.post("/v1/convert", {**BODY, "amount": "999"}, format="json")

    assert again.status_code == 200
    assert again.json()["id"] == first["id"] and again.json()["amount"] == "120.50"
    intake_log_write()
    assert Conversion.objects.count() == 1
    assert RequestLogEntry.objects.get().reason == "duplicate"


def test_a_repeat_that_would_no_longer_attribute_still_answers_200_while_the_first_is_logged(acme_api, click):
    first = acme_api.post("/v1/convert", BODY, format="json").json()

    again = acme_api.post("/v1/convert", {**BODY, "click_id": "f" * 32}, format="json")

    assert again.status_code == 200 and again.json()["id"] == first["id"]


def test_the_same_external_id_for_two_advertisers_is_two_conversions(acme_api, api, globex_key, click, globex):
    acme_api.post("/v1/convert", BODY, format="json")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {globex_key}")
    body = {**BODY, "click_id": "", "referral_code": "ALICE", "offer": "acme-shoes"}

    assert api.post("/v1/convert", body, format="json").status_code == 404  # not Globex's offer: refused at once
    intake_log_write()
    assert Conversion.objects.count() == 1


def test_an_idempotency_key_replays_the_202_before_and_after_the_writer(acme_api, click):
    first = acme_api.post("/v1/convert", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    before = acme_api.post("/v1/convert", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    intake_log_write()
    after = acme_api.post("/v1/convert", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == before.status_code == after.status_code == 202
    assert before.json() == first.json() == after.json() and after["Idempotent-Replayed"] == "true"
    assert Conversion.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_batch_replayed_after_a_writer_died_stores_and_processes_nothing_twice(acme_api, click, run_worker):
    RewardRuleFactory(offer=click.offer, value=Decimal("2.00"))
    for number in range(3):
        acme_api.post("/v1/convert", {**BODY, "external_id": f"order-{number}"}, format="json")
    redis = redis_for_intake()
    batch = LOG.take(redis, 10)  # a writer took the batch and stored it, then died before forgetting it
    assert len(batch) == 3
    intake_log_write()
    redis.rpush(PROCESSING, *batch)

    assert intake_log_write() == 0
    run_worker()
    assert intake_log_write() == 0
    run_worker()

    assert Conversion.objects.count() == 3 and set(Conversion.objects.values_list("status", flat=True)) == {"accepted"}
    assert Reward.objects.count() == 3
    assert StatusChange.objects.filter(to_status="pending").count() == 3
    assert ConversionStat.objects.aggregate(total=Sum("conversions"))["total"] == 3


@pytest.mark.django_db(transaction=True)
def test_processing_is_requested_by_the_writer_once_the_rows_are_stored(acme_api, click, run_worker, queue):
    acme_api.post("/v1/convert", BODY, format="json")
    assert queue.count == 0  # nothing to process yet: the row is not stored

    intake_log_write()

    assert queue.count == 1
    run_worker()
    assert Conversion.objects.get().processed_at is not None


def test_a_conversion_outside_the_window_is_answered_rejected_and_stored_at_once(acme_api, click):
    Click.objects.filter(pk=click.pk).update(created_at=timezone.now() - timedelta(days=30, seconds=5))

    response = acme_api.post("/v1/convert", BODY, format="json")

    assert response.status_code == 202 and response.json()["status"] == "rejected"
    entry = RequestLogEntry.objects.get()
    assert entry.reason == "outside_attribution_window" and str(entry.conversion_id) == response.json()["id"]
    assert intake_log_write() == 0


def test_without_the_intake_redis_the_conversion_is_recorded_at_once(acme_api, click, settings):
    settings.INTAKE_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    response = acme_api.post("/v1/convert", BODY, format="json")

    assert response.status_code == 202
    assert str(Conversion.objects.get().pk) == response.json()["id"]


def test_the_postback_and_the_pixel_go_through_the_log_too(api, click, offer, postback_token):
    postback = {"token": postback_token, "type": "purchase", "click_id": "c" * 32, "amount": "5", "product_id": "p"}
    answered = api.get("/v1/postback", {**postback, "external_id": "pb-1"})
    api.get(
        "/v1/pixel.gif",
        {"offer": "acme-shoes", "external_id": "px-1", "amount": "5", "product_id": "p", "click_id": "c" * 32},
    )

    assert answered.status_code == 202
    assert not Conversion.objects.exists() and intake_log_length() == 2
    assert intake_log_write() == 2
    channels = dict(Conversion.objects.values_list("external_id", "channel"))
    assert channels == {"pb-1": "postback", "px-1": "pixel"}
