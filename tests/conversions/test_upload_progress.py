"""An upload's page tells the truth: rows imported, then conversions processed; what a queued job waits for; the
columns the page lists are the ones the importer checks and the template carries; the summary counts what it did."""

import csv
import io
import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal
from html import unescape
from pathlib import Path

import django_rq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rq import SimpleWorker

from conversions.models import Conversion, ConversionUpload
from conversions.uploads.columns import CONVERSION_FILE, column_names
from conversions.uploads.csv_files import csv_table_read
from conversions.uploads.importing import upload_run
from conversions.uploads.rows import conversion_rows_check
from tests.factories import OfferFactory
from tests.reliability.conftest import test_database_url
from tests.upload_helpers import csv_bytes

HEADER = "referral_code,external_id,type,amount,product_id"


def post_upload(client, raw: bytes, *, offer, kind="conversions", **extra) -> ConversionUpload:
    data = {"kind": kind, "file": SimpleUploadedFile("march.csv", raw, content_type="text/csv"), "offer": offer.pk}
    data.update(extra)
    response = client.post("/advertiser/uploads/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    return ConversionUpload.objects.latest("pk")


def run_jobs(count: int) -> None:
    """A real RQ worker that takes `count` jobs from the queue and stops."""
    queue = django_rq.get_queue("default")
    SimpleWorker([queue], connection=queue.connection).work(burst=True, max_jobs=count)


def progress_of(client, upload) -> dict:
    return client.get(f"/advertiser/uploads/{upload.pk}/progress.json").json()


def page_text(client, url: str) -> str:
    """The page's words as a reader sees them: tags dropped, white space collapsed."""
    html = client.get(url).content.decode()
    return (
        " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())
        .replace(" ;", ";")
        .replace(" )", ")")
        .replace("( ", "(")
    )


# Imported, then processed ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_bar_reaches_100_only_once_the_conversions_are_processed(acme_client, manual_offer, alice):
    raw = csv_bytes(HEADER, "ALICE,o-1,purchase,10,sku", "ALICE,o-2,purchase,20,sku", "ALICE,o-3,purchase,-1,sku")
    upload = post_upload(acme_client, raw, offer=manual_offer)

    queued = progress_of(acme_client, upload)
    run_jobs(1)  # the import only: the processing job it asked for waits in the queue
    imported = progress_of(acme_client, upload)
    page = page_text(acme_client, f"/advertiser/uploads/{upload.pk}/")
    run_jobs(1)  # the processing job
    processed = progress_of(acme_client, upload)

    assert (queued["phase"], queued["rows_done"], queued["percent"], queued["finished"]) == ("queued", 0, 0, False)
    assert imported["status"] == "done" and imported["phase"] == "processing" and not imported["finished"]
    assert (imported["rows_done"], imported["rows_total"]) == (3, 3)
    assert (imported["conversions_processed"], imported["conversions_total"]) == (0, 2)
    assert imported["percent"] == 60  # 3 rows of 3 imported, 0 conversions of 2 processed: 3 of 5
    assert imported["waiting_for"] == "Waiting for a worker: none is running right now; 1 job in the queue."
    assert "imported 3 of 3 rows; processed 0 of 2 conversions" in page and "Processing conversions" in page
    assert processed["phase"] == "done" and processed["percent"] == 100 and processed["finished"]
    assert (processed["conversions_processed"], processed["conversions_total"]) == (2, 2)
    assert Conversion.objects.filter(status="pending").count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_uploads_list_and_the_home_say_an_imported_file_is_still_processing(acme_client, manual_offer, alice):
    upload = post_upload(acme_client, csv_bytes(HEADER, "ALICE,o-1,purchase,10,sku"), offer=manual_offer)
    run_jobs(1)

    listed, home = page_text(acme_client, "/advertiser/uploads/"), page_text(acme_client, "/advertiser/")
    run_jobs(1)
    done = page_text(acme_client, "/advertiser/uploads/")

    assert f"#{upload.pk} march.csv" in listed and "processing: 0 of 1 conversions" in listed
    assert "processing: 0 of 1 conversions" in home  # its recent uploads, as the list says
    assert "processing: 0 of 1" not in done and "done 1 1 0 0 0" in done


@pytest.mark.django_db
def test_a_resumed_import_stamps_its_conversions_with_the_first_start(acme, manual_offer, alice, monkeypatch):
    from conversions.uploads import importing
    from conversions.uploads.services import upload_create, upload_requeue

    monkeypatch.setattr(importing, "CHUNK_ROWS", 2)
    real_chunk_import = importing._conversion_chunk_import

    def dies_on_the_second_chunk(**kwargs):
        if ConversionUpload.objects.get().rows_done == 2:
            raise RuntimeError("worker killed")
        return real_chunk_import(**kwargs)

    monkeypatch.setattr(importing, "_conversion_chunk_import", dies_on_the_second_chunk)
    raw = csv_bytes(HEADER, *(f"ALICE,o-{n},purchase,10,sku" for n in range(4)))
    upload = upload_create(advertiser=acme, kind="conversions", offer=manual_offer, name="a.csv", raw=raw)
    with pytest.raises(RuntimeError):
        upload_run(upload_id=upload.pk)
    started = ConversionUpload.objects.get().started_at
    monkeypatch.setattr(importing, "_conversion_chunk_import", real_chunk_import)
    upload_requeue(upload=upload)

    resumed = upload_run(upload_id=upload.pk, now=started + timedelta(hours=1))

    assert resumed.status == "done" and resumed.started_at == started and resumed.created_count == 4
    assert set(Conversion.objects.values_list("created_at", flat=True)) == {started}


# What a queued job waits for -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_queued_upload_names_the_jobs_ahead_and_that_no_worker_runs(acme_client, manual_offer, alice, globex):
    theirs = OfferFactory(advertiser=globex, public_id="globex-x", track_type="manual")
    from conversions.uploads.services import upload_create

    other = upload_create(
        advertiser=globex, kind="conversions", offer=theirs, name="g.csv", raw=csv_bytes(HEADER, "X,g-1,purchase,1,s")
    )
    first = post_upload(acme_client, csv_bytes(HEADER, "ALICE,o-1,purchase,10,sku"), offer=manual_offer)
    second = post_upload(acme_client, csv_bytes(HEADER, "ALICE,o-2,purchase,10,sku"), offer=manual_offer)

    words = progress_of(acme_client, second)["waiting_for"]
    page = page_text(acme_client, f"/advertiser/uploads/{second.pk}/")
    run_jobs(2)  # the other advertiser's import and the first: now the second is next
    next_words = progress_of(acme_client, second)["waiting_for"]

    assert words == (
        "Waiting for a worker: none is running right now; 2 jobs ahead in the queue "
        f"(the import of your upload #{first.pk}, the import of another file)."
    )
    assert f"#{other.pk}" not in words and words in page and "Queued" in page
    assert next_words == "Waiting for a worker: none is running right now; it is next in the queue."


@pytest.mark.django_db(transaction=True)
def test_an_upload_whose_job_the_queue_lost_says_so(acme_client, manual_offer, alice):
    upload = post_upload(acme_client, csv_bytes(HEADER, "ALICE,o-1,purchase,10,sku"), offer=manual_offer)
    django_rq.get_connection("default").flushdb()

    progress = progress_of(acme_client, upload)

    assert progress["phase"] == "queued"
    assert progress["waiting_for"] == "The import is not in the job queue. Ask us to run it again."


@pytest.mark.django_db(transaction=True)
def test_another_advertiser_cannot_read_the_progress(client, globex_user, acme_client, manual_offer):
    upload = post_upload(acme_client, csv_bytes(HEADER, "ALICE,o-1,purchase,10,sku"), offer=manual_offer)
    client.force_login(globex_user)

    assert client.get(f"/advertiser/uploads/{upload.pk}/progress.json").status_code == 404


# The columns: one definition for the page, the template and the importer -----------------------


@pytest.mark.django_db
def test_the_page_lists_product_id_as_required_for_a_purchase_as_the_importer_refuses_it(
    acme_client, manual_offer, alice
):
    page = page_text(acme_client, "/advertiser/uploads/")
    upload = upload_run(
        upload_id=post_upload(acme_client, csv_bytes("referral_code,external_id,type,amount", "ALICE,o-1,purchase,10"),
                              offer=manual_offer).pk
    )  # fmt: skip

    assert "product_id required for a purchase Your SKU" in page and "product_id optional" not in page
    assert list(upload.row_errors.values_list("column", "reason")) == [("product_id", "Required for a purchase.")]
    for column in CONVERSION_FILE:
        assert f"{column.name} {column.need_words} {column.holds}" in page, column.name


@pytest.mark.django_db
def test_the_template_has_the_pages_columns_and_its_rows_pass_the_importers_checks(acme_client, manual_offer):
    response = acme_client.get("/advertiser/offers/acme-travel/template.csv")
    header, *rows = csv.reader(io.StringIO(response.content.decode()))
    upload = ConversionUpload(advertiser=manual_offer.advertiser, offer=manual_offer, kind="conversions")

    checked = conversion_rows_check(upload=upload, rows=list(csv_table_read(response.content).rows()), seen={})

    assert header == [*column_names("conversions"), "meta_coupon"]
    assert [row[header.index("type")] for row in rows] == ["purchase", "subscription"]
    assert checked.errors == [] and len(checked.valid) == 2


@pytest.mark.django_db
def test_the_adjustments_and_reconciliation_templates_follow_their_columns(acme_client):
    adjustments = list(
        csv.reader(io.StringIO(acme_client.get("/advertiser/adjustments/template.csv").content.decode()))
    )
    reconciliation = acme_client.get("/advertiser/reconciliation/template.csv").content.decode().split()

    assert adjustments[0] == column_names("adjustments") and adjustments[2][:3] == [
        "order-1002",
        "rejected",
        "Order returned within 14 days",
    ]
    assert reconciliation == ["external_id,amount", "order-1001,120.00"]


# The summary counts what was created -----------------------------------------------------------


@pytest.mark.django_db
def test_a_file_whose_every_row_was_refused_says_nothing_was_created(acme_client, manual_offer, alice):
    raw = csv_bytes(HEADER, *(f"ALICE,o-{n},purchase,10," for n in range(3)))
    upload = upload_run(upload_id=post_upload(acme_client, raw, offer=manual_offer).pk)

    page = page_text(acme_client, f"/advertiser/uploads/{upload.pk}/")

    assert upload.created_count == 0 and upload.error_count == 3
    assert "Valid rows were imported" not in page
    assert "0 conversions created, 3 rows refused (download the errors)." in page
    assert "Nothing was imported: fix the refused rows and upload the file again." in page


@pytest.mark.django_db
def test_the_summary_counts_created_duplicates_and_refused_rows(acme_client, manual_offer, alice):
    post_upload_run = lambda raw: upload_run(upload_id=post_upload(acme_client, raw, offer=manual_offer).pk)  # noqa: E731
    post_upload_run(csv_bytes(HEADER, "ALICE,o-1,purchase,10,sku"))
    upload = post_upload_run(
        csv_bytes(HEADER, "ALICE,o-1,purchase,10,sku", "ALICE,o-2,purchase,5,sku", "ALICE,o-3,x,5,sku")
    )

    page = page_text(acme_client, f"/advertiser/uploads/{upload.pk}/")

    assert "1 conversion created, 1 duplicate skipped (already imported), 1 row refused (download the errors)." in page
    assert "the rows that went through are not counted twice" in page


# What a queued job waits for, with a worker busy -----------------------------------------------

RELEASE_KEY = "tests:upload-progress:release"


def job_waits_for_release() -> None:
    """A long job on the worker: it runs until the test sets RELEASE_KEY (at most 30 s)."""
    connection = django_rq.get_connection("default")
    for _ in range(300):
        if connection.get(RELEASE_KEY):
            return
        time.sleep(0.1)


job_waits_for_release.__test__ = False


@pytest.mark.django_db(transaction=True)
def test_an_upload_behind_new_conversions_says_it_waits_for_their_processing(acme_client, manual_offer, alice):
    post_upload(acme_client, csv_bytes(HEADER, "ALICE,o-1,purchase,10,sku"), offer=manual_offer)
    run_jobs(1)  # the first import: it asks for its conversions to be processed
    reconciliation = post_upload(acme_client, csv_bytes("external_id,amount", "o-1,10"), offer=manual_offer,
                                 kind="reconciliation", billing_month="2026-12")  # fmt: skip

    words = progress_of(acme_client, reconciliation)["waiting_for"]

    assert (
        words
        == "Waiting for a worker: none is running right now; 1 job ahead in the queue (processing new conversions)."
    )


@pytest.mark.django_db(transaction=True)
def test_an_upload_says_the_worker_is_busy_with_another_job(acme_client, manual_offer, alice, settings):
    # A TCP host or the embedded server's socket folder, as the worker process needs it.
    database_url = test_database_url()
    django_rq.get_queue("default").enqueue(job_waits_for_release)
    upload = post_upload(acme_client, csv_bytes(HEADER, "ALICE,o-1,purchase,10,sku"), offer=manual_offer)
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "rqworker", "default", "--burst", "--worker-class", "rq.SimpleWorker"],
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "DATABASE_URL": database_url, "MEDIA_ROOT": settings.MEDIA_ROOT, "LOG_FORMAT": "console"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):  # until the worker has taken the long job
            words = progress_of(acme_client, upload)["waiting_for"]
            if "busy" in words:
                break
            time.sleep(0.1)
    finally:
        django_rq.get_connection("default").set(RELEASE_KEY, 1)
        worker.wait(timeout=60)

    assert words == "Waiting for a worker: it is next in the queue; the worker is busy with another job."
    upload.refresh_from_db()
    assert upload.status == "done" and upload.created_count == 1


