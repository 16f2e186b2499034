"""The rollups under concurrent writers and repeated jobs."""

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from conversions.models import ConversionStat
from conversions.processing.pipeline import conversion_process
from referrals.models import ClickStat, ClickSub1Stat
from tests.dashboard.conftest import click_at, convert


@pytest.mark.django_db(transaction=True)
def test_concurrent_clicks_in_one_bucket_all_count(alice_link, alice):
    at = datetime(2026, 3, 10, 9, 1, tzinfo=UTC)
    errors = []

    def clicks():
        try:
            for _ in range(10):
                click_at(alice_link, at, sub1="same")
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=clicks) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert ClickStat.objects.get(partner=alice).clicks == 80
    assert ClickSub1Stat.objects.get(partner=alice, sub1="same").clicks == 80


@pytest.mark.django_db
def test_processing_a_conversion_twice_counts_its_earnings_once(acme, alice, alice_link, rule):
    conversion = convert(acme, click_at(alice_link, datetime(2026, 3, 10, 9, tzinfo=UTC)), external_id="twice")

    conversion_process(conversion_id=conversion.pk)

    rows = ConversionStat.objects.filter(partner=alice)
    assert sum(row.conversions for row in rows) == 1 and sum(row.earnings for row in rows) == Decimal("10.00")


@pytest.mark.django_db
def test_staff_approve_a_join_request_in_the_admin(admin_client, alice_client, alice, other_offer):
    from referrals.models import Link, LinkRequest

    alice_client.post(f"/dashboard/offers/{other_offer.public_id}/join")
    request = LinkRequest.objects.get()

    response = admin_client.post(
        "/admin/referrals/linkrequest/", {"action": "approve", "_selected_action": [request.pk]}, follow=True
    )

    assert "1 request(s) approved; links created." in response.content.decode()
    assert Link.objects.filter(partner=alice, offer=other_offer).exists()
