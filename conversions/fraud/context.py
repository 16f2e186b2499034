"""What a fraud check is, what it reads and what it returns.

A check (see checks.py) looks at a `ScreeningContext` (one conversion with its click, offer and
partner; in a batch, answered from a `ScreeningPreload`) and returns a `Signal` or None.
"""

import json
import math
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property

from conversions.models.conversion import Conversion
from referrals.models import Click, Offer, Partner

# The windows the context's counting queries use, owned by the checks that read them.
IP_VELOCITY_WINDOW = timedelta(hours=1)
MULTI_PARTNER_WINDOW = timedelta(days=30)


class ThresholdInvalid(ValueError):
    pass


@dataclass(frozen=True)
class Signal:
    code: str
    score: int
    evidence: dict

    def as_json(self, *, action: str) -> dict:
        return {"code": self.code, "score": self.score, "action": action, "evidence": self.evidence}


def _json_key(value) -> tuple:
    """A value as jsonb compares it: true is not 1, 1 is 1.0, "1" is neither."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", Decimal(str(value)))
    if isinstance(value, str):
        return ("string", value)
    return ("other", json.dumps(value, sort_keys=True))


CUSTOMER_KEYS = ("customer_email_sha256", "customer_id")


class ScreeningPreload:
    """What the checks of a whole batch read, loaded with one query per kind instead of one per conversion.

    Each answer is the one the per-conversion query gives (ScreeningContext's methods), computed from the
    rows of all the batch's conversions at once: a batch screens exactly as one-by-one processing does.
    """

    def __init__(self, conversions: list[Conversion]) -> None:
        partner_ids = {conversion.partner_id for conversion in conversions if conversion.partner_id}
        self.partners = Partner.objects.select_related("user").in_bulk(partner_ids) if partner_ids else {}
        self._ip_times = self._ip_times_load(conversions)
        click_ids = {conversion.click_id for conversion in conversions if conversion.click_id}
        self._click_partners: dict[int, set[int]] = {click_id: set() for click_id in click_ids}
        if click_ids:
            rows = Conversion.objects.filter(click_id__in=click_ids).exclude(partner_id=None)
            for click_id, partner_id in rows.values_list("click_id", "partner_id"):
                self._click_partners[click_id].add(partner_id)
        self._customers = self._customers_load(conversions)

    @staticmethod
    def _ip_times_load(conversions: list[Conversion]) -> dict[str, list[datetime]]:
        visitor = [conversion for conversion in conversions if conversion.ip and conversion.ip_from_visitor]
        if not visitor:
            return {}
        times: dict[str, list[datetime]] = {conversion.ip: [] for conversion in visitor}
        rows = Conversion.objects.filter(
            ip__in=list(times),
            ip_from_visitor=True,
            created_at__gt=min(conversion.created_at for conversion in visitor) - IP_VELOCITY_WINDOW,
            created_at__lte=max(conversion.created_at for conversion in visitor),
        )
        for ip, created_at in rows.values_list("ip", "created_at"):
            times[ip].append(created_at)
        for values in times.values():
            values.sort()
        return times

    @staticmethod
    def _customers_load(conversions: list[Conversion]) -> dict[str, list[tuple]]:
        wanted: dict[str, list] = {}
        for conversion in conversions:
            key = customer_key_of(conversion)
            if key is not None and conversion.partner_id:
                wanted.setdefault(key[0], []).append((conversion, key[1]))
        found: dict[str, list[tuple]] = {}
        for name, items in wanted.items():
            rows = (
                Conversion.objects.filter(
                    offer_id__in={conversion.offer_id for conversion, _ in items},
                    created_at__gte=min(conversion.created_at for conversion, _ in items) - MULTI_PARTNER_WINDOW,
                    **{f"meta__{name}__in": list({_json_key(value): value for _, value in items}.values())},
                )
                .exclude(partner_id=None)
                .values_list("pk", "offer_id", "created_at", "partner_id", f"meta__{name}")
            )
            found[name] = [
                (pk, offer_id, created_at, partner_id, _json_key(value))
                for (pk, offer_id, created_at, partner_id, value) in rows
            ]
        return found

    def ip_conversions_in_hour(self, ip: str, until: datetime) -> int:
        times = self._ip_times[ip]
        return bisect_right(times, until) - bisect_right(times, until - IP_VELOCITY_WINDOW)

    def click_partner_ids(self, click_id: int) -> set[int]:
        return set(self._click_partners[click_id])

    def customer_partner_ids(self, conversion: Conversion, name: str, value, since: datetime) -> set[int]:
        key = _json_key(value)
        return {
            partner_id
            for pk, offer_id, created_at, partner_id, found in self._customers.get(name, [])
            if found == key and offer_id == conversion.offer_id and created_at >= since and pk != conversion.pk
        }


def customer_key_of(conversion: Conversion) -> tuple[str, str] | None:
    """The advertiser's customer identity from meta: ("customer_email_sha256" | "customer_id", value)."""
    meta = conversion.meta if isinstance(conversion.meta, dict) else {}
    for name in CUSTOMER_KEYS:
        value = meta.get(name)
        if isinstance(value, str | int) and str(value).strip():
            return name, str(value).strip().lower() if name == "customer_email_sha256" else value
    return None


@dataclass
class ScreeningContext:
    """One conversion and what the checks read around it (from a batch's preload when there is one)."""

    conversion: Conversion
    now: datetime
    preload: ScreeningPreload | None = None

    @cached_property
    def click(self) -> Click | None:
        return self.conversion.click if self.conversion.click_id else None

    @cached_property
    def offer(self) -> Offer:
        return self.conversion.offer

    @cached_property
    def partner(self) -> Partner | None:
        if not self.conversion.partner_id:
            return None
        if self.preload is not None:
            return self.preload.partners[self.conversion.partner_id]
        return Partner.objects.select_related("user").get(pk=self.conversion.partner_id)

    def ip_conversions_in_hour(self, ip: str) -> int:
        """Visitor conversions from the IP created in the hour up to this one's creation (itself included)."""
        until = self.conversion.created_at
        if self.preload is not None:
            return self.preload.ip_conversions_in_hour(ip, until)
        return Conversion.objects.filter(
            ip=ip, ip_from_visitor=True, created_at__gt=until - IP_VELOCITY_WINDOW, created_at__lte=until
        ).count()

    def click_partner_ids(self) -> set[int]:
        """The partners of every conversion on this one's click."""
        if self.preload is not None:
            return self.preload.click_partner_ids(self.conversion.click_id)
        rows = Conversion.objects.filter(click_id=self.click.pk).exclude(partner_id=None)
        return set(rows.values_list("partner_id", flat=True))

    def customer_partner_ids(self, name: str, value, since: datetime) -> set[int]:
        """The partners of the offer's other conversions of this customer since `since`."""
        conversion = self.conversion
        if self.preload is not None:
            return self.preload.customer_partner_ids(conversion, name, value, since)
        rows = (
            Conversion.objects.filter(offer_id=conversion.offer_id, created_at__gte=since, **{f"meta__{name}": value})
            .exclude(partner_id=None)
            .exclude(pk=conversion.pk)
        )
        return set(rows.values_list("partner_id", flat=True))

    @property
    def visitor_ip(self) -> str | None:
        """The conversion's IP when it is the visitor's, not the reporting server's."""
        return self.conversion.ip if self.conversion.ip_from_visitor else None

    @property
    def visitor_country(self) -> str:
        return self.conversion.country if self.conversion.ip_from_visitor else ""

    @property
    def ctit_seconds(self) -> float | None:
        if self.click is None:
            return None
        return (self.conversion.occurred_at - self.click.created_at).total_seconds()

    @property
    def customer_key(self) -> tuple[str, str] | None:
        return customer_key_of(self.conversion)


def _positive_number(value, *, name: str = "threshold") -> float:
    if isinstance(value, bool):
        raise ThresholdInvalid(f"{name} must be a number.")
    try:
        number = float(Decimal(str(value)))
    except ArithmeticError:
        raise ThresholdInvalid(f"{name} must be a number.") from None
    if not math.isfinite(number) or number <= 0:
        raise ThresholdInvalid(f"{name} must be a positive number.")
    return number


@dataclass(frozen=True)
class Check:
    code: str
    title: str
    score: int  # how much a signal adds to the conversion's fraud score (total capped at 100)
    default_threshold: object = None
    default_enabled: bool = True
    default_action: str = "flag"
    configurable: bool = True
    threshold_help: str = ""

    def threshold_parse(self, value):
        """The threshold to use: a positive number, or for checks with several knobs an object of them."""
        if isinstance(self.default_threshold, dict):
            if isinstance(value, int | float | str) and not isinstance(value, bool):
                # A bare number sets the first (main) knob.
                value = {next(iter(self.default_threshold)): value}
            if not isinstance(value, dict):
                raise ThresholdInvalid(f"Give an object with keys {sorted(self.default_threshold)}.")
            unknown = set(value) - set(self.default_threshold)
            if unknown:
                raise ThresholdInvalid(f"Unknown keys {sorted(unknown)}; known: {sorted(self.default_threshold)}.")
            merged = dict(self.default_threshold)
            merged.update({key: _positive_number(number, name=key) for key, number in value.items()})
            return merged
        if self.default_threshold is None:
            if value not in (None, "", {}):
                raise ThresholdInvalid("This check has no threshold.")
            return None
        return _positive_number(value)

    def run(self, context: ScreeningContext, threshold) -> Signal | None:
        raise NotImplementedError

    def signal(self, **evidence) -> Signal:
        return Signal(code=self.code, score=self.score, evidence=evidence)
