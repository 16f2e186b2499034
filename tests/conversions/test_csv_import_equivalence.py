"""The CSV importer builds its rows without model instances; they must be the conversions conversion_build makes."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from conversions.attribution import click_attribution, referral_attribution
from conversions.csv_files import csv_table_read
from conversions.csv_import import conversion_row_parse, upload_create, upload_run
from conversions.ingestion import conversion_build
from conversions.models import Conversion, StatusChange
from referrals.models import Click, Partner
from tests.factories import LinkFactory, UserFactory
from tests.upload_helpers import click_on, csv_bytes

pytestmark = pytest.mark.django_db

HEADER = (
    "click_id,referral_code,external_id,type,amount,currency,occurred_at,product_id,quantity,plan,source,meta_coupon"
)


@pytest.fixture
def link(alice, manual_offer):
    return LinkFactory(partner=alice, offer=manual_offer, code="alice-travel")


def expected_conversions(upload, raw: bytes, now) -> dict[str, Conversion]:
    """What the per-row path (the API's attribution and conversion_build) makes of each valid row."""
    advertiser, offer = upload.advertiser, upload.offer
    expected = {}
    for row in csv_table_read(raw).rows():
        report, errors = conversion_row_parse(row, offer=offer, tz=ZoneInfo(advertiser.time_zone))
        assert not errors, errors
        occurred_at = report.occurred_at or now
        if report.click_id:
            attribution = click_attribution(
                advertiser=advertiser,
                click=Click.objects.select_related("offer", "partner").get(click_id=report.click_id),
                occurred_at=occurred_at,
                offer_public_id=offer.public_id,
            )
        else:
            partner = Partner.objects.get(referral_code=report.referral_code.strip().upper())
            attribution = referral_attribution(offer=offer, partner=partner)
        expected[report.external_id] = conversion_build(
            advertiser=advertiser,
            report=report,
            attribution=attribution,
            occurred_at=occurred_at,
            channel=Conversion.Channel.CSV,
            request=None,
            now=now,
        )
    return expected


def test_imported_rows_are_the_conversions_conversion_build_makes(acme, manual_offer, link, alice):
    acme.time_zone = "Europe/Berlin"
    acme.save()
    click_on(link, "a" * 32)
    click_on(link, "b" * 32, age=timedelta(days=45))  # outside the cookie window: stored rejected
    raw = csv_bytes(
        HEADER,
        f"{'a' * 32},,by-click,purchase,120.005,,2026-01-02T10:00:00,sku-1,2,,shop,",
        f"{'b' * 32},,too-late,purchase,5,EUR,,sku-2,,,,",
        ",alice ,by-code,subscription,29.5,JPY,2026-01-02T10:00:00+05:00,,,gold,,SPRING",
        # COPY's text format escapes tabs, line breaks and backslashes; JSON escapes quotes and non-ASCII.
        ',ALICE,odd\\id,purchase,1,,,"a\tb\\c",,"two\nlines",Café,"q""uote\\é"',
    )
    finance = UserFactory(username="acme-finance")
    now = timezone.now()

    upload = upload_create(
        advertiser=acme, kind="conversions", name="o.csv", raw=raw, offer=manual_offer, user=finance, now=now
    )
    upload = upload_run(upload_id=upload.pk, now=now)

    assert (upload.created_count, upload.error_count) == (4, 0)
    expected = expected_conversions(upload, raw, now)
    fields = [f.attname for f in Conversion._meta.concrete_fields if f.attname != "id"]
    for conversion in Conversion.objects.all():
        built = expected[conversion.external_id]
        stored = {name: getattr(conversion, name) for name in fields}
        assert stored == {name: getattr(built, name) for name in fields}, conversion.external_id
        history = list(conversion.status_changes.values_list("from_status", "to_status", "reason", "channel"))
        assert history == [("", built.status, built.status_reason, "csv")]
    assert set(StatusChange.objects.values_list("actor_id", "created_at")) == {(finance.pk, now)}
    odd = Conversion.objects.get(external_id="odd\\id")
    assert (odd.product_id, odd.plan, odd.meta) == ("a\tb\\c", "two\nlines", {"coupon": 'q"uote\\é'})
    rejected = Conversion.objects.get(external_id="too-late")
    assert (rejected.status, rejected.processed_at) == ("rejected", now)


def test_known_external_ids_are_duplicates_also_when_their_rows_no_longer_attribute(acme, manual_offer, alice):
    """Rows are copied straight into the table; a known external id breaks the unique constraint there,
    and the chunk goes again with ON CONFLICT DO NOTHING. A known external id whose row fails attribution
    is a duplicate too, as the API answers a repeat with the first conversion before attributing it."""
    header = "click_id,referral_code,external_id,type,amount,product_id"
    first = upload_run(
        upload_id=upload_create(
            advertiser=acme,
            kind="conversions",
            name="a.csv",
            raw=csv_bytes(header, ",ALICE,o-1,purchase,10,sku", ",ALICE,o-2,purchase,10,sku"),
            offer=manual_offer,
        ).pk
    )
    assert first.created_count == 2
    raw = csv_bytes(
        header,
        ",ALICE,o-3,purchase,1,sku",
        ",ALICE,o-1,purchase,1,sku",  # known, attributes: skipped by the insert
        f"{'0' * 32},,o-2,purchase,1,sku",  # known, its click is unknown: still a duplicate
        f"{'0' * 32},,o-4,purchase,1,sku",  # new, its click is unknown: an error
        ",ALICE,o-5,purchase,1,sku",
    )

    upload = upload_run(
        upload_id=upload_create(advertiser=acme, kind="conversions", name="b.csv", raw=raw, offer=manual_offer).pk
    )

    assert (upload.created_count, upload.duplicate_count, upload.error_count) == (2, 2, 1)
    assert list(upload.row_errors.values_list("row", "column")) == [(5, "click_id")]
    assert sorted(Conversion.objects.values_list("external_id", "amount")) == [
        ("o-1", 10),
        ("o-2", 10),
        ("o-3", 1),
        ("o-5", 1),
    ]
    assert StatusChange.objects.count() == 4
