"""Bearer secrets (advertiser API keys, postback tokens, partner API tokens) are stored as digests only and
never logged: after they are used, well and badly, the plain text is in no column of any table, in no log
record and in no request log entry.

The HMAC signing secrets (advertiser and partner postbacks) are the exception by necessity: verifying or
making a signature needs the secret itself, so they are kept, never shown again, and rotated (docs/security.md).
"""

import logging
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from referrals.partner_tokens import partner_token_rotate
from referrals.services import api_key_create, postback_token_rotate

pytestmark = pytest.mark.django_db(transaction=True)


def text_columns() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT table_name, column_name FROM information_schema.columns
            WHERE table_schema = 'public'
              AND data_type IN ('text', 'character varying', 'jsonb', 'json', 'character')
            """
        )
        return cursor.fetchall()


def tables_holding(secret: str) -> list[str]:
    found = []
    with connection.cursor() as cursor:
        for table, column in text_columns():
            cursor.execute(
                f'SELECT 1 FROM "{table}" WHERE "{column}"::text LIKE %s LIMIT 1',  # noqa: S608 (names from the catalog)
                ["%" + secret + "%"],
            )
            if cursor.fetchone():
                found.append(f"{table}.{column}")
    return found


def test_used_secrets_are_in_no_table_and_no_log(acme, globex, offer, alice, alice_link, caplog):
    caplog.set_level(logging.DEBUG)
    _, api_key = api_key_create(advertiser=acme, name="backend")
    _, revoked_key = api_key_create(advertiser=globex, name="old")
    token = postback_token_rotate(advertiser=acme)
    _, partner_token = partner_token_rotate(partner=alice)
    body = {
        "type": "purchase", "external_id": "s-1", "amount": str(Decimal("10.00")), "referral_code": "ALICE",
        "offer": "acme-shoes", "product_id": "sku",
    }  # fmt: skip
    client = APIClient()

    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert client.post("/v1/convert", body, format="json").status_code < 500
    assert client.post("/v1/convert", {"type": "nonsense"}, format="json").status_code == 400  # logged failure
    assert client.get("/v1/conversions").status_code == 200
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}x")  # a wrong key that starts like the real one
    assert client.post("/v1/convert", body, format="json").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {partner_token}")
    client.get("/v1/conversions")
    client.credentials()
    good = "type=purchase&external_id=s-2&amount=5&referral_code=ALICE&offer=acme-shoes&product_id=sku"
    assert client.get(f"/v1/postback?token={token}&{good}").status_code < 500
    assert client.get(f"/v1/postback?token={token}&type=nonsense").status_code == 400
    assert client.get(f"/v1/postback?token={token}x&type=purchase").status_code in (401, 403)
    client.post(f"/v1/postback?token={token}", {"type": "bad"}, format="json")

    # What the log lines say. (Django's own `django.request` records also carry the request object, whose
    # URL includes `?token=`: a handler that renders it, Sentry's for one, would see it; see docs/security.md.)
    logged = "\n".join(record.getMessage() for record in caplog.records) + caplog.text
    for name, secret in [
        ("API key", api_key),
        ("revoked API key", revoked_key),
        ("postback token", token),
        ("partner token", partner_token),
    ]:
        assert tables_holding(secret) == [], f"the {name} is stored in plain text"
        assert secret not in logged, f"the {name} is in the logs"
    # The request log has the failures, with the token's value masked.
    from conversions.models import RequestLogEntry

    assert RequestLogEntry.objects.filter(channel="postback").exists()


def test_error_reports_carry_no_postback_token_or_credentials():
    from core.sentry_scrub import sentry_before_send

    event = {
        "request": {
            "url": "https://track.example.com/v1/postback?type=purchase&token=pt_secret123&amount=1",
            "query_string": "type=purchase&token=pt_secret123&amount=1",
            "headers": {"Authorization": "Bearer ak_secret", "Affitrack-Signature": "t=1,v1=ab", "Accept": "*/*"},
        }
    }

    scrubbed = sentry_before_send(event, {})

    text = str(scrubbed)
    assert "pt_secret123" not in text and "ak_secret" not in text and "v1=ab" not in text
    assert "amount=1" in scrubbed["request"]["query_string"] and scrubbed["request"]["headers"]["Accept"] == "*/*"
