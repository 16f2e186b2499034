"""The Python SDK (sdk/python) against a live server: what an advertiser's code sees."""

# ruff: noqa: S310 - urllib opens only the live server's http URLs here

import json
import time
import uuid
from decimal import Decimal
from urllib.error import HTTPError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

import pytest
from affitrack import (
    APIConnectionError,
    AuthenticationError,
    Client,
    Conflict,
    Conversion,
    IdempotencyMismatch,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServerError,
    postback_url,
    sign,
    verify_signature,
)

from conversions.intake.signatures import signature_header
from conversions.models import Conversion as ConversionRow
from tests.factories import RewardRuleFactory

pytestmark = pytest.mark.django_db(transaction=True)


def purchase(sdk: Client, external_id: str, **fields) -> Conversion:
    params = {"referral_code": "ALICE", "offer": "acme-shoes", "amount": "10.00", "product_id": "sku-1", **fields}
    return sdk.convert(type="purchase", external_id=external_id, **params)


def test_convert_by_click_id_records_once_and_a_duplicate_answers_the_first(
    write_conversions, sdk, alice_link, visit_link, run_worker
):
    RewardRuleFactory(offer=alice_link.offer, reward_type="percentage", value=Decimal("10"))
    click_id = visit_link("alice-shoes")

    first = sdk.convert(
        type="purchase",
        external_id="order-1001",
        amount=Decimal("120.00"),
        currency="usd",
        product_id="sku-1",
        click_id=click_id,
        meta={"cart": "spring"},
    )
    again = sdk.convert(
        type="purchase", external_id="order-1001", amount="120.00", product_id="sku-1", click_id=click_id
    )

    assert first.created is True and first.status == "pending"
    assert first.amount == Decimal("120.00") and first.currency == "USD" and first.click_id == click_id
    assert first.meta == {"cart": "spring"} and first.offer == "acme-shoes"
    assert again.created is False and again.id == first.id
    write_conversions()
    assert ConversionRow.objects.count() == 1

    run_worker()

    processed = sdk.conversion(first.id)
    assert processed.status == "accepted" and processed.attribution["step"] == "click_id"
    assert processed.processed_at is not None and processed.created is None


def test_bad_input_raises_invalid_request_naming_the_fields(sdk, alice_link):
    with pytest.raises(InvalidRequest) as refused:
        sdk.convert(type="purchase", external_id="bad-1", amount="-1", offer="acme-shoes", referral_code="ALICE")

    error = refused.value
    assert error.status == 400 and error.code == "invalid"
    assert "amount" in error.fields
    assert not ConversionRow.objects.exists()


def test_a_float_amount_is_refused_before_sending(sdk):
    with pytest.raises(TypeError):
        sdk.convert(type="purchase", external_id="f-1", amount=19.99, click_id="x", product_id="s")


def test_a_wrong_key_raises_authentication_error(live_server, alice_link):
    client = Client(live_server.url, "ak_not-a-key")

    with pytest.raises(AuthenticationError) as refused:
        client.convert(type="purchase", external_id="x", amount="1", referral_code="ALICE", offer="acme-shoes")

    assert refused.value.status == 401 and refused.value.code == "not_authenticated"


def test_another_advertisers_conversion_is_not_found(sdk, globex_sdk, alice_link):
    mine = purchase(sdk, "mine-1")

    with pytest.raises(NotFound) as missing:
        globex_sdk.conversion(mine.id)
    with pytest.raises(NotFound):
        globex_sdk.update_status(mine.id, "rejected", remark="not ours")
    with pytest.raises(NotFound):
        sdk.conversion(uuid.uuid4())

    assert missing.value.status == 404 and missing.value.code == "not_found"
    assert sdk.conversion(mine.id).status == "pending"


def test_an_idempotency_key_replays_the_first_answer_and_refuses_another_body(sdk, alice_link):
    first = purchase(sdk, "idem-1", idempotency_key="checkout-42")
    replay = purchase(sdk, "idem-1", idempotency_key="checkout-42")

    with pytest.raises(IdempotencyMismatch) as mismatch:
        purchase(sdk, "idem-2", idempotency_key="checkout-42")

    assert first.created is True and first.replayed is False
    assert replay.replayed is True and replay.created is True and replay.id == first.id
    assert mismatch.value.status == 422 and mismatch.value.code == "idempotency_key_reused"
    assert ConversionRow.objects.count() == 1


