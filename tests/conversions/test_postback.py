import json
import math
import time
from urllib.parse import urlencode

import pytest
from django.test import Client

from conversions.intake.signatures import signature_header
from conversions.models import Conversion, RequestLogEntry
from referrals.services import signing_secret_rotate

pytestmark = pytest.mark.django_db

PARAMS = {"type": "purchase", "external_id": "pb-1", "amount": "50.00", "product_id": "sku", "click_id": "c" * 32}


def get(client: Client, token: str, params: dict, **headers):
    return client.get(f"/v1/postback?{urlencode({'token': token, **params})}", **headers)


def test_get_postback_records_a_conversion(write_conversions, client, postback_token, click):
    response = get(client, postback_token, PARAMS)

    assert response.status_code == 202
    assert response.json()["status"] == "pending" and response.json()["external_id"] == "pb-1"
    write_conversions()
    conversion = Conversion.objects.get()
    assert conversion.channel == "postback" and conversion.partner == click.partner


def test_post_postback_with_a_form_body(write_conversions, client, postback_token, click):
    response = client.post(f"/v1/postback?token={postback_token}", PARAMS)

    write_conversions()
    assert response.status_code == 202 and Conversion.objects.get().external_id == "pb-1"


def test_post_postback_with_a_json_body(client, postback_token, click):
    response = client.post(f"/v1/postback?token={postback_token}", json.dumps(PARAMS), content_type="application/json")

    assert response.status_code == 202


def test_meta_parameters_gather_into_meta(write_conversions, client, postback_token, click):
    get(client, postback_token, {**PARAMS, "meta_campaign": "spring", "meta_tier": "gold"})

    write_conversions()
    assert Conversion.objects.get().meta == {"campaign": "spring", "tier": "gold"}


def test_text_clients_get_plain_ok(client, postback_token, click):
    response = get(client, postback_token, PARAMS, HTTP_ACCEPT="text/plain")

    assert response.status_code == 202 and response.content == b"OK"


def test_text_clients_get_the_error_as_text(client, postback_token, click):
    response = get(client, postback_token, {**PARAMS, "amount": "-3"}, HTTP_ACCEPT="text/plain")

    assert response.status_code == 400 and response.content.startswith(b"ERROR invalid")


def test_repeated_postback_answers_200_with_the_first(client, postback_token, click):
    first = get(client, postback_token, PARAMS).json()

    again = get(client, postback_token, PARAMS)

    assert again.status_code == 200 and again.json()["id"] == first["id"]
    assert Conversion.objects.count() == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"amount": ""}, "amount"),
        ({"amount": "-1"}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"type": "refund"}, "type"),
        ({"currency": "ZZZ"}, "currency"),
        ({"product_id": ""}, "product_id"),
        ({"click_id": "unknown"}, "click_id"),
        ({"click_id": "", "referral_code": "ALICE"}, "offer"),
    ],
)
def test_bad_postbacks_answer_400_with_the_field_and_are_logged(
    write_conversions, client, postback_token, click, params, field
):
    response = get(client, postback_token, {**PARAMS, **params})

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    write_conversions()
    assert not Conversion.objects.exists()
    entry = RequestLogEntry.objects.get()
    assert entry.channel == "postback" and entry.http_status == 400
    assert postback_token not in json.dumps(entry.payload)


def test_a_wrong_token_answers_401_and_is_logged(client, postback_token, click):
    response = get(client, "pt_wrong", PARAMS)

    assert response.status_code == 401
    entry = RequestLogEntry.objects.get()
    assert entry.reason == "bad_auth" and entry.payload["token"] == "[redacted]"


def test_no_token_answers_401(client, click):
    assert client.get("/v1/postback", PARAMS).status_code == 401


def test_another_advertisers_click_answers_404(client, globex, click):
    from referrals.services import postback_token_rotate

    token = postback_token_rotate(advertiser=globex)

    assert get(client, token, PARAMS).status_code == 404


def signed_get(client, token, params, secret, timestamp=None):
    query = urlencode({"token": token, **params})
    header = signature_header(secret=secret, timestamp=timestamp or int(time.time()), body=query.encode())
    return client.get(f"/v1/postback?{query}", HTTP_AFFITRACK_SIGNATURE=header)


def signed_post(client, token, body: dict, secret, timestamp=None):
    raw = json.dumps(body).encode()
    header = signature_header(secret=secret, timestamp=timestamp or int(time.time()), body=raw)
    return client.post(
        f"/v1/postback?token={token}", raw, content_type="application/json", HTTP_AFFITRACK_SIGNATURE=header
    )


