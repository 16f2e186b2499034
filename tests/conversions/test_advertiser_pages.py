"""The advertiser's pages: uploads, validation, adjustments, reconciliation, keys; and the outsider."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from conversions.intake.recording import ConversionReport, conversion_record
from conversions.models import Conversion, ConversionUpload
from conversions.processing.pipeline import conversion_process
from conversions.uploads.importing import upload_run
from referrals.models import ApiKey
from referrals.services import advertiser_for_api_key, secret_digest
from rewards.models import Reward, Transaction
from tests.upload_helpers import csv_bytes

pytestmark = pytest.mark.django_db

CONVERSIONS_HEADER = "referral_code,external_id,type,amount,product_id"


def post_upload(client, raw: bytes, *, kind="conversions", offer=None, name="file.csv", **extra):
    data = {"kind": kind, "file": SimpleUploadedFile(name, raw, content_type="text/csv"), **extra}
    if offer is not None:
        data["offer"] = offer.pk
    return client.post("/advertiser/uploads/", data)


def uploaded(client, raw, **kwargs) -> ConversionUpload:
    response = post_upload(client, raw, **kwargs)
    assert response.status_code == 302, response.content.decode()[:2000]
    upload = ConversionUpload.objects.latest("pk")
    return upload_run(upload_id=upload.pk)


def rows_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


def recorded(advertiser, external_id: str, amount="100.00", *, created_at=None, offer="acme-travel") -> Conversion:
    report = ConversionReport(
        type="purchase", external_id=external_id, amount=Decimal(amount), referral_code="ALICE", offer=offer,
        product_id="sku",
    )  # fmt: skip
    conversion, _ = conversion_record(advertiser=advertiser, report=report, channel="api", now=created_at)
    return conversion


# Uploads through the pages ---------------------------------------------------------------------


def test_the_offers_page_lists_only_the_advertisers_offers(acme_client, manual_offer, globex):
    from tests.factories import OfferFactory

    OfferFactory(advertiser=globex, public_id="globex-secret")

    html = acme_client.get("/advertiser/").content.decode()

    assert "acme-travel" in html and "globex-secret" not in html


def test_the_template_has_the_header_and_an_example_row(acme_client, manual_offer):
    response = acme_client.get("/advertiser/offers/acme-travel/template.csv")

    header, example = rows_of(response)
    assert response["Content-Type"].startswith("text/csv")
    assert header[:6] == ["click_id", "referral_code", "external_id", "type", "amount", "currency"]
    assert "meta_coupon" in header and example[header.index("external_id")] == "order-1001"


def test_an_upload_is_imported_and_its_errors_download_as_escaped_csv(acme_client, manual_offer, alice):
    raw = csv_bytes(CONVERSIONS_HEADER, "ALICE,o-1,purchase,10,sku", "ALICE,o-2,purchase,=HYPERLINK(1),sku")

    upload = uploaded(acme_client, raw, offer=manual_offer)
    page = acme_client.get(f"/advertiser/uploads/{upload.pk}/").content.decode()
    errors = acme_client.get(f"/advertiser/uploads/{upload.pk}/errors.csv")

    assert upload.status == "done" and upload.uploaded_by.username == "acme-finance"
    assert "1</strong> conversions created" in page and "Valid rows were imported" in page
    assert rows_of(errors) == [
        ["row", "column", "value", "external_id", "reason"],
        ["3", "amount", "'=HYPERLINK(1)", "o-2", "A valid number is required."],
    ]


def test_an_oversized_file_is_refused_with_the_limit_named(acme_client, manual_offer, settings):
    settings.CSV_UPLOAD_MAX_BYTES = 1024

    response = post_upload(acme_client, b"a" * 2048, offer=manual_offer)

    assert response.status_code == 200
    assert "the limit is 0.0 MB" in response.content.decode() or "limit is" in response.content.decode()
    assert not ConversionUpload.objects.exists()


def test_a_file_without_the_columns_is_refused_on_the_form(acme_client, manual_offer):
    response = post_upload(acme_client, csv_bytes("order,price", "1,2"), offer=manual_offer)

    assert response.status_code == 200 and "Missing columns" in response.content.decode()
    assert not ConversionUpload.objects.exists()


def test_uploading_the_same_file_again_adds_nothing_and_says_so(acme_client, manual_offer, alice):
    raw = csv_bytes(CONVERSIONS_HEADER, "ALICE,o-1,purchase,10,sku")
    first = uploaded(acme_client, raw, offer=manual_offer)

    second = uploaded(acme_client, raw, offer=manual_offer)
    page = acme_client.get(f"/advertiser/uploads/{second.pk}/").content.decode()

    assert Conversion.objects.count() == 1 and second.duplicate_count == 1 and second.created_count == 0
    assert f'identical to <a href="/advertiser/uploads/{first.pk}/">upload #{first.pk}</a>' in page


@pytest.mark.django_db(transaction=True)
def test_progress_is_reported_while_a_real_worker_imports(
    acme_client, manual_offer, alice, run_worker, queue, monkeypatch
):
    import threading

    from django.db import connections
    from django.test import Client

    monkeypatch.setattr("conversions.uploads.importing.CHUNK_ROWS", 25)
    raw = csv_bytes(CONVERSIONS_HEADER, *(f"ALICE,o-{n},purchase,10,sku" for n in range(300)))
    assert post_upload(acme_client, raw, offer=manual_offer).status_code == 302
    upload = ConversionUpload.objects.get()
    assert queue.count == 1 and acme_client.get(f"/advertiser/uploads/{upload.pk}/progress.json").json() == {
        "status": "queued", "rows_total": 300, "rows_done": 0, "percent": 0, "created": 0, "duplicates": 0,
        "updated": 0, "errors": 0, "finished": False,
    }  # fmt: skip

    seen, stop = [], threading.Event()
    poller = Client()
    poller.force_login(upload.uploaded_by)

    def poll():
        while not stop.is_set():
            seen.append(poller.get(f"/advertiser/uploads/{upload.pk}/progress.json").json()["rows_done"])
            stop.wait(0.005)
        connections.close_all()

    thread = threading.Thread(target=poll)
    thread.start()
    run_worker()
    stop.set()
    thread.join()

    final = acme_client.get(f"/advertiser/uploads/{upload.pk}/progress.json").json()
    assert final["status"] == "done" and final["percent"] == 100 and final["created"] == 300 and final["finished"]
    assert any(0 < done < 300 for done in seen), seen
    assert seen == sorted(seen)
    # The created conversions were processed in batches by the same worker.
    assert Conversion.objects.filter(status="accepted").count() == 300


# Validation -----------------------------------------------------------------------------------


@pytest.fixture
def travel_conversions(acme, manual_offer, alice):
    """Three conversions in the term (one accepted with a reward) and one whose term has ended."""
    manual_offer.validation_term_days = 30
    manual_offer.save()
    accepted = recorded(acme, "acc-1")
    conversion_process(conversion_id=accepted.pk)
    pending = recorded(acme, "pend-1", "50.00")
    suspicious = recorded(acme, "sus-1")
    Conversion.objects.filter(pk=suspicious.pk).update(status="suspicious")
    old = recorded(acme, "old-1", created_at=timezone.now() - timedelta(days=40))
    return {"accepted": accepted, "pending": pending, "suspicious": suspicious, "old": old}


def test_the_validation_list_shows_conversions_inside_the_term_filterable(acme_client, travel_conversions):
    html = acme_client.get("/advertiser/validation/").content.decode()
    filtered = acme_client.get("/advertiser/validation/", {"status": "suspicious"}).content.decode()

    assert "acc-1" in html and "pend-1" in html and "sus-1" in html and "old-1" not in html
    assert "sus-1" in filtered and "acc-1" not in filtered


def test_rejecting_with_a_reason_reverses_the_reward_and_the_publisher_sees_the_reason(
    acme_client, acme_user, travel_conversions
):
    accepted = travel_conversions["accepted"]

    response = acme_client.post(
        "/advertiser/validation/",
        {"conversion": [str(accepted.pk)], "decision": "reject", "reason": "Order returned"},
    )

    accepted.refresh_from_db()
    assert response.status_code == 302
    assert accepted.status == "rejected" and accepted.status_remark == "Order returned"
    assert accepted.status_reason == "advertiser_rejected"
    change = accepted.status_changes.last()
    assert change.actor == acme_user and change.channel == "advertiser"
    assert Reward.objects.get(conversion_id=accepted.pk).status == "reversed"
    assert Transaction.objects.filter(kind="reversal").count() == 1


def test_rejecting_without_a_reason_is_refused(acme_client, travel_conversions):
    pending = travel_conversions["pending"]

    acme_client.post("/advertiser/validation/", {"conversion": [str(pending.pk)], "decision": "reject", "reason": ""})

    pending.refresh_from_db()
    assert pending.status == "pending"


def test_a_suspicious_conversion_is_held_by_the_network_not_approved_on_the_page(acme_client, travel_conversions):
    suspicious = travel_conversions["suspicious"]
    body = {"conversion": [str(suspicious.pk)], "decision": "approve", "reason": ""}

    acme_client.post("/advertiser/validation/", body)

    suspicious.refresh_from_db()
    assert suspicious.status == "suspicious" and not Reward.objects.filter(conversion_id=suspicious.pk).exists()


def test_a_conversion_past_its_validation_term_cannot_be_rejected(acme_client, travel_conversions):
    old = travel_conversions["old"]

    response = acme_client.post(
        "/advertiser/validation/", {"conversion": [str(old.pk)], "decision": "reject", "reason": "late"}, follow=True
    )

    old.refresh_from_db()
    assert old.status == "pending" and "validation term ended" in response.content.decode()


# Adjustments ----------------------------------------------------------------------------------


def test_an_adjustments_csv_approves_rejects_and_reports_bad_rows(acme_client, travel_conversions):
    raw = csv_bytes(
        "external_id,status,reason,amount",
        "sus-1,approved,,",
        "acc-1,rejected,Cancelled by the customer,100.00",
        "pend-1,rejected,,",
        "nope,approved,,",
        "old-1,rejected,too late,",
        "pend-1,approved,,-80.00",
        "sus-1,maybe,,",
    )

    upload = uploaded(acme_client, raw, kind="adjustments")

    statuses = dict(Conversion.objects.values_list("external_id", "status"))
    assert statuses["sus-1"] == "accepted" and statuses["acc-1"] == "rejected" and statuses["pend-1"] == "pending"
    assert Conversion.objects.get(external_id="acc-1").status_remark == "Cancelled by the customer"
    assert (upload.updated_count, upload.error_count) == (2, 5)
    assert [(row, column) for row, column in upload.row_errors.values_list("row", "column")] == [
        (4, "reason"),
        (5, "external_id"),
        (6, "status"),
        (7, "amount"),
        (8, "external_id"),
    ]


def test_the_same_adjustments_file_twice_changes_nothing_the_second_time(acme_client, travel_conversions):
    raw = csv_bytes("external_id,status,reason", "acc-1,rejected,Cancelled")
    uploaded(acme_client, raw, kind="adjustments")

    second = uploaded(acme_client, raw, kind="adjustments")

    assert (second.updated_count, second.unchanged_count, second.error_count) == (0, 1, 0)
    assert Transaction.objects.filter(kind="reversal").count() == 1


# Reconciliation -------------------------------------------------------------------------------


def test_reconciliation_sorts_orders_into_matched_theirs_ours_and_amount_differences(
    acme_client, acme, manual_offer, alice
):
    month = timezone.now().date().replace(day=1)
    recorded(acme, "both-same", "10.00")
    recorded(acme, "both-diff", "20.00")
    recorded(acme, "ours-only", "30.00")
    raw = csv_bytes("external_id,amount", "both-same,10", "both-diff,25.50", "theirs-only,5", "bad,-1")

    upload = uploaded(acme_client, raw, kind="reconciliation", billing_month=month.strftime("%Y-%m"))
    download = rows_of(acme_client.get(f"/advertiser/uploads/{upload.pk}/reconciliation.csv"))

    assert upload.summary == {"matched": 1, "amount_differs": 1, "only_theirs": 1, "only_ours": 1}
    assert upload.error_count == 1
    by_id = {row[0]: row for row in download[1:]}
    assert by_id["both-diff"][1:5] == ["amount_differs", "25.50", "20.0000", "5.5000"]
    assert by_id["theirs-only"][1] == "only_theirs" and by_id["ours-only"][1] == "only_ours"


# API keys and postback -------------------------------------------------------------------------


def test_an_api_key_is_shown_once_and_can_be_revoked(acme_client, acme):
    acme_client.post("/advertiser/api-keys/", {"name": "shop backend"})
    first = acme_client.get("/advertiser/api-keys/").content.decode()
    again = acme_client.get("/advertiser/api-keys/").content.decode()

    key = ApiKey.objects.get(advertiser=acme, name="shop backend")
    raw = first.split('<code id="secret-value">')[1].split("</code>")[0]
    assert secret_digest(raw) == key.key_hash and advertiser_for_api_key(raw) == acme
    assert raw not in again

    acme_client.post(f"/advertiser/api-keys/{key.pk}/revoke/")

    assert advertiser_for_api_key(raw) is None


def test_the_postback_url_carries_a_new_token_once(acme_client, acme):
    acme_client.post("/advertiser/postback/")
    first = acme_client.get("/advertiser/postback/", {"type": "subscription"}).content.decode()
    again = acme_client.get("/advertiser/postback/").content.decode()

    acme.refresh_from_db()
    token = first.split('<code id="secret-value">')[1].split("</code>")[0]
    assert secret_digest(token) == acme.postback_token_hash
    assert f"/v1/postback?token={token}&amp;click_id={{click_id}}" in first and "type=subscription" in first
    assert token not in again and "YOUR_POSTBACK_TOKEN" in again


# The outsider ---------------------------------------------------------------------------------


def test_another_advertiser_gets_404_for_everything_of_acme(client, globex_user, acme_client, travel_conversions):
    acme_upload = uploaded(acme_client, csv_bytes("external_id,status,reason", "x,approved,"), kind="adjustments")
    acme_key = ApiKey.objects.create(advertiser=acme_upload.advertiser, name="k", prefix="ak_x", key_hash="h" * 64)
    client.force_login(globex_user)
    pending = travel_conversions["pending"]

    for url in [
        "/advertiser/offers/acme-travel/template.csv",
        f"/advertiser/uploads/{acme_upload.pk}/",
        f"/advertiser/uploads/{acme_upload.pk}/progress.json",
        f"/advertiser/uploads/{acme_upload.pk}/errors.csv",
        f"/advertiser/uploads/{acme_upload.pk}/reconciliation.csv",
    ]:
        assert client.get(url).status_code == 404, url
    assert client.post(f"/advertiser/api-keys/{acme_key.pk}/revoke/").status_code == 404
    decided = client.post(
        "/advertiser/validation/", {"conversion": [str(pending.pk)], "decision": "reject", "reason": "mine now"}
    )
    assert decided.status_code == 404
    pending.refresh_from_db()
    acme_key.refresh_from_db()
    assert pending.status == "pending" and acme_key.revoked_at is None
    assert "acc-1" not in client.get("/advertiser/validation/").content.decode()
    assert "acme-travel" not in client.get("/advertiser/").content.decode()
    # Nor can Globex upload into Acme's offer.
    manual_offer = pending.offer
    refused = post_upload(client, csv_bytes(CONVERSIONS_HEADER, "ALICE,o,purchase,1,s"), offer=manual_offer)
    assert refused.status_code == 200 and not ConversionUpload.objects.filter(advertiser__name="Globex").exists()


def test_a_partner_or_anonymous_user_cannot_open_advertiser_pages(client, alice):
    assert client.get("/advertiser/").status_code == 302  # to the login page
    client.force_login(alice.user)
    assert client.get("/advertiser/").status_code == 404
