"""Partner postbacks: signed deliveries through a real RQ worker to a local HTTP server, retries with
backoff, auto-disable after repeated failures, and refusal of private addresses."""

import hashlib
import hmac
import json
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import override_settings
from django.utils import timezone

from conversions.intake.recording import ConversionReport, conversion_record
from conversions.models import PartnerPostback, PostbackDelivery, PostbackDispatch
from conversions.postbacks.services import (
    PostbackDeliveryFailed,
    address_is_public,
    partner_postbacks_enqueue,
    postback_create,
    postback_dispatch_deliver,
    postback_retry_policy,
    postback_secret_rotate,
)
from tests.dashboard.conftest import click_at
from tests.factories import RewardRuleFactory


class Receiver:
    """A local HTTP server that answers with the scripted status codes, then 200, and keeps what it got."""

    def __init__(self, statuses=(), location=""):
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.end_headers()
                self.wfile.write(b'{"received": true}' if status == 200 else b"try later")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(statuses=(), location=""):
        made.append(Receiver(statuses, location))
        return made[-1]

    yield make
    for server in made:
        server.close()


def report(click, external_id="pb-1"):
    return ConversionReport(
        type="purchase", external_id=external_id, amount=Decimal("80.00"), click_id=click.click_id, product_id="s"
    )


def verify(request, secret: str) -> list[str]:
    """What a partner's server does: check the signature; returns the v1 values that match."""
    header = request["headers"]["X-Affitrack-Signature"]
    parts = [part.split("=", 1) for part in header.split(",")]
    timestamp = next(value for key, value in parts if key == "t")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + request["body"], hashlib.sha256).hexdigest()
    return [value for key, value in parts if key == "v1" and hmac.compare_digest(value, expected)]


@pytest.mark.django_db(transaction=True)
@override_settings(POSTBACKS_ALLOW_PRIVATE=True, POSTBACK_RETRY_INTERVALS=[0, 0, 0])
def test_failed_deliveries_are_retried_by_the_worker_until_one_succeeds(
    acme, alice, alice_link, receiver, run_worker, queue
):
    RewardRuleFactory(offer=alice_link.offer, reward_type="fixed", value=Decimal("7.00"))
    server = receiver(statuses=[500, 503])
    postback = postback_create(
        partner=alice,
        url=server.url + "/hook?cid={click_id}&s={sub1}&st={status}&p={payout}&e={event}",
        on_status_changed=False,
    )
    click = click_at(alice_link, timezone.now() - timedelta(minutes=3), sub1="news&letter")

    conversion, _ = conversion_record(advertiser=acme, report=report(click), channel="api")
    run_worker()

    assert len(server.requests) == 3  # 500, 503, then 200
    dispatch = PostbackDispatch.objects.get()
    assert dispatch.delivered_at is not None and dispatch.attempts == 3
    log = list(PostbackDelivery.objects.order_by("created_at", "pk").values_list("status_code", "ok"))
    assert log == [(500, False), (503, False), (200, True)]
    postback.refresh_from_db()
    assert postback.consecutive_failures == 0 and postback.is_active

    last = server.requests[-1]
    query = parse_qs(urlsplit(last["path"]).query)
    assert query == {"cid": [click.click_id], "s": ["news&letter"], "st": ["pending"], "p": ["0"], "e": ["created"]}
    body = json.loads(last["body"])
    assert (
        body["conversion_id"] == str(conversion.pk) and body["external_id"] == "pb-1" and body["sub1"] == "news&letter"
    )
    assert verify(last, postback.secret)
    assert last["headers"]["X-Affitrack-Event"] == "created"

    # The job again, and the event again: nothing is sent twice.
    assert postback_dispatch_deliver(dispatch_id=dispatch.pk) == "delivered"
    assert partner_postbacks_enqueue(conversion_id=conversion.pk, event="created") == 0
    run_worker()
    assert len(server.requests) == 3


@pytest.mark.django_db(transaction=True)
@override_settings(POSTBACKS_ALLOW_PRIVATE=True)
def test_status_changes_are_sent_with_the_payout(acme, alice, alice_link, receiver, run_worker):
    RewardRuleFactory(offer=alice_link.offer, reward_type="fixed", value=Decimal("7.00"))
    server = receiver()
    postback_create(partner=alice, url=server.url + "/?st={status}&p={payout}&c={currency}", on_created=False)
    click = click_at(alice_link, timezone.now() - timedelta(minutes=3))

    conversion_record(advertiser=acme, report=report(click), channel="api")
    run_worker()

    assert [urlsplit(r["path"]).query for r in server.requests] == ["st=accepted&p=7.00&c=USD"]
    assert json.loads(server.requests[0]["body"])["event"] == "status_changed"


def test_retries_back_off_exponentially_by_default():
    policy = postback_retry_policy()
    assert policy.max == 6 and policy.intervals == [30, 120, 600, 3600, 21600, 64800]


@pytest.mark.django_db
@override_settings(POSTBACKS_ALLOW_PRIVATE=True)
def test_after_25_failures_in_a_row_the_postback_is_disabled_and_the_partner_told(
    acme, alice, alice_link, receiver, alice_client, django_capture_on_commit_callbacks
):
    server = receiver(statuses=[500] * 30)
    postback = postback_create(partner=alice, url=server.url + "/")
    click = click_at(alice_link, timezone.now() - timedelta(minutes=3))
    with django_capture_on_commit_callbacks(execute=False):
        conversion_record(advertiser=acme, report=report(click), channel="api")
    dispatch = PostbackDispatch.objects.get()

    for _ in range(25):
        with pytest.raises(PostbackDeliveryFailed):
            postback_dispatch_deliver(dispatch_id=dispatch.pk)

    postback.refresh_from_db()
    assert not postback.is_active and postback.consecutive_failures == 25 and postback.disabled_at
    assert postback_dispatch_deliver(dispatch_id=dispatch.pk) == "disabled"
    assert len(server.requests) == 25
    assert "Disabled after 25 failed deliveries in a row." in alice_client.get("/dashboard/").content.decode()

    page = alice_client.get(f"/dashboard/postbacks/{postback.pk}/").content.decode()
    assert "Enable it again" in page
    alice_client.post(f"/dashboard/postbacks/{postback.pk}/enable")
    postback.refresh_from_db()
    assert postback.is_active and postback.consecutive_failures == 0


