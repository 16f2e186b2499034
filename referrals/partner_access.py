"""Who may see the dashboard: a logged-in partner, and only their own rows."""

import zoneinfo
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.utils import timezone

from referrals.models import Partner


def partner_required(view):
    """Log in first; a login without a partner gets 404. Pages render in the partner's time zone."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        partner = Partner.objects.filter(user=request.user).first()
        if partner is None:
            raise Http404("No partner account.")
        request.partner = partner
        timezone.activate(zoneinfo.ZoneInfo(partner.time_zone or "UTC"))
        try:
            return view(request, *args, **kwargs)
        finally:
            timezone.deactivate()

    return wrapper
