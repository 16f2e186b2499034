"""A 100k-row CSV with 1% bad rows, through the import job: 99,000 imported, 1,000 row errors with their
row numbers, and the same file again adds nothing. (Processing the 99,000 new conversions is the
sweeper's and W3's business, not this proof's: their jobs are left in the queue.)"""

import pytest

from conversions.models import Conversion, ConversionUpload
from conversions.uploads.importing import upload_run
from conversions.uploads.services import upload_create

pytestmark = pytest.mark.django_db
ROWS = 100_000


def big_file() -> bytes:
    lines = ["referral_code,external_id,type,amount,product_id"]
    for n in range(ROWS):
        amount = "not-a-number" if n % 100 == 0 else f"{10 + n % 90}.{n % 100:02d}"
        lines.append(f"ALICE,big-{n},purchase,{amount},sku")
    return ("\n".join(lines) + "\n").encode()


def test_100k_rows_with_1_percent_bad_import_99000_and_again_nothing(acme, alice, manual_offer):
    raw = big_file()

    first = upload_create(advertiser=acme, kind="conversions", name="big.csv", raw=raw, offer=manual_offer)
    first = upload_run(upload_id=first.pk)

    assert first.status == ConversionUpload.Status.DONE and first.rows_done == ROWS
    assert first.created_count == 99_000 and first.error_count == 1_000
    assert Conversion.objects.filter(offer=manual_offer).count() == 99_000
    rows_with_errors = sorted(first.row_errors.values_list("row", flat=True))
    assert rows_with_errors[:3] == [2, 102, 202]  # header is row 1; every hundredth row has a bad amount
    assert set(first.row_errors.values_list("column", flat=True)) == {"amount"}

    again = upload_create(advertiser=acme, kind="conversions", name="big-again.csv", raw=raw, offer=manual_offer)
    again = upload_run(upload_id=again.pk)

    assert again.created_count == 0 and again.identical_to_id == first.pk
    assert Conversion.objects.filter(offer=manual_offer).count() == 99_000
