"""What an advertiser reads in the request log must explain the refusal in plain words."""

import pytest

from conversions.models import RequestLogEntry

pytestmark = pytest.mark.django_db

PURCHASE = {"type": "purchase", "referral_code": "ALICE", "offer": "acme-shoes", "product_id": "s", "amount": "5"}


def test_an_invalid_request_is_logged_with_readable_field_messages(acme_api, alice, offer):
    acme_api.post("/v1/convert", {**PURCHASE, "external_id": "o-1", "amount": "-1"}, format="json")

    message = RequestLogEntry.objects.get().message
    assert message == "The request has invalid fields: amount: Must be zero or more."


def test_a_reused_idempotency_key_is_logged_as_an_idempotency_mismatch(acme_api, alice, offer):
    acme_api.post("/v1/convert", {**PURCHASE, "external_id": "o-1"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    response = acme_api.post(
        "/v1/convert", {**PURCHASE, "external_id": "o-2"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )

    assert response.status_code == 422
    entry = RequestLogEntry.objects.get()
    assert entry.reason == "idempotency_mismatch" and entry.http_status == 422