@pytest.mark.django_db
def test_an_adjustments_summary_counts_changed_unchanged_and_refused(acme_client, acme, manual_offer, alice):
    from conversions.intake.recording import ConversionReport, conversion_record
    from conversions.processing.pipeline import conversion_process

    for external_id in ("o-1", "o-2"):
        fields = {"referral_code": "ALICE", "offer": "acme-travel", "product_id": "sku"}
        report = ConversionReport(type="purchase", external_id=external_id, amount=Decimal("10.00"), **fields)
        conversion, _ = conversion_record(advertiser=acme, report=report, channel="api")
        conversion_process(conversion_id=conversion.pk)
    raw = csv_bytes("external_id,status,reason", "o-1,rejected,Returned", "o-2,approved,", "nope,approved,")
    first = upload_run(upload_id=post_upload(acme_client, raw, offer=manual_offer, kind="adjustments").pk)
    again = upload_run(upload_id=post_upload(acme_client, raw, offer=manual_offer, kind="adjustments").pk)

    # o-2 is accepted already, but approving it approves its commission at once: a change too.
    first_page = page_text(acme_client, f"/advertiser/uploads/{first.pk}/")
    assert "2 conversions changed, 1 row refused (download" in first_page
    assert "0 conversions changed, 2 conversions unchanged (already as the file says), 1 row refused" in page_text(
        acme_client, f"/advertiser/uploads/{again.pk}/"
    )


@pytest.mark.django_db(transaction=True)
def test_conversions_waiting_for_an_exchange_rate_are_named_as_what_the_upload_waits_for(
    acme_client, manual_offer, alice
):
    raw = csv_bytes(HEADER + ",currency", "ALICE,o-1,purchase,10,sku,GBP", "ALICE,o-2,purchase,10,sku,USD")
    upload = post_upload(acme_client, raw, offer=manual_offer)
    run_jobs(2)  # the import and the processing: the GBP sale has no GBP->USD rate

    progress = progress_of(acme_client, upload)

    assert progress["phase"] == "processing" and not progress["finished"]
    assert (progress["conversions_processed"], progress["conversions_total"]) == (1, 2)
    assert progress["waiting_for"] == (
        "1 conversion waits for an exchange rate; it is processed once the rate is loaded."
    )
