"""Every channel's conversions reach the publisher's numbers: the conversion report's count, rows, pages and
totals, the home page's count and EPC, and the performance report, for one conversion and for many.

Each channel is driven as its users drive it (HTTP requests, the claim desk, the upload pages), the
import and processing run on a real RQ worker, and the numbers are compared with the tables themselves.
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from math import ceil
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import F, Sum
from django.test import Client
from django.utils import timezone

from conversions.claims.services import claim_approve, claim_submit
from conversions.models import Conversion
from core.money import money_quantize
from referrals.models import Click
from referrals.services import postback_token_rotate
from rewards.models import Reward
from tests.dashboard.conftest import click_at
from tests.factories import RewardRuleFactory, UserFactory
from tests.upload_helpers import csv_bytes

pytestmark = pytest.mark.django_db(transaction=True)

AMOUNT = Decimal("40.00")
PAGE_SIZE = 50  # conversions/reports/views.py
MANY_REQUESTS = 55  # more than a page of the report
MANY_ROWS = 2500  # more than a chunk of the import (set to 1,000 below)


@dataclass
class Setup:
    client: Client
    acme_api: object
    acme: object
    alice: object
    alice_link: object
    clicks: list


def purchase(number: int, click_id: str) -> dict:
    return {
        "type": "purchase",
        "click_id": click_id,
        "external_id": f"o-{number}",
        "amount": "40.00",
        "product_id": "p",
    }


def via_api(setup: Setup, count: int) -> None:
    for n in range(count):
        response = setup.acme_api.post("/v1/convert", purchase(n, setup.clicks[n % 5].click_id), format="json")
        assert response.status_code == 202


def via_postback(setup: Setup, count: int) -> None:
    token = postback_token_rotate(advertiser=setup.acme)
    for n in range(count):
        response = setup.client.get(
            f"/v1/postback?{urlencode({'token': token, **purchase(n, setup.clicks[0].click_id)})}"
        )
        assert response.status_code == 202


def via_pixel(setup: Setup, count: int) -> None:
    # The browser's click cookie attributes it; the buyer shopped a few minutes after the click.
    click_id = setup.client.get("/c/alice-shoes").cookies["atc_acme-shoes"].value
    Click.objects.filter(click_id=click_id).update(created_at=F("created_at") - timedelta(minutes=10))
    for n in range(count):
        response = setup.client.get(
            "/v1/pixel.gif", {"offer": "acme-shoes", "external_id": f"o-{n}", "amount": "40.00", "product_id": "p"}
        )
        assert response.status_code == 200


def via_claims(setup: Setup, count: int) -> None:
    for n in range(count):
        claim = claim_submit(
            partner=setup.alice,
            offer=setup.alice_link.offer,
            order_id=f"o-{n}",
            purchase_date=timezone.localdate(),
            amount=AMOUNT,
        )
        claim_approve(claim_id=claim.pk)


def _conversions_file(setup: Setup, count: int) -> bytes:
    occurred = (timezone.now() - timedelta(minutes=1)).isoformat()
    rows = [
        f"{setup.clicks[n % 5].click_id},,o-{n},purchase,40.00,{occurred},p"
        if n % 2
        else f",{setup.alice.referral_code},o-{n},purchase,40.00,{occurred},p"
        for n in range(count)
    ]
    return csv_bytes("click_id,referral_code,external_id,type,amount,occurred_at,product_id", *rows)


def via_csv_upload(setup: Setup, count: int) -> None:
    member = UserFactory(username="acme-finance")
    setup.acme.members.add(member)
    setup.client.force_login(member)
    upload = SimpleUploadedFile("sales.csv", _conversions_file(setup, count), content_type="text/csv")
    response = setup.client.post(
        "/advertiser/uploads/", {"kind": "conversions", "offer": setup.alice_link.offer.pk, "file": upload}
    )
    assert response.status_code == 302


def via_staff_upload(setup: Setup, count: int) -> None:
    setup.client.force_login(UserFactory(username="staff", is_staff=True, is_superuser=True))
    upload = SimpleUploadedFile("sales.csv", _conversions_file(setup, count))
    response = setup.client.post(
        "/admin/conversions/conversionupload/add/",
        {
            "advertiser": setup.acme.pk,
            "kind": "conversions",
            "offer": setup.alice_link.offer.pk,
            "billing_month": "",
            "upload_file": upload,
        },
    )
    assert response.status_code == 302


CHANNELS = [
    pytest.param(send, count, id=f"{send.__name__}-{count}")
    for sends, many in (
        ((via_api, via_postback, via_pixel, via_claims), MANY_REQUESTS),
        ((via_csv_upload, via_staff_upload), MANY_ROWS),
    )
    for send in sends
    for count in (1, many)
]


@pytest.fixture
def setup(client, acme_api, acme, alice, alice_link, monkeypatch):
    monkeypatch.setattr("conversions.uploads.importing.CHUNK_ROWS", 1000)
    RewardRuleFactory(offer=alice_link.offer, reward_type="percentage", value=Decimal("10"))
    # Real clicks (the click service counts them in the rollups), ten minutes before the sales.
    ago = timezone.now() - timedelta(minutes=10)
    return Setup(client, acme_api, acme, alice, alice_link, [click_at(alice_link, ago) for _ in range(5)])


@pytest.mark.parametrize(("send", "count"), CHANNELS)
def test_each_channels_conversions_are_in_the_publishers_report_home_and_performance(
    write_conversions, setup, run_worker, send, count
):
    send(setup, count)
    write_conversions()
    run_worker()

    alice = setup.alice
    assert Conversion.objects.filter(partner=alice).count() == count
    earned = Reward.objects.filter(partner=alice).exclude(status="reversed").aggregate(total=Sum("amount"))["total"]
    earnings = [("USD", earned.quantize(Decimal("0.01")))] if earned else []
    clicks = Click.objects.filter(partner=alice).count()
    publisher = Client()
    publisher.force_login(alice.user)

    report = publisher.get("/dashboard/conversions/")
    totals, page = report.context["totals"], report.context["page"]
    pages = ceil(count / PAGE_SIZE)
    assert totals.conversions == count and page.paginator.num_pages == pages
    assert totals.amounts == [("USD", AMOUNT * count)] and totals.rewards == earnings
    last = publisher.get("/dashboard/conversions/", {"page": pages}).context["page"]
    assert len(page.object_list) == min(count, PAGE_SIZE) and len(last.object_list) == count - PAGE_SIZE * (pages - 1)
    assert {row.partner_id for row in [*page.object_list, *last.object_list]} == {alice.pk}

    home = publisher.get("/dashboard/").context["total"]
    assert (home.clicks, home.conversions, home.earnings_list) == (clicks, count, earnings)
    assert home.epc == ([("USD", money_quantize(earned / clicks, "USD"))] if earned else [])

    performance = publisher.get("/dashboard/performance/").context["total"]
    assert (performance.clicks, performance.conversions, performance.earnings_list) == (clicks, count, earnings)
