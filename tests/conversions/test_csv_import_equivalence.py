"""The CSV importer builds its rows without model instances; they must be the conversions conversion_build makes."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from conversions import csv_import
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
    )
    finance = UserFactory(username="acme-finance")
    now = timezone.now()

    upload = upload_create(
        advertiser=acme, kind="conversions", name="o.csv", raw=raw, offer=manual_offer, user=finance, now=now
    )
    upload = upload_run(upload_id=upload.pk, now=now)

    assert (upload.created_count, upload.error_count) == (3, 0)
    expected = expected_conversions(upload, raw, now)
    fields = [f.attname for f in Conversion._meta.concrete_fields if f.attname != "id"]
    for conversion in Conversion.objects.all():
        built = expected[conversion.external_id]
        stored = {name: getattr(conversion, name) for name in fields}
        assert stored == {name: getattr(built, name) for name in fields}, conversion.external_id
        history = list(conversion.status_changes.values_list("from_status", "to_status", "reason", "channel"))
        assert history == [("", built.status, built.status_reason, "csv")]
    assert set(StatusChange.objects.values_list("actor_id", "created_at")) == {(finance.pk, now)}
    rejected = Conversion.objects.get(external_id="too-late")
    assert (rejected.status, rejected.processed_at) == ("rejected", now)


def test_a_conversion_the_api_stores_during_the_import_is_a_duplicate_not_a_failure(
    acme, manual_offer, alice, monkeypatch
):
    """The import's COPY goes straight into the table; an external id stored after the importer looked
    (a race with the API) breaks the unique constraint, and the chunk falls back to ON CONFLICT DO NOTHING."""
    first = upload_run(
        upload_id=upload_create(
            advertiser=acme,
            kind="conversions",
            name="a.csv",
            raw=csv_bytes("referral_code,external_id,type,amount,product_id", "ALICE,o-1,purchase,10,sku"),
            offer=manual_offer,
        ).pk
    )
    assert first.created_count == 1
    monkeypatch.setattr(csv_import, "_existing_external_ids", lambda advertiser, external_ids: set())
    raw = csv_bytes(
        "referral_code,external_id,type,amount,product_id", *(f"ALICE,o-{n},purchase,1,sku" for n in (2, 1, 3))
    )

    upload = upload_run(
        upload_id=upload_create(advertiser=acme, kind="conversions", name="b.csv", raw=raw, offer=manual_offer).pk
    )

    assert (upload.created_count, upload.duplicate_count, upload.error_count) == (2, 1, 0)
    assert sorted(Conversion.objects.values_list("external_id", "amount")) == [
        ("o-1", 10),
        ("o-2", 1),
        ("o-3", 1),
    ]
    assert StatusChange.objects.count() == 3
