"""Bad input on every endpoint: never a 5xx, and under /v1/ always the JSON error shape (the pixel: its GIF).

Each row is one request an integration or a scanner might send. The table printed at the end counts the
answers by status; the test fails on any 5xx, any HTML error under /v1/, or any row answered otherwise
than it expects.
"""

# ruff: noqa: E501 - one request a row reads better than a row folded over five lines
from collections import Counter

import pytest
from django.test import Client

from conversions.models import Conversion
from referrals.models import Click
from referrals.partner_tokens import partner_token_rotate
from referrals.services import postback_token_rotate

pytestmark = pytest.mark.django_db

DEEP = "[" * 5000 + "]" * 5000
REPORT = '"type": "purchase", "referral_code": "ALICE", "offer": "acme-shoes", "product_id": "p"'


def _json(fields: str) -> str:
    return "{" + REPORT + ", " + fields + "}"


@pytest.fixture
def clients(acme, acme_key, alice, alice_link):
    advertiser = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {acme_key}")
    partner = Client(
        raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {partner_token_rotate(partner=alice)[1]}"
    )
    anonymous = Client(raise_request_exception=False)
    return {"advertiser": advertiser, "partner": partner, "anonymous": anonymous}, postback_token_rotate(
        advertiser=acme
    )


def _rows(token: str) -> list[tuple]:
    """(name, who, method, path, body, expected status)."""
    postback = f"/v1/postback?token={token}&type=purchase&referral_code=ALICE&offer=acme-shoes&product_id=p"
    return [
        # The six that answered an HTML 500.
        ("amount 1e400 bare", "advertiser", "post", "/v1/convert", _json('"external_id": "a", "amount": 1e400'), 400),
        ("meta 5,000 deep", "advertiser", "post", "/v1/convert", _json(f'"external_id": "b", "amount": "1", "meta": {{"x": {DEEP}}}'), 400),
        ("NUL in pixel offer", "anonymous", "get", "/v1/pixel.gif?offer=acme%00shoes&external_id=c&amount=1", None, 200),
        ("NUL in status GET", "advertiser", "get", "/v1/conversions/by-external-id/a%00b/status", None, 404),
        ("NUL in status POST", "advertiser", "post", "/v1/conversions/by-external-id/a%00b/status", '{"status": "accepted"}', 404),
        ("NUL in click code", "anonymous", "get", "/c/alice%00shoes", None, 404),
        # The smaller ones.
        ("occurred_at year 1", "advertiser", "post", "/v1/convert", _json('"external_id": "d", "amount": "1", "occurred_at": "0001-01-01T00:00:00Z"'), 400),
        ("occurred_at naive", "advertiser", "post", "/v1/convert", _json('"external_id": "e", "amount": "1", "occurred_at": "2026-01-01T00:00:00"'), 400),
        ("occurred_at date only", "advertiser", "post", "/v1/convert", _json('"external_id": "f", "amount": "1", "occurred_at": "2026-01-01"'), 400),
        ("occurred_at offset 99", "advertiser", "post", "/v1/convert", _json('"external_id": "g", "amount": "1", "occurred_at": "2026-01-01T00:00:00+99:00"'), 400),
        ("postback amount twice", "anonymous", "get", f"{postback}&external_id=h&amount=1&amount=100", None, 400),
        ("pixel amount twice", "anonymous", "get", "/v1/pixel.gif?offer=acme-shoes&external_id=i&amount=1&amount=9", None, 200),
        ("page_size -1", "advertiser", "get", "/v1/conversions?page_size=-1", None, 400),
        ("page_size null", "advertiser", "get", "/v1/conversions?page_size=null", None, 400),
        ("page_size huge digits", "partner", "get", "/v1/clicks?page_size=" + "9" * 5000, None, 400),
        ("page_size twice", "advertiser", "get", "/v1/request-log?page_size=1&page_size=2", None, 400),
        ("non-UUID id", "advertiser", "get", "/v1/conversions/not-a-uuid", None, 404),
        ("non-UUID status", "advertiser", "post", "/v1/conversions/12/status", '{"status": "accepted"}', 404),
        ("unknown /v1/ URL", "advertiser", "get", "/v1/nothing-here", None, 404),
        # More of the same families, on every endpoint.
        ("NaN amount", "advertiser", "post", "/v1/convert", _json('"external_id": "j", "amount": NaN'), 400),
        ("-Infinity amount", "advertiser", "post", "/v1/convert", _json('"external_id": "k", "amount": -Infinity'), 400),
        ("integer of 5,000 digits", "advertiser", "post", "/v1/convert", _json('"external_id": "l", "amount": ' + "9" * 5000), 400),
        ("meta 9 deep", "advertiser", "post", "/v1/convert", _json('"external_id": "m", "amount": "1", "meta": ' + "{\"a\":" * 9 + "1" + "}" * 9), 400),
        ("meta null", "advertiser", "post", "/v1/convert", _json('"external_id": "n", "amount": "1", "meta": null'), 400),
        ("meta 20 KB", "advertiser", "post", "/v1/convert", _json('"external_id": "o", "amount": "1", "meta": {"a": "' + "x" * 20000 + '"}'), 400),
        ("NUL in external_id", "advertiser", "post", "/v1/convert", _json('"external_id": "p\\u0000", "amount": "1"'), 400),
        ("NUL in meta key", "advertiser", "post", "/v1/convert", _json('"external_id": "q", "amount": "1", "meta": {"\\u0000": 1}'), 400),
        ("body not JSON", "advertiser", "post", "/v1/convert", "{not json", 400),
        ("body a list", "advertiser", "post", "/v1/convert", "[1, 2]", 400),
        ("body invalid UTF-8", "advertiser", "post", "/v1/convert", b'{"a": "\xff"}', 400),
        ("NUL in postback value", "anonymous", "get", f"{postback}&external_id=r%00&amount=1", None, 400),
        ("NUL in postback token", "anonymous", "get", "/v1/postback?token=a%00b&type=purchase", None, 401),
        ("postback body 1e400", "anonymous", "post", f"/v1/postback?token={token}", _json('"external_id": "s", "amount": 1e400'), 400),
        ("postback body deep", "anonymous", "post", f"/v1/postback?token={token}", DEEP, 400),
        ("NUL in filter", "advertiser", "get", "/v1/conversions?offer=a%00b", None, 400),
        ("NUL in cursor", "advertiser", "get", "/v1/conversions?cursor=%00", None, 200),  # read as no cursor
        ("date filter year 0", "advertiser", "get", "/v1/conversions?created_after=0000-01-01T00:00:00Z", None, 400),
        ("NUL in click filter", "partner", "get", "/v1/clicks?sub1=%00", None, 400),
        ("NUL in log filter", "advertiser", "get", "/v1/request-log?channel=%00", None, 400),
        ("status NUL remark", "advertiser", "post", "/v1/conversions/by-external-id/x/status", '{"status": "rejected", "remark": "\\u0000"}', 404),
        ("status deep body", "advertiser", "post", "/v1/conversions/by-external-id/x/status", DEEP, 404),
        ("NUL in sub1 of a click", "anonymous", "get", "/c/alice-shoes?sub1=%00", None, 302),
        ("HEAD of a click", "anonymous", "head", "/c/alice-shoes", None, 302),
        ("HEAD of an unknown link", "anonymous", "head", "/c/nobody", None, 404),
        ("POST to a click", "anonymous", "post", "/c/alice-shoes", "", 405),
        ("no credentials", "anonymous", "get", "/v1/conversions", None, 401),
        ("wrong method", "advertiser", "delete", "/v1/convert", None, 405),
    ]  # fmt: skip


