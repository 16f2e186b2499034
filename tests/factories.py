from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from referrals.models import Advertiser, Link, Offer, Partner
from referrals.services import api_key_create, link_create
from rewards.models import RewardRule


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("password")


class AdvertiserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Advertiser

    name = factory.Sequence(lambda n: f"Advertiser {n}")


class OfferFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Offer

    advertiser = factory.SubFactory(AdvertiserFactory)
    public_id = factory.Sequence(lambda n: f"offer-{n}")
    name = factory.Sequence(lambda n: f"Offer {n}")
    destination_url = "https://shop.example/landing?cid={click_id}&s1={sub1}"
    currency = "USD"


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner

    user = factory.SubFactory(UserFactory)
    referral_code = factory.Sequence(lambda n: f"REF{n}")


class LinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Link

    partner = factory.SubFactory(PartnerFactory)
    offer = factory.SubFactory(OfferFactory)
    code = factory.Sequence(lambda n: f"code{n}")


class RewardRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RewardRule

    offer = factory.SubFactory(OfferFactory)
    name = factory.Sequence(lambda n: f"Rule {n}")
    reward_type = RewardRule.RewardType.FIXED
    value = Decimal("5.00")
    currency = "USD"
    created_at = factory.LazyFunction(timezone.now)


def api_key_for(advertiser: Advertiser) -> str:
    return api_key_create(advertiser=advertiser)[1]


def link_for(partner: Partner, offer: Offer) -> Link:
    return link_create(partner=partner, offer=offer)
