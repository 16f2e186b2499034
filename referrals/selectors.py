"""Reads of advertisers, offers, partners, links and clicks."""

from referrals import hot_cache
from referrals.click_buffer import buffered_clicks_insert
from referrals.models import Click, Link, Offer, Partner


def partner_for_referral_code(code: str) -> Partner | None:
    return Partner.objects.filter(referral_code=code.strip().upper()).first()


def offer_for_public_id(public_id: str) -> Offer | None:
    return Offer.objects.select_related("advertiser").filter(public_id=public_id).first()


def click_for_click_id(click_id: str) -> Click | None:
    """The click with this id; one still in the Redis click buffer is written to the table first."""
    clicks = Click.objects.select_related("offer__advertiser", "partner", "link")
    click = clicks.filter(click_id=click_id).first()
    if click is None and click_id and buffered_clicks_insert([click_id]):
        click = clicks.filter(click_id=click_id).first()
    return click


def link_for_code(code: str) -> Link | None:
    """The link behind `/c/<code>` with its offer; cached per process (referrals/hot_cache.py), read-only."""
    return hot_cache.links_by_code.get_or_load(
        code, lambda: Link.objects.select_related("offer").filter(code=code).first()
    )
