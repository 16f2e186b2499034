"""Fixtures and helpers for the CSV upload tests (import them into a test module)."""

import pytest
from django.utils import timezone

from referrals.models import Click
from tests.factories import OfferFactory, RewardRuleFactory, UserFactory

HEADER = "click_id,referral_code,external_id,type,amount,currency,occurred_at,product_id"


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Uploaded files go to a temporary MEDIA_ROOT."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def manual_offer(acme):
    offer = OfferFactory(advertiser=acme, public_id="acme-travel", track_type="manual", currency="USD")
    RewardRuleFactory(offer=offer, reward_type="percentage", value="4", max_reward="100.00")
    return offer


@pytest.fixture
def acme_user(acme):
    user = UserFactory(username="acme-finance")
    acme.members.add(user)
    return user


@pytest.fixture
def globex_user(globex):
    user = UserFactory(username="globex-finance")
    globex.members.add(user)
    return user


@pytest.fixture
def acme_client(client, acme_user):
    client.force_login(acme_user)
    return client


def click_on(link, click_id: str, *, age=None) -> Click:
    return Click.objects.create(
        click_id=click_id,
        link=link,
        offer=link.offer,
        partner=link.partner,
        created_at=timezone.now() - (age or timezone.timedelta(hours=1)),
    )


def csv_bytes(*lines: str, newline: str = "\n", encoding: str = "utf-8") -> bytes:
    return (newline.join(lines) + newline).encode(encoding)
