import itertools
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from conversions.intake.recording import ConversionReport, conversion_record
from conversions.processing.pipeline import conversion_process
from referrals.request_metadata import RequestMetadata
from referrals.services import ClickRequest, click_record
from tests.factories import LinkFactory, OfferFactory, RewardRuleFactory

_visitors = itertools.count(1)


def click_at(link, at: datetime, *, ip: str | None = None, **sub_ids):
    """A click through the real click service (so the rollup counts it); each from a new visitor
    unless `ip` says otherwise (one visitor clicking again within the hour is not unique)."""
    ip = ip or f"203.0.{next(_visitors) // 250 % 250}.{next(_visitors) % 250}"
    request = ClickRequest(metadata=RequestMetadata(ip=ip, user_agent="test"), referer="", sub_ids=sub_ids)
    return click_record(link=link, request=request, now=at)


def convert(advertiser, click, *, external_id: str, amount: str = "100.00", at: datetime | None = None, **fields):
    """A conversion through ingestion and processing, as the API and the worker would make it."""
    at = at or click.created_at + timedelta(minutes=5)
    report = ConversionReport(
        type=fields.pop("type", "purchase"),
        external_id=external_id,
        amount=Decimal(amount),
        click_id=click.click_id,
        product_id="sku",
        occurred_at=at,
        **fields,
    )
    conversion, _ = conversion_record(advertiser=advertiser, report=report, channel="api", now=at)
    conversion_process(conversion_id=conversion.pk, now=at + timedelta(seconds=30))
    conversion.refresh_from_db()
    return conversion


@pytest.fixture
def rule(offer):
    """10% of the amount, any conversion."""
    return RewardRuleFactory(offer=offer, reward_type="percentage", value=Decimal("10"))


@pytest.fixture
def bob_link(bob, offer):
    return LinkFactory(partner=bob, offer=offer, code="bob-shoes")


@pytest.fixture
def other_offer(acme):
    return OfferFactory(advertiser=acme, public_id="acme-hats", name="Acme Hats", currency="USD")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice.user)
    return client


@pytest.fixture
def bob_client(client, bob):
    client.force_login(bob.user)
    return client
