import threading

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from conversions.intake.idempotency import idempotency_keys_prune
from conversions.models import Conversion, IdempotencyKey

BODY = {"type": "purchase", "click_id": "c" * 32, "external_id": "idem-1", "amount": "10.00", "product_id": "p"}


@pytest.mark.django_db
def test_the_same_key_and_body_replays_the_first_answer(write_conversions, acme_api, click):
    first = acme_api.post("/v1/convert", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    again = acme_api.post("/v1/convert", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == again.status_code == 202  # the stored answer, not the 200 of a duplicate
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    write_conversions()
    assert Conversion.objects.count() == 1


@pytest.mark.django_db
def test_the_same_key_with_another_body_answers_422(acme_api, click):
    acme_api.post("/v1/convert", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    response = acme_api.post("/v1/convert", {**BODY, "amount": "11.00"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert response.status_code == 422 and response.json()["error"]["code"] == "idempotency_key_reused"


@pytest.mark.django_db
def test_a_stored_400_is_replayed_too(acme_api, click):
    first = acme_api.post("/v1/convert", {**BODY, "amount": "-1"}, format="json", HTTP_IDEMPOTENCY_KEY="bad")

    again = acme_api.post("/v1/convert", {**BODY, "amount": "-1"}, format="json", HTTP_IDEMPOTENCY_KEY="bad")

    assert first.status_code == again.status_code == 400 and again.json() == first.json()


@pytest.mark.django_db
def test_keys_are_per_advertiser(acme_api, api, globex_key, click):
    acme_api.post("/v1/convert", BODY, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {globex_key}")

    response = api.post("/v1/convert", BODY, format="json", HTTP_IDEMPOTENCY_KEY="shared")

    assert response.status_code == 404  # Globex's own answer (not its click), not Acme's replay


@pytest.mark.django_db
def test_keys_older_than_24_hours_are_pruned(acme_api, click):
    acme_api.post("/v1/convert", BODY, format="json", HTTP_IDEMPOTENCY_KEY="old")
    IdempotencyKey.objects.update(created_at=timezone.now() - timezone.timedelta(hours=25))

    assert idempotency_keys_prune(now=timezone.now()) == 1
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_request_in_flight_with_the_same_key_answers_409(write_conversions, acme, acme_key, click):
    """The first request holds the conversion row's unique slot until we let it go; the second
    arrives meanwhile with the same key."""
    from conversions.intake import recording

    entered, release = threading.Event(), threading.Event()
    original = recording.conversions_attribute

    def slow_attribute(**kwargs):
        entered.set()
        release.wait(10)
        return original(**kwargs)

    recording.conversions_attribute = slow_attribute
    results = {}

    def first():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {acme_key}")
        results["first"] = client.post("/v1/convert", BODY, format="json", HTTP_IDEMPOTENCY_KEY="fly").status_code
        connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert entered.wait(10)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {acme_key}")
        second = client.post("/v1/convert", BODY, format="json", HTTP_IDEMPOTENCY_KEY="fly")
    finally:
        release.set()
        thread.join(10)
        recording.conversions_attribute = original

    assert second.status_code == 409 and second.json()["error"]["code"] == "idempotency_key_in_flight"
    assert results["first"] == 202
    write_conversions()
    assert Conversion.objects.count() == 1