def test_status_updates_by_id_and_by_external_id(sdk, alice_link):
    RewardRuleFactory(offer=alice_link.offer)
    conversion = purchase(sdk, "st-1")
    ConversionRow.objects.filter(pk=conversion.id).update(status="suspicious")

    accepted = sdk.update_status(conversion.id, "accepted")
    rejected = sdk.update_status(
        external_id="st-1", status="rejected", reason="returned", remark="Customer returned the order."
    )

    assert accepted.status == "accepted"
    assert rejected.status == "rejected" and rejected.status_reason == "returned"
    assert rejected.status_remark == "Customer returned the order."
    with pytest.raises(Conflict) as refused:
        sdk.update_status(conversion, "accepted")
    assert refused.value.code == "transition_not_allowed"
    with pytest.raises(InvalidRequest) as no_remark:
        sdk.update_status(purchase(sdk, "st-2").id, "rejected")
    assert "remark" in no_remark.value.fields


def test_listing_walks_every_page_newest_first_and_filters(sdk, globex_sdk, alice_link):
    made = [purchase(sdk, f"list-{n}").id for n in range(5)]

    listed = list(sdk.conversions(page_size=2))
    by_external_id = list(sdk.conversions(external_id="list-3"))
    by_status = list(sdk.conversions(status=["accepted", "rejected"]))

    assert [c.id for c in listed] == list(reversed(made))
    assert all(isinstance(c.amount, Decimal) for c in listed)
    assert [c.external_id for c in by_external_id] == ["list-3"]
    assert by_status == []
    assert list(globex_sdk.conversions()) == []


def test_the_request_log_shows_refusals_and_duplicates(sdk, alice_link):
    purchase(sdk, "log-1")
    purchase(sdk, "log-1")
    with pytest.raises(InvalidRequest):
        purchase(sdk, "log-2", amount="abc")

    entries = list(sdk.request_log())
    duplicates = list(sdk.request_log(reason="duplicate"))

    assert [e.reason for e in entries] == ["invalid", "duplicate"]
    assert entries[0].http_status == 400 and entries[0].payload["amount"] == "abc"
    assert duplicates[0].conversion_id is not None


def test_a_postback_url_works_as_a_get(live_server, postback_token, alice_link, visit_link):
    click_id = visit_link("alice-shoes")
    url = postback_url(
        live_server.url,
        postback_token,
        type="purchase",
        external_id="pb-1",
        amount=Decimal("50.00"),
        product_id="sku",
        click_id=click_id,
        meta={"campaign": "spring"},
    )

    with urlopen(url) as answer:
        body = json.loads(answer.read())

    assert answer.status == 202 and body["external_id"] == "pb-1"
    row = ConversionRow.objects.get()
    assert row.channel == "postback" and row.meta == {"campaign": "spring"}


def test_signed_postbacks_get_and_post_are_accepted_and_a_tampered_one_is_not(
    live_server, postback_token, signing_secret, alice_link, visit_link
):
    click_id = visit_link("alice-shoes")
    fields = {"type": "purchase", "amount": "5", "product_id": "s", "click_id": click_id}
    url = postback_url(live_server.url, postback_token, external_id="sg-1", **fields)
    signed_get = Request(url, headers={"Affitrack-Signature": sign(signing_secret, urlsplit(url).query)})

    body = json.dumps({**fields, "external_id": "sg-2", "amount": "7.50"})
    signed_post = Request(
        f"{live_server.url}/v1/postback?token={postback_token}",
        data=body.encode(),
        headers={"Content-Type": "application/json", "Affitrack-Signature": sign(signing_secret, body)},
    )
    tampered = Request(
        signed_post.full_url,
        data=body.replace("7.50", "750.00").encode(),
        headers={"Content-Type": "application/json", "Affitrack-Signature": sign(signing_secret, body)},
    )

    with urlopen(signed_get) as get_answer, urlopen(signed_post) as post_answer:
        assert get_answer.status == 202 and post_answer.status == 202
    with pytest.raises(HTTPError) as refused:
        urlopen(tampered)
    assert refused.value.code == 401
    assert json.loads(refused.value.read())["error"]["code"] == "bad_signature"
    assert sorted(ConversionRow.objects.values_list("external_id", flat=True)) == ["sg-1", "sg-2"]


def test_sign_builds_the_same_header_as_the_server():
    body = b'{"external_id":"o-1"}'

    assert sign("whsec_x", body, timestamp=1700000000) == signature_header(
        secret="whsec_x", timestamp=1700000000, body=body
    )


