"""What a fraud check reads: a `ScreeningContext`, one conversion with what is around it, from a `ScreeningPreload`."""

import json
from bisect import bisect_right
from datetime import datetime, timedelta
from decimal import Decimal

from conversions.models.conversion import Conversion
from referrals.models import Click, Partner

# The windows the preload's queries cover, owned by the checks that read them.
IP_VELOCITY_WINDOW = timedelta(hours=1)
MULTI_PARTNER_WINDOW = timedelta(days=30)


def _json_key(value) -> tuple:
    """A value as jsonb compares it: true is not 1, 1 is 1.0, "1" is neither."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", Decimal(str(value)))
    if isinstance(value, str):
        return ("string", value)
    return ("other", json.dumps(value, sort_keys=True))


def customer_key_of(conversion: Conversion) -> tuple[str, str] | None:
    """The advertiser's customer identity from meta: ("customer_email_sha256" | "customer_id", value)."""
    meta = conversion.meta if isinstance(conversion.meta, dict) else {}
    for name in ("customer_email_sha256", "customer_id"):
        value = meta.get(name)
        if isinstance(value, str | int) and str(value).strip():
            return name, str(value).strip().lower() if name == "customer_email_sha256" else value
    return None


class ScreeningPreload:
    """What the checks of a set of conversions read, loaded with one query per kind for the whole set."""

    def __init__(self, conversions: list[Conversion]) -> None:
        partner_ids = {conversion.partner_id for conversion in conversions if conversion.partner_id}
        self.partners = Partner.objects.select_related("user").in_bulk(partner_ids) if partner_ids else {}
        visitor = [conversion for conversion in conversions if conversion.ip and conversion.ip_from_visitor]
        self.ip_times: dict[str, list[datetime]] = {conversion.ip: [] for conversion in visitor}
        if visitor:
            rows = Conversion.objects.filter(
                ip__in=list(self.ip_times),
                ip_from_visitor=True,
                created_at__gt=min(conversion.created_at for conversion in visitor) - IP_VELOCITY_WINDOW,
                created_at__lte=max(conversion.created_at for conversion in visitor),
            ).order_by("created_at")
            for ip, created_at in rows.values_list("ip", "created_at"):
                self.ip_times[ip].append(created_at)
        click_ids = {conversion.click_id for conversion in conversions if conversion.click_id}
        self.click_partners: dict[int, set[int]] = {click_id: set() for click_id in click_ids}
        if click_ids:
            rows = Conversion.objects.filter(click_id__in=click_ids).exclude(partner_id=None)
            for click_id, partner_id in rows.values_list("click_id", "partner_id"):
                self.click_partners[click_id].add(partner_id)
        wanted: dict[str, list] = {}
        for conversion in conversions:
            if (key := customer_key_of(conversion)) and conversion.partner_id:
                wanted.setdefault(key[0], []).append((conversion, key[1]))
        # name -> (pk, offer_id, created_at, partner_id, value as jsonb compares it) of the customers' conversions
        self.customers: dict[str, list[tuple]] = {}
        for name, items in wanted.items():
            rows = Conversion.objects.filter(
                offer_id__in={conversion.offer_id for conversion, _ in items},
                created_at__gte=min(conversion.created_at for conversion, _ in items) - MULTI_PARTNER_WINDOW,
                **{f"meta__{name}__in": list({_json_key(value): value for _, value in items}.values())},
            ).exclude(partner_id=None)
            self.customers[name] = [
                (*row[:4], _json_key(row[4]))
                for row in rows.values_list("pk", "offer_id", "created_at", "partner_id", f"meta__{name}")
            ]


class ScreeningContext:
    """One conversion and what the checks read around it, from its set's preload."""

    def __init__(self, conversion: Conversion, preload: ScreeningPreload) -> None:
        self.conversion = conversion
        self.click: Click | None = conversion.click if conversion.click_id else None
        self.partner: Partner | None = preload.partners.get(conversion.partner_id)
        self.customer_key = customer_key_of(conversion)
        # The conversion's IP and country only when they are the visitor's, not the reporting server's.
        self.visitor_ip = conversion.ip if conversion.ip_from_visitor else None
        self.visitor_country = conversion.country if conversion.ip_from_visitor else ""
        self.ips = {"conversion": self.visitor_ip, "click": self.click.ip if self.click else None}
        self.countries = {"click": self.click.country if self.click else "", "conversion": self.visitor_country}
        self.ctit_seconds = (conversion.occurred_at - self.click.created_at).total_seconds() if self.click else None
        # Visitor conversions from its IP created in the hour up to its own creation (itself included).
        times, at = preload.ip_times.get(self.visitor_ip, []), conversion.created_at
        self.ip_conversions_in_hour = bisect_right(times, at) - bisect_right(times, at - IP_VELOCITY_WINDOW)
        # The partners of the conversions on its click, and of the offer's other conversions of its customer.
        self.click_partner_ids = set(preload.click_partners.get(conversion.click_id, ()))
        name, value = self.customer_key or ("", None)
        key, since = _json_key(value), at - MULTI_PARTNER_WINDOW
        self.customer_partner_ids = {
            partner_id
            for pk, offer_id, created_at, partner_id, found in preload.customers.get(name, [])
            if found == key and offer_id == conversion.offer_id and created_at >= since and pk != conversion.pk
        }
