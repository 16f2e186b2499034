from datetime import timedelta

import pytest
from django.utils import timezone

from conversions.intake.request_log import payload_redact, request_log_prune
from conversions.intake.requests import request_log_replay
from conversions.models import Conversion, RequestLogEntry
from referrals.models import Click

pytestmark = pytest.mark.django_db


def test_secrets_are_redacted_at_any_depth():
    assert payload_redact({"token": "t", "amount": "1", "meta": {"api_key": "k", "x": 1}}) == {
        "token": "[redacted]",
        "amount": "1",
        "meta": {"api_key": "[redacted]", "x": 1},
    }


def test_a_request_refused_for_an_unknown_click_is_replayed_after_the_click_arrives(
    write_conversions, acme_api, alice_link
):
    body = {"type": "purchase", "click_id": "late" * 8, "external_id": "r-1", "amount": "5", "product_id": "p"}
    assert acme_api.post("/v1/convert", body, format="json").status_code == 400
    entry = RequestLogEntry.objects.get()
    assert entry.reason == "unknown_click"
    Click.objects.create(
        click_id="late" * 8,
        link=alice_link,
        offer=alice_link.offer,
        partner=alice_link.partner,
        created_at=timezone.now() - timedelta(minutes=5),
    )

    result = request_log_replay(entry_id=entry.pk)
    again = request_log_replay(entry_id=entry.pk)

    assert result.startswith("created") and again.startswith("already existed")
    write_conversions()
    assert Conversion.objects.get().external_id == "r-1"
    entry.refresh_from_db()
    assert entry.replayed_at is not None and entry.replay_result.startswith("already existed")


def test_a_pixel_is_replayed_with_its_click_cookie(write_conversions, client, alice_link):
    client.get("/c/alice-shoes")
    client.get("/v1/pixel.gif", {"offer": "acme-shoes", "external_id": "px", "amount": "-1", "product_id": "p"})
    entry = RequestLogEntry.objects.get()
    entry.payload = {**entry.payload, "amount": "1"}  # the advertiser fixed the tag; staff replay the fixed request
    entry.save()

    assert request_log_replay(entry_id=entry.pk).startswith("created")
    write_conversions()
    assert Conversion.objects.get().partner == alice_link.partner


def test_entries_older_than_the_retention_are_pruned(acme_api, settings):
    settings.REQUEST_LOG_RETENTION_DAYS = 30
    acme_api.post("/v1/convert", {"type": "refund"}, format="json")
    acme_api.post("/v1/convert", {"type": "refund"}, format="json")
    RequestLogEntry.objects.filter(pk=RequestLogEntry.objects.first().pk).update(
        created_at=timezone.now() - timedelta(days=31)
    )

    assert request_log_prune(now=timezone.now()) == 1
    assert RequestLogEntry.objects.count() == 1


def test_staff_replay_from_the_admin(write_conversions, admin_client, acme_api, alice_link):
    body = {"type": "purchase", "click_id": "late" * 8, "external_id": "r-2", "amount": "5", "product_id": "p"}
    acme_api.post("/v1/convert", body, format="json")
    Click.objects.create(
        click_id="late" * 8,
        link=alice_link,
        offer=alice_link.offer,
        partner=alice_link.partner,
        created_at=timezone.now(),
    )
    entry = RequestLogEntry.objects.get()

    page = admin_client.get(f"/admin/conversions/requestlogentry/{entry.pk}/change/")
    response = admin_client.post(
        "/admin/conversions/requestlogentry/",
        {"action": "replay_selected", "_selected_action": [entry.pk]},
        follow=True,
    )

    assert page.status_code == 200 and "late" * 8 in page.content.decode()
    assert "1 created a conversion" in response.content.decode()
    write_conversions()
    assert Conversion.objects.filter(external_id="r-2").exists()


def test_the_scheduled_prune_run_twice_removes_only_what_is_old(acme_api, acme):
    from conversions.models import IdempotencyKey, UsedSignature
    from conversions.processing.jobs import prune_ingestion_records

    acme_api.post("/v1/convert", {"type": "refund"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    UsedSignature.objects.create(advertiser=acme, signature="a" * 64, created_at=timezone.now() - timedelta(hours=1))
    UsedSignature.objects.create(advertiser=acme, signature="b" * 64, created_at=timezone.now())
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))

    first = prune_ingestion_records()
    second = prune_ingestion_records()

    assert first == {"idempotency_keys": 1, "used_signatures": 1, "request_log": 0}
    assert second == {"idempotency_keys": 0, "used_signatures": 0, "request_log": 0}
    assert RequestLogEntry.objects.count() == 1 and UsedSignature.objects.count() == 1
