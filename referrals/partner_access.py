"""A partner's pages: who may see them (a logged-in partner, only their own rows), in which time zone."""

import zoneinfo
from datetime import date, datetime
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.utils import timezone

from referrals.models import Offer, Partner


def partner_tz(partner: Partner) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(partner.time_zone or "UTC")


def partner_today(partner: Partner, now: datetime) -> date:
    return now.astimezone(partner_tz(partner)).date()


def partner_offers(partner: Partner):
    """Offers the partner has a link for: the only ones their pages can show."""
    return Offer.objects.filter(links__partner=partner).order_by("name")


def partner_required(view):
    """Log in first; a login without a partner gets 404. Pages render in the partner's time zone."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        partner = Partner.objects.filter(user=request.user).first()
        if partner is None:
            raise Http404("No partner account.")
        request.partner = partner
        with timezone.override(partner_tz(partner)):
            return view(request, *args, **kwargs)

    return wrapper
