"""Seed the bench database through the project's services; print what the workloads need as JSON.

Run by `bench/run.py` as `python -m bench.seed --clicks N` with DJANGO_SETTINGS_MODULE=bench.settings.
"""

import argparse
import json
import secrets
from datetime import timedelta
from decimal import Decimal

import django


def seed(*, clicks: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from referrals.models import Advertiser, Click, Offer, Partner
    from referrals.services import api_key_create, link_create, postback_token_rotate
    from rewards.models import RewardRule

    advertiser = Advertiser.objects.create(name="Bench Advertiser")
    _, api_key = api_key_create(advertiser=advertiser, name="bench")
    offer = Offer.objects.create(
        advertiser=advertiser,
        public_id="bench-offer",
        name="Bench Offer",
        destination_url="https://shop.example/landing?cid={click_id}&s1={sub1}",
        currency="USD",
    )
    user = get_user_model().objects.create_user(username="bench-partner", password=None)
    partner = Partner.objects.create(user=user, referral_code="BENCH")
    link = link_create(partner=partner, offer=offer)
    RewardRule.objects.create(
        offer=offer, name="Bench fixed", reward_type=RewardRule.RewardType.FIXED, value=Decimal("5.00"), currency="USD"
    )
    # Conversions attribute by click id, so POST /v1/convert needs real clicks on the advertiser's offer.
    # Plain rows, not click_record(): the click path is what we measure, not what the seed depends on;
    # a minute old, so every conversion falls inside the cookie window.
    created_at = timezone.now() - timedelta(minutes=1)
    seeded = Click.objects.bulk_create(
        Click(
            click_id=secrets.token_hex(16),
            link=link,
            offer=offer,
            partner=partner,
            created_at=created_at,
            ip="127.0.0.1",
            user_agent="bench-seed",
        )
        for _ in range(clicks)
    )
    click_ids = [click.click_id for click in seeded]
    return {
        "api_key": api_key,
        "postback_token": postback_token_rotate(advertiser=advertiser),
        "link_code": link.code,
        "offer": offer.public_id,
        "click_ids": click_ids,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clicks", type=int, default=500)
    args = parser.parse_args()
    django.setup()
    print(json.dumps(seed(clicks=args.clicks)))


if __name__ == "__main__":
    main()