@pytest.mark.django_db
@override_settings(POSTBACKS_ALLOW_PRIVATE=False)
def test_private_addresses_are_refused_without_a_request(alice, alice_client, receiver):
    server = receiver()
    postback = postback_create(partner=alice, url=server.url + "/hook")

    alice_client.post(f"/dashboard/postbacks/{postback.pk}/test")

    delivery = PostbackDelivery.objects.get()
    assert not delivery.ok and delivery.status_code is None and delivery.error.startswith("refused")
    assert server.requests == []


@pytest.mark.django_db
@override_settings(POSTBACKS_ALLOW_PRIVATE=False)
def test_a_host_name_that_resolves_to_loopback_is_refused(alice, receiver):
    from conversions.postbacks.services import postback_test_send

    server = receiver()
    postback = postback_create(partner=alice, url=server.url.replace("127.0.0.1", "localhost") + "/")

    delivery = postback_test_send(postback=postback)

    assert delivery.error.startswith("refused") and server.requests == []


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),  # noqa: S104 (an address under test, not a bind)
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("224.0.0.1", False),
        ("93.184.216.34", True),
        ("2606:4700:4700::1111", True),
    ],
)
def test_only_global_addresses_are_public(address, public):
    assert address_is_public(address) is public


@pytest.mark.django_db
@override_settings(POSTBACKS_ALLOW_PRIVATE=True)
def test_redirects_are_not_followed(alice, receiver):
    from conversions.postbacks.services import postback_test_send

    target = receiver()
    server = receiver(statuses=[302], location=target.url + "/elsewhere")
    postback = postback_create(partner=alice, url=server.url + "/")

    delivery = postback_test_send(postback=postback)

    assert delivery.status_code == 302 and not delivery.ok and target.requests == []


@pytest.mark.django_db
@override_settings(POSTBACKS_ALLOW_PRIVATE=True)
def test_test_button_sends_a_signed_sample_and_logs_it(alice, alice_client, receiver):
    server = receiver()
    postback = postback_create(partner=alice, url=server.url + "/t?e={event}")

    response = alice_client.post(f"/dashboard/postbacks/{postback.pk}/test", follow=True)

    assert "Test sent: HTTP 200" in response.content.decode()
    assert verify(server.requests[0], postback.secret) and json.loads(server.requests[0]["body"])["event"] == "test"
    log = alice_client.get(f"/dashboard/postbacks/{postback.pk}/").content.decode()
    assert "/t?e=test" in log and "200" in log and " ms" in log and "received" in log


@pytest.mark.django_db
@override_settings(POSTBACKS_ALLOW_PRIVATE=True)
def test_after_a_rotation_both_secrets_sign_until_the_old_one_expires(alice, receiver):
    from conversions.postbacks.services import postback_signature_header

    server = receiver()
    postback = postback_create(partner=alice, url=server.url + "/")
    old = postback.secret

    new = postback_secret_rotate(postback=postback)
    from conversions.postbacks.services import postback_test_send

    postback_test_send(postback=postback)

    request = server.requests[0]
    assert new != old and verify(request, new) and verify(request, old)
    later = timezone.now() + timedelta(hours=25)
    header = postback_signature_header(postback=postback, timestamp=1, body=b"{}", now=later)
    assert header.count("v1=") == 1


@pytest.mark.django_db
@override_settings(POSTBACKS_ALLOW_PRIVATE=False)
@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000/hook?c={click_id}", "http://localhost/hook", "https://10.0.0.7/in", "http://[::1]/x"],
)
def test_a_postback_to_a_loopback_or_private_address_is_refused_on_save(alice_client, alice, url):
    response = alice_client.post("/dashboard/postbacks/", {"url": url, "on_created": "on"})

    assert response.status_code == 200 and "Postbacks to this address are refused" in response.content.decode()
    assert not PartnerPostback.objects.filter(partner=alice).exists()


@pytest.mark.django_db
def test_the_partner_manages_postbacks_from_the_dashboard(alice_client, alice):
    response = alice_client.post(
        "/dashboard/postbacks/",
        {"url": "https://hooks.example.com/in?cid={click_id}", "on_created": "on", "on_status_changed": "on"},
    )
    postback = PartnerPostback.objects.get(partner=alice)
    assert response["Location"] == f"/dashboard/postbacks/{postback.pk}/"
    assert postback.secret in alice_client.get(f"/dashboard/postbacks/{postback.pk}/secret").content.decode()

    refused = alice_client.post("/dashboard/postbacks/", {"url": "https://hooks.example.com/x"})
    assert "Choose at least one event." in refused.content.decode()

    alice_client.post(f"/dashboard/postbacks/{postback.pk}/delete")
    assert not PartnerPostback.objects.filter(partner=alice).exists()


@pytest.mark.django_db
def test_no_postbacks_means_nothing_is_enqueued(acme, alice_link, queue, django_capture_on_commit_callbacks):
    click = click_at(alice_link, datetime.now(UTC) - timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        conversion_record(advertiser=acme, report=report(click), channel="api")
    assert PostbackDispatch.objects.count() == 0 and queue.count == 1  # only the processing job