def test_verify_signature_accepts_its_own_and_refuses_tampered_stale_or_foreign():
    body = b'{"external_id":"o-1","amount":"10.00"}'
    now = time.time()
    header = sign("whsec_current", body)

    assert verify_signature("whsec_current", header, body)
    assert verify_signature(["whsec_old", "whsec_current"], header, body.decode())
    assert not verify_signature("whsec_current", header, body.replace(b"10.00", b"99.00"))
    assert not verify_signature("whsec_other", header, body)
    assert not verify_signature("whsec_current", sign("whsec_current", body, timestamp=int(now) - 301), body)
    assert verify_signature("whsec_current", sign("whsec_current", body, timestamp=int(now) - 299), body, now=now)
    assert not verify_signature("whsec_current", header, body, now=now + 3600)
    assert not verify_signature("whsec_current", "garbage", body)
    assert not verify_signature("whsec_current", "", body)
    assert not verify_signature([], header, body)


def test_a_rate_limited_key_raises_with_retry_after_after_retrying(sdk, sleeps, alice_link, throttle_rates):
    throttle_rates(ingest="1000/min", read="1/min")  # the live server runs in this process
    sdk.max_retry_wait = 120
    list(sdk.conversions())

    with pytest.raises(RateLimited) as limited:
        list(sdk.conversions())

    assert limited.value.status == 429 and limited.value.code == "throttled"
    assert 0 < limited.value.retry_after <= 60
    assert len(sleeps) == sdk.max_retries and all(wait >= limited.value.retry_after - 1 for wait in sleeps)


def test_a_retry_after_longer_than_the_client_waits_is_raised_at_once(sdk, sleeps, alice_link, throttle_rates):
    sdk.max_retry_wait = 5
    throttle_rates(margin=sdk.max_retry_wait + 5, ingest="1/hour", read="1000/min")
    purchase(sdk, "rl-1")

    with pytest.raises(RateLimited) as limited:
        purchase(sdk, "rl-2")

    assert limited.value.retry_after > sdk.max_retry_wait and sleeps == []


def test_a_503_is_retried_after_its_retry_after_then_raised(server_without_database, sleeps):
    client = Client(server_without_database, "ak_x", sleep=sleeps.append)

    with pytest.raises(ServerError) as down:
        client.conversion(uuid.uuid4())

    assert down.value.status == 503 and down.value.code == "unavailable"
    assert sleeps == [5.0, 5.0]  # the server's Retry-After, not the backoff's half second and second
    sleeps.clear()
    with pytest.raises(ServerError):
        purchase(client, "down-1")  # a POST, with the Idempotency-Key that convert always sends
    assert sleeps == [5.0, 5.0]


def test_a_503_retry_after_longer_than_the_client_waits_is_raised_at_once(server_without_database, sleeps):
    client = Client(server_without_database, "ak_x", max_retry_wait=2, sleep=sleeps.append)

    with pytest.raises(ServerError) as down:
        client.conversion(uuid.uuid4())

    assert down.value.status == 503 and sleeps == []


def test_a_convert_that_meets_a_503_is_sent_again_after_retry_after_and_recorded_once(
    acme_key, alice_link, sleeps, outage_for_a_moment
):
    proxy = outage_for_a_moment(outages=1)
    client = Client(proxy.url, acme_key, sleep=sleeps.append)

    conversion = purchase(client, "after-503")
    again = client.conversion(conversion.id)

    assert conversion.created is True and again.id == conversion.id
    assert sleeps == [1.0]
    first, retried, read = proxy.requests
    assert (first["status"], retried["status"], read["status"]) == (503, 202, 200)
    assert first["key"] == retried["key"] and first["key"].startswith("sdk-") and first["body"] == retried["body"]
    assert ConversionRow.objects.filter(external_id="after-503").count() == 1


def test_a_read_that_meets_a_503_is_sent_again_after_retry_after(acme_key, alice_link, sleeps, outage_for_a_moment):
    proxy = outage_for_a_moment(outages=2)
    client = Client(proxy.url, acme_key, sleep=sleeps.append)

    assert list(client.conversions()) == []
    assert sleeps == [1.0, 1.0]
    assert [(request["method"], request["status"]) for request in proxy.requests] == [("GET", 503)] * 2 + [("GET", 200)]


def test_connection_errors_are_retried_then_raised(sleeps):
    client = Client("http://127.0.0.1:9", "ak_x", timeout=2, max_retries=3, sleep=sleeps.append)

    with pytest.raises(APIConnectionError) as failed:
        client.conversion(uuid.uuid4())

    assert failed.value.status is None and len(sleeps) == 3
    assert sleeps[0] < sleeps[2]  # backoff grows


def test_client_errors_are_not_retried(sdk, sleeps, alice_link):
    with pytest.raises(InvalidRequest):
        purchase(sdk, "nr-1", amount="x")

    assert sleeps == []
