"""The CSV importer: what a finance team's files do, row by row."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from conversions.models import Conversion, ConversionUpload, StatusChange
from conversions.uploads.csv_files import CsvFileInvalid
from conversions.uploads.importing import upload_run
from conversions.uploads.services import upload_create
from tests.factories import LinkFactory, OfferFactory
from tests.upload_helpers import HEADER, click_on, csv_bytes

pytestmark = pytest.mark.django_db


def imported(acme, offer, raw: bytes, **kwargs) -> ConversionUpload:
    upload = upload_create(advertiser=acme, kind="conversions", name="orders.csv", raw=raw, offer=offer, **kwargs)
    return upload_run(upload_id=upload.pk)


def errors_of(upload) -> list[tuple[int, str, str]]:
    return list(upload.row_errors.values_list("row", "column", "reason"))


@pytest.fixture
def link(alice, manual_offer):
    return LinkFactory(partner=alice, offer=manual_offer, code="alice-travel")


def test_valid_rows_by_click_id_and_referral_code_become_pending_conversions(acme, manual_offer, link, alice):
    click_on(link, "a" * 32)
    raw = csv_bytes(
        HEADER,
        f"{'a' * 32},,order-1,purchase,120.00,USD,,sku-1",
        ",alice,inv-2,subscription,29.5,,,",
    )

    upload = imported(acme, manual_offer, raw)

    assert upload.status == "done" and upload.rows_total == upload.rows_done == 2
    assert (upload.created_count, upload.duplicate_count, upload.error_count) == (2, 0, 0)
    by_click = Conversion.objects.get(external_id="order-1")
    assert by_click.partner == alice and by_click.click.click_id == "a" * 32 and by_click.channel == "csv"
    assert by_click.status == "pending" and by_click.amount == Decimal("120.00")
    assert by_click.attribution["step"] == "click_id"
    by_code = Conversion.objects.get(external_id="inv-2")
    assert by_code.offer == manual_offer and by_code.currency == "USD" and by_code.amount == Decimal("29.50")
    assert StatusChange.objects.filter(channel="csv", to_status="pending").count() == 2


def test_an_empty_file_is_refused_with_a_clear_error(acme, manual_offer):
    with pytest.raises(CsvFileInvalid, match="empty"):
        imported(acme, manual_offer, b"")


def test_a_header_without_rows_is_refused(acme, manual_offer):
    with pytest.raises(CsvFileInvalid, match="header but no rows"):
        imported(acme, manual_offer, csv_bytes(HEADER, "", ",,,,"))


@pytest.mark.parametrize(
    ("header", "missing"),
    [
        ("order,price,date", "external_id, type, amount, click_id or referral_code"),
        ("click_id,external_id,type", "amount"),
        ("external_id,type,amount", "click_id or referral_code"),
    ],
)
def test_wrong_or_missing_headers_name_the_missing_columns(acme, manual_offer, header, missing):
    with pytest.raises(CsvFileInvalid, match=f"Missing columns: {missing}"):
        imported(acme, manual_offer, csv_bytes(header, "x,y,z"))
    assert not ConversionUpload.objects.exists()


def test_extra_columns_are_ignored_and_named_and_meta_columns_go_to_meta(acme, manual_offer, alice):
    raw = csv_bytes(
        "referral_code,external_id,type,amount,product_id,warehouse,meta_coupon,meta_channel",
        "ALICE,o-1,purchase,10,sku,north,SPRING10,",
    )

    upload = imported(acme, manual_offer, raw)

    assert upload.ignored_columns == ["warehouse"] and upload.created_count == 1
    assert Conversion.objects.get().meta == {"coupon": "SPRING10"}


def test_bad_dates_are_reported_with_row_column_and_reason(acme, manual_offer, alice):
    raw = csv_bytes(
        "referral_code,external_id,type,amount,product_id,occurred_at",
        "ALICE,o-1,purchase,10,sku,31/03/2025",
        "ALICE,o-2,purchase,10,sku,2025-02-30T10:00:00",
        "ALICE,o-3,purchase,10,sku,2999-01-01T00:00:00Z",
        "ALICE,o-4,purchase,10,sku,2025-03-01T10:00:00Z",
    )

    upload = imported(acme, manual_offer, raw)

    assert upload.created_count == 1 and upload.error_count == 3
    errors = errors_of(upload)
    assert errors[0][:2] == (2, "occurred_at") and "ISO 8601" in errors[0][2]
    assert errors[1][:2] == (3, "occurred_at")
    assert errors[2] == (4, "occurred_at", "Must not be in the future.")


def test_dates_before_2000_or_in_the_future_are_refused_as_the_api_refuses_them(acme, manual_offer, alice):
    next_year = datetime.now(UTC).year + 1
    raw = csv_bytes(
        "referral_code,external_id,type,amount,product_id,occurred_at",
        "ALICE,old,purchase,10,sku,1999-12-31T23:59:00",
        f"ALICE,ahead,purchase,10,sku,{next_year}-01-15T10:00:00",
        "ALICE,fine,purchase,10,sku,2000-01-02T00:00:00",
    )

    upload = imported(acme, manual_offer, raw)

    assert upload.created_count == 1 and upload.error_count == 2
    assert errors_of(upload) == [
        (2, "occurred_at", "Must be 2000-01-01 or later."),
        (3, "occurred_at", "Must not be in the future."),
    ]
    assert Conversion.objects.get().external_id == "fine"


def test_dates_without_an_offset_are_in_the_advertisers_time_zone(acme, manual_offer, alice):
    acme.time_zone = "Asia/Tokyo"
    acme.save()
    raw = csv_bytes(
        "referral_code,external_id,type,amount,product_id,occurred_at",
        "ALICE,naive,purchase,10,sku,2025-03-01T09:00:00",
        "ALICE,offset,purchase,10,sku,2025-03-01T09:00:00-05:00",
        "ALICE,date-only,purchase,10,sku,2025-03-01",
    )

    imported(acme, manual_offer, raw)

    occurred = dict(Conversion.objects.values_list("external_id", "occurred_at"))
    assert occurred["naive"] == datetime(2025, 3, 1, 0, 0, tzinfo=UTC)
    assert occurred["offset"] == datetime(2025, 3, 1, 14, 0, tzinfo=UTC)
    assert occurred["date-only"] == datetime(2025, 2, 28, 15, 0, tzinfo=UTC)


def test_negative_and_non_numeric_amounts_are_row_errors(acme, manual_offer, alice):
    raw = csv_bytes(
        "referral_code,external_id,type,amount,product_id",
        "ALICE,o-1,purchase,-5.00,sku",
        "ALICE,o-2,purchase,12 EUR,sku",
        "ALICE,o-3,purchase,,sku",
        "ALICE,o-4,purchase,12.345,sku",
    )

    upload = imported(acme, manual_offer, raw)

    assert errors_of(upload) == [
        (2, "amount", "Must be zero or more."),
        (3, "amount", "A valid number is required."),
        (4, "amount", "Required."),
    ]
    assert Conversion.objects.get().amount == Decimal("12.35")  # quantized once, half up


def test_the_api_rules_apply_to_each_row(acme, manual_offer, alice):
    raw = csv_bytes(
        "referral_code,external_id,type,amount,product_id,currency,quantity",
        "ALICE,o-1,purchase,10,,USD,1",
        "ALICE,o-2,gift,10,sku,USD,1",
        "ALICE,o-3,purchase,10,sku,XYZ,1",
        "ALICE,o-4,purchase,10,sku,USD,0",
        "NOBODY,o-5,purchase,10,sku,USD,1",
        ",o-6,purchase,10,sku,USD,1",
    )

    upload = imported(acme, manual_offer, raw)

    assert upload.created_count == 0 and upload.error_count == 6
    assert [(row, column) for row, column, _ in errors_of(upload)] == [
        (2, "product_id"),
        (3, "type"),
        (4, "currency"),
        (5, "quantity"),
        (6, "referral_code"),
        (7, "click_id"),
    ]


def test_unknown_click_ids_and_other_advertisers_clicks_are_row_errors(acme, globex, manual_offer, link, bob):
    foreign_link = LinkFactory(partner=bob, offer=OfferFactory(advertiser=globex))
    click_on(foreign_link, "f" * 32)
    other_offer_link = LinkFactory(partner=bob, offer=OfferFactory(advertiser=acme))
    click_on(other_offer_link, "e" * 32)
    raw = csv_bytes("click_id,external_id,type,amount,product_id", *(f"{c * 32},o-{c},purchase,10,sku" for c in "0fe"))

    upload = imported(acme, manual_offer, raw)

    assert errors_of(upload) == [
        (2, "click_id", "No click has this id."),
        (3, "click_id", "No click with this id is yours."),
        (4, "click_id", "The click was on another offer."),
    ]
    assert not Conversion.objects.exists()


def test_a_click_older_than_the_cookie_window_is_stored_rejected_as_by_the_api(acme, manual_offer, link):
    click_on(link, "b" * 32, age=timedelta(days=45))
    raw = csv_bytes("click_id,external_id,type,amount,product_id", f"{'b' * 32},late,purchase,10,sku")

    imported(acme, manual_offer, raw)

    assert Conversion.objects.get().status_reason == "outside_attribution_window"


def test_duplicates_inside_the_file_and_against_the_database(write_conversions, acme, manual_offer, alice, acme_api):
    acme_api.post(
        "/v1/convert",
        {"type": "purchase", "referral_code": "ALICE", "offer": "acme-travel", "external_id": "api-1", "amount": "5",
         "product_id": "sku"},
        format="json",
    )  # fmt: skip
    raw = csv_bytes(
        "referral_code,external_id,type,amount,product_id",
        "ALICE,o-1,purchase,10,sku",
        "ALICE,o-1,purchase,11,sku",
        "ALICE,api-1,purchase,99,sku",
    )

    upload = imported(acme, manual_offer, raw)

    assert (upload.created_count, upload.duplicate_count, upload.error_count) == (1, 1, 1)
    assert errors_of(upload) == [(3, "external_id", "Repeats the external_id of row 2; only row 2 is imported.")]
    write_conversions()
    assert Conversion.objects.get(external_id="o-1").amount == Decimal("10.00")
    assert Conversion.objects.get(external_id="api-1").amount == Decimal("5.00")


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        (b"\xef\xbb\xbf" + csv_bytes("referral_code,external_id,type,amount,product_id", "ALICE,o-1,purchase,10,Café"),
         "BOM"),
        (csv_bytes("referral_code;external_id;type;amount;product_id", "ALICE;o-1;purchase;10;Café"), "semicolon"),
        (csv_bytes("referral_code,external_id,type,amount,product_id", "ALICE,o-1,purchase,10,Café", newline="\r\n"),
         "CRLF"),
        (csv_bytes("referral_code;external_id;type;amount;product_id", "ALICE;o-1;purchase;10;Café",
                   newline="\r\n", encoding="cp1252"), "Excel"),
    ],
)  # fmt: skip
def test_spreadsheet_encodings_and_delimiters_are_read(acme, manual_offer, alice, raw, name):
    upload = imported(acme, manual_offer, raw)

    assert upload.created_count == 1, name
    assert Conversion.objects.get().product_id == "Café"


def test_binary_garbage_is_refused(acme, manual_offer):
    garbage = bytes(range(256)) * 40

    with pytest.raises(CsvFileInvalid, match="binary data"):
        imported(acme, manual_offer, garbage)


def test_an_identical_file_again_creates_nothing_and_is_recognised(acme, manual_offer, alice):
    raw = csv_bytes("referral_code,external_id,type,amount,product_id", "ALICE,o-1,purchase,10,sku", "ALICE,o-2,x,1,s")
    first = imported(acme, manual_offer, raw)

    second = imported(acme, manual_offer, raw)

    assert first.created_count == 1 and first.identical_to is None
    assert second.identical_to == first
    assert (second.created_count, second.duplicate_count, second.error_count) == (0, 1, 1)
    assert Conversion.objects.count() == 1


def test_running_the_import_job_twice_changes_nothing_the_second_time(acme, manual_offer, alice):
    raw = csv_bytes("referral_code,external_id,type,amount,product_id", "ALICE,o-1,purchase,10,sku", "ALICE,o-2,x,1,s")
    upload = imported(acme, manual_offer, raw)

    again = upload_run(upload_id=upload.pk)

    assert (again.created_count, again.error_count) == (1, 1)
    assert Conversion.objects.count() == 1 and again.row_errors.count() == 1


def test_an_interrupted_import_resumes_after_its_last_committed_chunk(acme, manual_offer, alice, monkeypatch):
    from conversions.uploads import importing

    monkeypatch.setattr(importing, "CHUNK_ROWS", 2)
    real_chunk_import, calls = importing._conversion_chunk_import, []

    def dies_on_the_second_chunk(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return real_chunk_import(**kwargs)

    monkeypatch.setattr(importing, "_conversion_chunk_import", dies_on_the_second_chunk)
    lines = [f"ALICE,o-{n},purchase,10,sku" for n in range(5)]
    upload = upload_create(
        advertiser=acme,
        kind="conversions",
        name="o.csv",
        raw=csv_bytes("referral_code,external_id,type,amount,product_id", *lines),
        offer=manual_offer,
    )
    with pytest.raises(RuntimeError):
        upload_run(upload_id=upload.pk)
    upload.refresh_from_db()
    assert (upload.status, upload.rows_done, upload.created_count) == ("running", 2, 2)

    resumed = upload_run(upload_id=upload.pk)

    assert resumed.status == "done" and resumed.created_count == 5 and resumed.duplicate_count == 0
    assert Conversion.objects.count() == 5


def test_a_row_with_more_cells_than_the_header_is_an_error(acme, manual_offer, alice):
    raw = csv_bytes("referral_code,external_id,type,amount,product_id", "ALICE,o-1,purchase,10,sku,surprise")

    upload = imported(acme, manual_offer, raw)

    assert errors_of(upload) == [(2, "", "The row has more cells than the header has columns.")]


def test_another_advertisers_offer_cannot_be_the_target(acme, globex, alice):
    from conversions.errors import ConversionNotFound

    foreign = OfferFactory(advertiser=globex)

    with pytest.raises(ConversionNotFound):
        imported(acme, foreign, csv_bytes("referral_code,external_id,type,amount,product_id", "A,o,purchase,1,s"))


def test_a_meta_column_over_10_kb_is_a_row_error_and_the_other_rows_import(acme, manual_offer, alice):
    raw = csv_bytes(
        "referral_code,external_id,type,amount,product_id,meta_note",
        f"ALICE,o-1,purchase,10,sku,{'x' * 11_000}",
        "ALICE,o-2,purchase,10,sku,short",
    )

    upload = imported(acme, manual_offer, raw)

    assert [(row, column) for row, column, _ in errors_of(upload)] == [(2, "meta")]
    assert Conversion.objects.get().meta == {"note": "short"}
