"""Staff upload for an advertiser in the admin, through the same importer."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from conversions.models import Conversion, ConversionUpload
from conversions.uploads.importing import upload_run
from tests.factories import UserFactory
from tests.upload_helpers import csv_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(username="staff", is_staff=True, is_superuser=True))
    return client


def test_staff_upload_conversions_for_an_advertiser_in_the_admin(staff_client, acme, manual_offer, alice):
    raw = csv_bytes("referral_code,external_id,type,amount,product_id", "ALICE,o-1,purchase,10,sku", "ALICE,o-2,x,1,s")

    response = staff_client.post(
        "/admin/conversions/conversionupload/add/",
        {"advertiser": acme.pk, "kind": "conversions", "offer": manual_offer.pk, "billing_month": "",
         "upload_file": SimpleUploadedFile("o.csv", raw)},
    )  # fmt: skip
    upload = upload_run(upload_id=ConversionUpload.objects.get().pk)
    page = staff_client.get(f"/admin/conversions/conversionupload/{upload.pk}/change/").content.decode()
    errors = staff_client.get(f"/admin/conversions/conversionupload/{upload.pk}/errors.csv").content.decode()

    assert response.status_code == 302
    assert upload.advertiser == acme and upload.uploaded_by.username == "staff"
    assert Conversion.objects.get().external_id == "o-1" and upload.error_count == 1
    assert "row 3, type" in page and "row,column,value,external_id,reason" in errors


def test_the_admin_form_shows_why_a_file_is_refused(staff_client, acme, manual_offer):
    response = staff_client.post(
        "/admin/conversions/conversionupload/add/",
        {"advertiser": acme.pk, "kind": "conversions", "offer": manual_offer.pk,
         "upload_file": SimpleUploadedFile("o.csv", b"order,price\n1,2\n")},
    )  # fmt: skip

    assert response.status_code == 200 and "Missing columns" in response.content.decode()
    assert not ConversionUpload.objects.exists()


def test_requeue_runs_a_failed_upload_again_and_leaves_finished_ones(staff_client, acme, manual_offer, alice):
    from conversions.uploads.services import upload_create

    upload = upload_create(
        advertiser=acme, kind="conversions", name="o.csv", offer=manual_offer,
        raw=csv_bytes("referral_code,external_id,type,amount,product_id", "ALICE,o-1,purchase,10,sku"),
    )  # fmt: skip
    ConversionUpload.objects.filter(pk=upload.pk).update(status="failed", failure="worker lost")

    staff_client.post("/admin/conversions/conversionupload/", {"action": "requeue", "_selected_action": [upload.pk]})
    upload.refresh_from_db()

    assert upload.status == "queued" and upload.failure == ""
    assert upload_run(upload_id=upload.pk).created_count == 1