def test_a_signed_postback_is_accepted(client, postback_token, signing_secret, click):
    assert signed_post(client, postback_token, PARAMS, signing_secret).status_code == 202
    assert signed_get(client, postback_token, {**PARAMS, "external_id": "pb-2"}, signing_secret).status_code == 202


def test_a_bad_signature_answers_401_and_records_nothing(client, postback_token, signing_secret, click):
    response = signed_post(client, postback_token, PARAMS, "whsec_not-the-secret")

    assert response.status_code == 401 and response.json()["error"]["code"] == "bad_signature"
    assert not Conversion.objects.exists()
    assert RequestLogEntry.objects.get().reason == "bad_signature"


def test_a_tampered_body_fails_the_signature(write_conversions, client, postback_token, signing_secret, click):
    raw = json.dumps(PARAMS).encode()
    header = signature_header(secret=signing_secret, timestamp=int(time.time()), body=raw)
    tampered = json.dumps({**PARAMS, "amount": "5000"})

    response = client.post(
        f"/v1/postback?token={postback_token}",
        tampered,
        content_type="application/json",
        HTTP_AFFITRACK_SIGNATURE=header,
    )

    write_conversions()
    assert response.status_code == 401 and not Conversion.objects.exists()


def test_a_signature_301_seconds_old_is_stale(client, postback_token, signing_secret, click):
    response = signed_post(client, postback_token, PARAMS, signing_secret, timestamp=int(time.time()) - 301)

    assert response.status_code == 401 and response.json()["error"]["code"] == "stale_signature"
    assert not Conversion.objects.exists()


def test_a_signature_299_seconds_old_is_fresh(client, postback_token, signing_secret, click):
    # Rounded up, so that the second int() would drop does not age it past the window on a slow machine.
    timestamp = math.ceil(time.time()) - 299
    assert signed_post(client, postback_token, PARAMS, signing_secret, timestamp=timestamp).status_code == 202


def test_a_replayed_signature_has_no_second_effect(
    write_conversions, client, postback_token, signing_secret, acme, click
):
    raw = json.dumps(PARAMS).encode()
    header = signature_header(secret=signing_secret, timestamp=int(time.time()), body=raw)
    send = lambda: client.post(  # noqa: E731
        f"/v1/postback?token={postback_token}", raw, content_type="application/json", HTTP_AFFITRACK_SIGNATURE=header
    )

    assert send().status_code == 202
    replay = send()

    assert replay.status_code == 401 and replay.json()["error"]["code"] == "replayed_signature"
    write_conversions()
    assert Conversion.objects.count() == 1


def test_both_secrets_verify_during_rotation_and_the_oldest_stops(client, postback_token, signing_secret, acme, click):
    newer = signing_secret_rotate(advertiser=acme)

    assert signed_post(client, postback_token, PARAMS, signing_secret).status_code == 202
    assert signed_post(client, postback_token, {**PARAMS, "external_id": "pb-2"}, newer).status_code == 202

    signing_secret_rotate(advertiser=acme)
    response = signed_post(client, postback_token, {**PARAMS, "external_id": "pb-3"}, signing_secret)
    assert response.status_code == 401


def test_an_advertiser_requiring_signatures_refuses_unsigned_postbacks(
    write_conversions, client, postback_token, signing_secret, acme, click
):
    acme.require_signed_postbacks = True
    acme.save()

    response = get(client, postback_token, PARAMS)

    write_conversions()
    assert response.status_code == 401 and not Conversion.objects.exists()


def test_the_ip_allowlist_refuses_other_senders(client, postback_token, acme, click):
    acme.postback_allowed_ips = "203.0.113.0/24, 198.51.100.7"
    acme.save()

    refused = get(client, postback_token, PARAMS, REMOTE_ADDR="192.0.2.1")
    allowed = get(client, postback_token, PARAMS, REMOTE_ADDR="203.0.113.40")

    assert refused.status_code == 403 and allowed.status_code == 202
    assert RequestLogEntry.objects.get().reason == "ip_not_allowed"


def test_a_spoofed_forwarded_for_does_not_pass_the_allowlist(client, postback_token, acme, click, settings):
    settings.TRUSTED_PROXIES = []
    acme.postback_allowed_ips = "203.0.113.0/24"
    acme.save()

    response = get(client, postback_token, PARAMS, REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="203.0.113.5")

    assert response.status_code == 403
