import itertools
import secrets
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from conversions.fraud.checks import _baselines
from conversions.fraud.datacenter import datacenter_ranges_forget
from conversions.intake.recording import ConversionReport, conversion_record
from conversions.models import Conversion
from conversions.processing.pipeline import conversion_process
from referrals.models import Click
from tests.factories import LinkFactory, RewardRuleFactory

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36"
)
RESIDENTIAL_GB = "81.2.69.160"  # geoip: GB, in no data-centre range
HETZNER_DE = "5.9.10.10"  # in the shipped data-centre list


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    """Each test sees its own data-centre table and baselines, as a newly started worker would."""
    datacenter_ranges_forget()
    _baselines.clear()
    yield
    datacenter_ranges_forget()


@pytest.fixture
def rule(offer):
    return RewardRuleFactory(offer=offer, reward_type="fixed", value=Decimal("5.00"))


@pytest.fixture
def bob_link(bob, offer):
    return LinkFactory(partner=bob, offer=offer, code="bob-shoes")


def click_make(link, *, age=timedelta(minutes=5), now=None, **fields) -> Click:
    return Click.objects.create(
        click_id=secrets.token_hex(16),
        link=link,
        offer=link.offer,
        partner=link.partner,
        created_at=(now or timezone.now()) - age,
        **fields,
    )


_external_ids = itertools.count()


@pytest.fixture
def convert(acme, alice_link, rule):
    """Report a purchase through ingestion (as the API would) and run the processing job on it."""

    def make(
        *,
        link=None,
        click=None,
        click_age=timedelta(minutes=5),
        click_fields=None,
        amount="50.00",
        ip=None,
        user_agent="",
        meta=None,
        process=True,
        now=None,
    ) -> Conversion:
        if click is None:
            click = click_make(link or alice_link, age=click_age, now=now, **(click_fields or {}))
        report = ConversionReport(
            type="purchase",
            external_id=f"order-{next(_external_ids)}",
            amount=Decimal(amount),
            product_id="sku-1",
            click_id=click.click_id,
            ip=ip,
            user_agent=user_agent,
            meta=meta or {},
        )
        conversion, created = conversion_record(advertiser=acme, report=report, channel="api", now=now)
        assert created
        if process:
            conversion_process(conversion_id=conversion.pk, now=now)
        conversion.refresh_from_db()
        return conversion

    return make


@pytest.fixture
def history(acme, alice_link):
    """Accepted conversions of the offer in the past days, with the given amounts and click-to-conversion times."""

    def make(*, amounts, ctits, days_back=10) -> None:
        now = timezone.now()
        rows = []
        for index, (amount, ctit) in enumerate(zip(amounts, ctits, strict=True)):
            occurred_at = now - timedelta(days=days_back) + timedelta(minutes=index)
            click = click_make(alice_link, age=ctit, now=occurred_at)
            rows.append(
                Conversion(
                    advertiser=acme,
                    offer=alice_link.offer,
                    partner=alice_link.partner,
                    click=click,
                    external_id=f"history-{secrets.token_hex(6)}",
                    type="purchase",
                    status=Conversion.Status.ACCEPTED,
                    amount=Decimal(amount),
                    currency="USD",
                    occurred_at=occurred_at,
                    created_at=occurred_at,
                )
            )
        Conversion.objects.bulk_create(rows)

    return make


def signal_of(conversion: Conversion, code: str) -> dict | None:
    return next((signal for signal in conversion.fraud_signals if signal["code"] == code), None)
