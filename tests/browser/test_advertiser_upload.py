"""In a real browser: an advertiser logs in, uploads a CSV, watches the import finish, downloads the errors."""

import csv
import io
import re

import pytest

from conversions.models import Conversion, ConversionUpload
from tests.factories import UserFactory
from tests.upload_helpers import csv_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_advertiser_uploads_a_csv_and_downloads_its_errors(
    browser_page, live_server, acme, manual_offer, alice, run_worker, tmp_path
):
    page = browser_page
    acme.members.add(UserFactory(username="acme-finance", password="correct horse battery"))
    raw = csv_bytes(
        "referral_code,external_id,type,amount,currency,occurred_at,product_id",
        *(f"ALICE,order-{n},purchase,{n}.50,USD,2025-03-0{n % 9 + 1}T10:00:00,sku-{n}" for n in range(1, 41)),
        "ALICE,order-bad,purchase,-3,USD,,sku",
        "ALICE,order-date,purchase,3,USD,yesterday,sku",
    )

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("acme-finance")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/advertiser/")
    page.get_by_role("link", name=re.compile("Upload to")).first.click()

    page.get_by_label("What the file holds").select_option("conversions")
    page.get_by_label("CSV file").set_input_files(files=[{"name": "march.csv", "mimeType": "text/csv", "buffer": raw}])
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(re.compile(r"/advertiser/uploads/\d+/$"))
    bar = page.locator("#upload-bar")
    assert bar.get_attribute("value") == "0" and "0 of 42 rows" in page.locator("#upload-progress-text").inner_text()

    run_worker()  # the page keeps polling while the worker imports

    page.locator("#upload-phase", has_text="Done").wait_for()  # imported, then processed
    assert page.locator("#upload-bar").get_attribute("value") == "100"
    assert page.locator("#result-created").inner_text() == "40"
    assert page.locator("#result-errors").inner_text() == "2"
    assert "40 conversions created, 2 rows refused" in page.locator("#upload-summary").inner_text()

    with page.expect_download() as download_info:
        page.locator("#errors-download").click()
    path = tmp_path / "errors.csv"
    download_info.value.save_as(path)
    rows = list(csv.reader(io.StringIO(path.read_text())))

    assert rows[0] == ["row", "column", "value", "external_id", "reason"]
    assert rows[1] == ["42", "amount", "'-3", "order-bad", "Must be zero or more."]
    assert rows[2][:2] == ["43", "occurred_at"]
    assert ConversionUpload.objects.get().status == "done" and Conversion.objects.count() == 40


def test_the_upload_page_the_template_and_the_importer_say_the_same_and_the_summary_counts_what_was_created(
    browser_page, live_server, acme, manual_offer, alice, run_worker, tmp_path
):
    page = browser_page
    acme.members.add(UserFactory(username="acme-finance", password="correct horse battery"))
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("acme-finance")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/advertiser/")

    with page.expect_download() as download_info:
        page.get_by_role("link", name=f"Template for {manual_offer.name}").click()
    path = tmp_path / "template.csv"
    download_info.value.save_as(path)
    template_header = next(csv.reader(io.StringIO(path.read_text())))
    page.get_by_role("link", name="Uploads").first.click()
    columns = page.get_by_role("table", name="Columns of a new-conversions file")
    columns.locator("xpath=ancestor::details").evaluate("details => details.open = true")
    listed = dict(
        zip(
            columns.locator("tbody td code").all_inner_texts(),
            columns.locator("tbody td:nth-child(2)").all_inner_texts(),
            strict=True,
        )
    )

    assert "purchase" in listed["product_id"].lower()  # what the importer requires, the page says
    assert set(template_header) - {"meta_coupon"} <= set(listed)

    raw = csv_bytes("referral_code,external_id,type,amount,currency,product_id", "ALICE,o-1,purchase,10,USD,")
    page.get_by_label("What the file holds").select_option("conversions")
    page.get_by_label("Offer").select_option(label=f"{manual_offer.name} ({manual_offer.public_id})")
    page.get_by_label("CSV file").set_input_files(files=[{"name": "no-sku.csv", "mimeType": "text/csv", "buffer": raw}])
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(re.compile(r"/advertiser/uploads/\d+/$"))
    run_worker()
    page.locator("#upload-phase", has_text="Done").wait_for()

    summary = page.locator("#upload-summary").inner_text()
    assert "0 conversions created, 1 row refused" in summary and "Nothing was imported" in summary
    assert "Required for a purchase." in page.locator("table", has_text="Reason").inner_text()
