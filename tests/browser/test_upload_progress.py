"""In a real browser: an upload's page says "imported" and then "processed" with both counts, what a queued
upload waits for, and reaches 100% only once its conversions are processed by a real RQ worker."""

import re

import django_rq
import pytest
from playwright.sync_api import expect
from rq import SimpleWorker

from tests.factories import UserFactory
from tests.upload_helpers import csv_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def run_jobs(count: int) -> None:
    """A real RQ worker that takes `count` jobs from the queue and stops."""
    queue = django_rq.get_queue("default")
    SimpleWorker([queue], connection=queue.connection).work(burst=True, max_jobs=count)


def log_in(page, url: str) -> None:
    page.goto(f"{url}/accounts/login/")
    page.get_by_label("Username").fill("acme-finance")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{url}/advertiser/")


def test_an_upload_shows_imported_then_processed_and_100_only_when_processed(
    browser_page, live_server, acme, manual_offer, alice, screenshots
):
    page = browser_page
    acme.members.add(UserFactory(username="acme-finance", password="correct horse battery"))
    raw = csv_bytes(
        "referral_code,external_id,type,amount,product_id",
        *(f"ALICE,order-{n},purchase,{n}.50,sku-{n}" for n in range(1, 31)),
        "ALICE,order-no-sku,purchase,3.00,",
    )
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/advertiser/uploads/")
    product_id = page.get_by_role("row", name=re.compile(r"^product_id"))
    expect(product_id).to_contain_text("required for a purchase")

    page.get_by_label("What the file holds").select_option("conversions")
    page.get_by_label("Offer").select_option(value=str(manual_offer.pk))
    page.get_by_label("CSV file").set_input_files(files=[{"name": "march.csv", "mimeType": "text/csv", "buffer": raw}])
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(re.compile(r"/advertiser/uploads/\d+/$"))

    # Queued: no worker runs yet, and the page says so.
    expect(page.locator("#upload-phase")).to_have_text("Queued")
    expect(page.locator("#upload-progress-text")).to_contain_text("imported 0 of 31 rows")
    expect(page.locator("#upload-processed")).to_be_hidden()  # no conversions yet to count
    expect(page.locator("#upload-waiting")).to_have_text(
        "Waiting for a worker: none is running right now; it is next in the queue."
    )
    screenshots(page, "upload-detail-queued")

    run_jobs(1)  # the import only; the processing job it asked for waits in the queue

    expect(page.locator("#upload-phase")).to_have_text("Processing conversions")
    text = page.locator("#upload-progress-text")
    expect(text).to_contain_text("imported 31 of 31 rows")
    expect(text).to_contain_text("processed 0 of 30 conversions")
    assert int(page.locator("#upload-bar").get_attribute("value")) < 100
    expect(page.locator("#upload-waiting")).to_have_text(
        "Waiting for a worker: none is running right now; 1 job in the queue."
    )
    expect(page.locator("#upload-summary")).to_contain_text(
        "30 conversions created, 1 row refused (download the errors)"
    )
    screenshots(page, "upload-detail-processing")
    page.goto(f"{live_server.url}/advertiser/uploads/")
    expect(page.locator(".upload-status").first).to_have_text("processing: 0 of 30 conversions")
    screenshots(page, "upload-list-processing")
    page.go_back()

    run_jobs(1)  # the processing job

    expect(page.locator("#upload-phase")).to_have_text("Done")
    expect(page.locator("#upload-progress-text")).to_contain_text("processed 30 of 30 conversions")
    assert page.locator("#upload-bar").get_attribute("value") == "100"
    expect(page.locator("#upload-waiting")).to_be_hidden()
    screenshots(page, "upload-detail-done")
    page.goto(f"{live_server.url}/advertiser/uploads/")
    expect(page.locator(".upload-status").first).to_have_text("done")
    screenshots(page, "upload-list")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the status is seen without scrolling sideways
    box = page.locator(".upload-status").first.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
