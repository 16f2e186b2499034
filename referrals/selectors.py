"""Reads of advertisers, offers, partners, links and clicks."""

from referrals.models import Click, Offer, Partner


def partner_for_referral_code(code: str) -> Partner | None:
    return Partner.objects.filter(referral_code=code.strip().upper()).first()


def offer_for_public_id(public_id: str) -> Offer | None:
    return Offer.objects.select_related("advertiser").filter(public_id=public_id).first()


def click_for_click_id(click_id: str) -> Click | None:
    return Click.objects.select_related("offer__advertiser", "partner", "link").filter(click_id=click_id).first()