def _send(client: Client, method: str, path: str, body):
    if method in ("get", "head", "delete"):
        return getattr(client, method)(path)
    return getattr(client, method)(path, data=body, content_type="application/json")


def test_no_bad_input_answers_5xx_and_the_api_always_answers_its_json_error_shape(write_conversions, clients, capsys):
    by_role, token = clients
    statuses: Counter = Counter()
    wrong = []
    for name, who, method, path, body, expected in _rows(token):
        response = _send(by_role[who], method, path, body)
        statuses[response.status_code] += 1
        content_type = response.get("Content-Type", "")
        if path.startswith("/v1/pixel.gif"):
            shaped = content_type == "image/gif"
        elif path.startswith("/v1/") and response.status_code >= 400:
            shaped = content_type == "application/json" and set(response.json()["error"]) == {
                "code",
                "message",
                "fields",
            }
        else:
            shaped = True
        if response.status_code != expected or not shaped:
            wrong.append((name, response.status_code, expected, content_type, response.content[:120]))

    with capsys.disabled():
        print("\nbad input: " + ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items())))
    assert not [status for status in statuses if status >= 500]
    assert not wrong, wrong
    # Nothing of it was stored, and HEAD recorded no click (the one GET with a NUL sub1 did).
    write_conversions()
    assert not Conversion.objects.exists()
    assert Click.objects.count() == 1


def test_a_head_of_a_click_link_points_where_a_get_would_without_recording(client, alice_link):
    head = client.head("/c/alice-shoes?sub1=news")

    assert head.status_code == 302 and head["Location"].startswith(alice_link.offer.destination_url.split("{")[0])
    assert not Click.objects.exists() and "Set-Cookie" not in head
