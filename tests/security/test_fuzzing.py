"""Fuzzing, bounded by example counts: arbitrary postback query strings never get a 5xx, and arbitrary
bytes or rows never make the CSV reader raise anything but CsvFileInvalid or a row error."""

from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from conversions.uploads.csv_files import CsvFileInvalid, CsvRow, csv_table_read
from conversions.uploads.rows import conversion_row_parse
from conversions.uploads.services import upload_file_check
from referrals.services import postback_token_rotate

pytestmark = pytest.mark.django_db

NAMES = st.sampled_from(
    [
        "click_id", "referral_code", "external_id", "type", "amount", "currency", "occurred_at", "offer", "coupon",
        "quantity", "product_id", "ip", "user_agent", "meta", "meta_x", "meta_", "plan", "subscription_id", "token",
        "signature", "source", "category", "x", "",
    ]
)  # fmt: skip
VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["1e400", "NaN", "-0", "9" * 40, "0.0000001", "purchase", "subscription", "2026-02-30T25:00",
                     "\x00", "%", "%ZZ", "[]", "{}", "USD", "usd", "ALICE", "a" * 300]),
)  # fmt: skip
QUERY = st.lists(st.tuples(NAMES, VALUES), max_size=12)


@pytest.fixture
def postback_client(acme, offer, alice):
    token = postback_token_rotate(advertiser=acme)
    return APIClient(), token


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=QUERY, raw_tail=st.text(max_size=30))
def test_no_postback_query_string_gets_a_server_error(postback_client, pairs, raw_tail):
    client, token = postback_client
    query = "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in pairs)
    # Plus the odd undecoded tail: broken escapes, bare names, repeated separators.
    url = f"/v1/postback?token={token}&{query}&{quote(raw_tail, safe='=&%')}"

    response = client.get(url)

    assert response.status_code < 500, (url, response.content[:300])


@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=400))
def test_arbitrary_bytes_are_a_table_or_a_clear_file_error(raw):
    try:
        table = csv_table_read(raw)
        list(table.rows())
    except CsvFileInvalid as error:
        assert str(error)


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from([*'abc,;"\r\n\t =+-@1.', "é", "\ufeff", "\u2028"]),
        max_size=200,
    )
)
def test_arbitrary_text_passes_or_fails_the_upload_check_with_a_message(text):
    for kind in ("conversions", "adjustments", "reconciliation"):
        try:
            upload_file_check(("external_id,amount,status,type\n" + text).encode(), kind)
        except CsvFileInvalid as error:
            assert str(error)


ROW_COLUMNS = ["click_id", "referral_code", "external_id", "type", "amount", "currency", "occurred_at", "product_id",
               "quantity", "coupon", "meta_coupon", "ip", "user_agent"]  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.dictionaries(st.sampled_from(ROW_COLUMNS), VALUES, max_size=len(ROW_COLUMNS)))
def test_an_arbitrary_row_is_a_report_or_row_errors_never_an_exception(offer, values):
    report, errors = conversion_row_parse(CsvRow(number=2, values=values), offer=offer, tz=ZoneInfo("UTC"))

    assert (report is None) == bool(errors) or (report is not None and not errors)
    for error in errors:
        assert error.row == 2 and error.reason


@pytest.mark.parametrize("raw", [b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf", b"\xff\xfe\x00", b"\xef\xbb\xbf \r\n"])
def test_a_byte_order_mark_alone_or_broken_utf16_is_a_file_error(raw):
    """Found by the fuzzer: these raised StopIteration and UnicodeDecodeError (a 500 on the upload page)."""
    with pytest.raises(CsvFileInvalid):
        csv_table_read(raw)
