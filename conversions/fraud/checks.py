"""The fraud checks: each a small unit with a stable code, a default threshold and a score.

A check looks at one conversion (with its click, offer and partner) and returns a
`Signal` with the evidence it saw, or None. What a signal does (flag, reject,
record) is decided per offer by `FraudSetting` rows, read in screening.py.
docs/fraud.md describes every check, its default and how to tune it.
"""

import hashlib
import json
import math
import statistics
import time
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property

from django.db.models import F

from conversions.fraud.datacenter import datacenter_ranges
from conversions.models import Conversion
from referrals.models import Click, Offer, Partner

# Statistics need recent history, but never more than this many rows per conversion.
HISTORY_LIMIT = 500
# An offer's history moves slowly: each process computes a baseline once per offer and hour
# (the history up to the start of the conversion's hour) instead of once per conversion.
BASELINE_TTL_SECONDS = 600
_baselines: dict = {}


def _baseline(key: tuple, compute):
    now = time.monotonic()
    cached = _baselines.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    if len(_baselines) > 5000:
        _baselines.clear()
    value = compute()
    _baselines[key] = (now + BASELINE_TTL_SECONDS, value)
    return value


def _hour_start(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


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
            created_at__gt=min(conversion.created_at for conversion in visitor) - IpVelocity.window,
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
                    created_at__gte=min(conversion.created_at for conversion, _ in items) - MultiPartner.window,
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
        return bisect_right(times, until) - bisect_right(times, until - IpVelocity.window)

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
            ip=ip, ip_from_visitor=True, created_at__gt=until - IpVelocity.window, created_at__lte=until
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


class CtitTooShort(Check):
    def run(self, context, threshold):
        seconds = context.ctit_seconds
        if seconds is None or seconds >= threshold:
            return None
        return self.signal(
            ctit_seconds=round(seconds, 1),
            threshold_seconds=threshold,
            click_at=context.click.created_at.isoformat(),
            occurred_at=context.conversion.occurred_at.isoformat(),
        )


class CtitTooLong(Check):
    def run(self, context, threshold):
        seconds = context.ctit_seconds
        if seconds is None or seconds <= threshold * 86400:
            return None
        return self.signal(
            ctit_days=round(seconds / 86400, 2),
            threshold_days=threshold,
            click_at=context.click.created_at.isoformat(),
            occurred_at=context.conversion.occurred_at.isoformat(),
        )


class IpVelocity(Check):
    window = timedelta(hours=1)

    def run(self, context, threshold):
        ip = context.visitor_ip
        if not ip:
            return None
        count = context.ip_conversions_in_hour(ip)
        if count <= threshold:
            return None
        return self.signal(ip=ip, conversions_last_hour=count, limit_per_hour=threshold)


class MultiPartner(Check):
    """The same click, or the same customer, converting for more than one partner on the offer."""

    window = timedelta(days=30)

    def run(self, context, threshold):
        conversion = context.conversion
        if not conversion.partner_id:
            return None
        evidence = {}
        click = context.click
        if click is not None:
            other = context.click_partner_ids() - {conversion.partner_id}
            if click.partner_id != conversion.partner_id:
                other.add(click.partner_id)
            if other:
                evidence["click_id"] = click.click_id
                evidence["click_other_partner_ids"] = sorted(other)
        key = context.customer_key
        if key is not None:
            name, value = key
            others = context.customer_partner_ids(name, value, conversion.created_at - self.window)
            others.discard(conversion.partner_id)
            if others:
                evidence["customer_key"] = name
                evidence["customer_other_partner_ids"] = sorted(others)
        partners = set(evidence.get("click_other_partner_ids", [])) | set(
            evidence.get("customer_other_partner_ids", [])
        )
        if len(partners) < threshold:
            return None
        return self.signal(**evidence, other_partners=len(partners), threshold_other_partners=threshold)


class BotUserAgent(Check):
    def run(self, context, threshold):
        reasons = []
        click, conversion = context.click, context.conversion
        if click is not None:
            if click.is_bot:
                reasons.append("click user agent is a bot or crawler")
            elif "headless" in click.user_agent.lower():
                reasons.append("click from a headless browser")
        if conversion.user_agent_from_visitor:
            if conversion.is_bot:
                reasons.append("conversion user agent is a bot or crawler")
            elif "headless" in conversion.user_agent.lower():
                reasons.append("conversion from a headless browser")
        if not reasons:
            return None
        return self.signal(
            reasons=reasons,
            click_user_agent=click.user_agent[:300] if click else "",
            conversion_user_agent=conversion.user_agent[:300] if conversion.user_agent_from_visitor else "",
        )


class DatacenterIp(Check):
    def run(self, context, threshold):
        candidates = [("conversion", context.visitor_ip)]
        if context.click is not None:
            candidates.append(("click", context.click.ip))
        ranges = None
        for side, ip in candidates:
            if not ip:
                continue
            ranges = ranges or datacenter_ranges()
            match = ranges.lookup(ip)
            if match:
                cidr, provider = match
                return self.signal(side=side, ip=ip, cidr=cidr, provider=provider, ranges_source=ranges.source)
        return None


class CountryMismatch(Check):
    def run(self, context, threshold):
        click_country = context.click.country if context.click else ""
        conversion_country = context.visitor_country
        if not click_country or not conversion_country or click_country == conversion_country:
            return None
        return self.signal(click_country=click_country, conversion_country=conversion_country)


class CountryNotAllowed(Check):
    def run(self, context, threshold):
        allowed = context.offer.allowed_country_codes
        if not allowed:
            return None
        seen = {"click": context.click.country if context.click else "", "conversion": context.visitor_country}
        outside = {side: country for side, country in seen.items() if country and country not in allowed}
        if not outside:
            return None
        return self.signal(countries=outside, allowed=sorted(allowed))


def email_sha256(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


class SelfReferral(Check):
    def run(self, context, threshold):
        partner = context.partner
        if partner is None:
            return None
        evidence = {}
        if partner.last_login_ip:
            for side, ip in (
                ("conversion", context.visitor_ip),
                ("click", context.click.ip if context.click else None),
            ):
                if ip and ip == partner.last_login_ip:
                    evidence[f"{side}_ip_is_partner_login_ip"] = ip
        key = context.customer_key
        if key and key[0] == "customer_email_sha256" and partner.user.email:
            if key[1] == email_sha256(partner.user.email):
                evidence["customer_email_is_partner_email"] = True
        return self.signal(**evidence) if evidence else None


class AmountOutlier(Check):
    def run(self, context, threshold):
        conversion = context.conversion
        until = _hour_start(conversion.created_at)
        key = (self.code, conversion.offer_id, conversion.currency, until, tuple(sorted(threshold.items())))

        def compute():
            amounts = [
                float(amount)
                for amount in Conversion.objects.filter(
                    offer_id=conversion.offer_id,
                    currency=conversion.currency,
                    status=Conversion.Status.ACCEPTED,
                    created_at__gte=until - timedelta(days=threshold["days"]),
                    created_at__lt=until,
                )
                .order_by("-created_at")
                .values_list("amount", flat=True)[:HISTORY_LIMIT]
            ]
            if len(amounts) < threshold["min_samples"]:
                return None
            return statistics.fmean(amounts), statistics.pstdev(amounts), statistics.median(amounts), len(amounts)

        baseline = _baseline(key, compute)
        if baseline is None:
            return None
        mean, sd, median, samples = baseline
        amount = float(conversion.amount)
        sd_limit = mean + threshold["sd"] * sd
        median_limit = median * threshold["median_multiple"]
        over = []
        if amount > sd_limit:
            over.append("mean_plus_sd")
        if median > 0 and amount > median_limit:
            over.append("median_multiple")
        if not over:
            return None
        return self.signal(
            amount=str(conversion.amount),
            currency=conversion.currency,
            over=over,
            history_mean=round(mean, 2),
            history_sd=round(sd, 2),
            history_median=round(median, 2),
            limit_mean_plus_sd=round(sd_limit, 2),
            limit_median_multiple=round(median_limit, 2),
            samples=samples,
        )


class CtitLearnedBaseline(Check):
    """Click-to-conversion time far below this offer's own recent distribution, on a log scale.

    Robust z-score: (log ctit - median) / (1.4826 * MAD) of the offer's last accepted
    conversions. Log, because CTIT spans seconds to weeks; median and MAD, because
    the history itself may hold a few fast frauds that would drag a mean down.
    """

    # Below this spread (in log-seconds) the history is too uniform to score against.
    min_scale = 0.1

    def run(self, context, threshold):
        seconds = context.ctit_seconds
        if seconds is None:
            return None
        conversion = context.conversion
        until = _hour_start(conversion.created_at)
        key = (self.code, conversion.offer_id, until, tuple(sorted(threshold.items())))

        def compute():
            history = (
                Conversion.objects.filter(
                    offer_id=conversion.offer_id,
                    status=Conversion.Status.ACCEPTED,
                    click__isnull=False,
                    created_at__gte=until - timedelta(days=threshold["days"]),
                    created_at__lt=until,
                )
                .order_by("-created_at")
                .annotate(ctit=F("occurred_at") - F("click__created_at"))
                .values_list("ctit", flat=True)[: int(threshold["samples"])]
            )
            logs = sorted(math.log(max(ctit.total_seconds(), 1.0)) for ctit in history)
            if len(logs) < threshold["min_samples"]:
                return None
            median = statistics.median(logs)
            mad = statistics.median(abs(value - median) for value in logs)
            p1 = logs[max(0, math.ceil(0.01 * len(logs)) - 1)]
            return median, max(1.4826 * mad, self.min_scale), p1, len(logs)

        baseline = _baseline(key, compute)
        if baseline is None:
            return None
        median, scale, p1, samples = baseline
        z = (math.log(max(seconds, 1.0)) - median) / scale
        if z >= -threshold["z"]:
            return None
        return self.signal(
            ctit_seconds=round(seconds, 1),
            robust_z=round(z, 2),
            threshold_z=threshold["z"],
            baseline_median_seconds=round(math.exp(median), 1),
            baseline_p1_seconds=round(math.exp(p1), 1),
            samples=samples,
        )


class PartnerSuspended(Check):
    def run(self, context, threshold):
        partner = context.partner
        if partner is None or partner.status != Partner.Status.SUSPENDED:
            return None
        return self.signal(
            partner_id=partner.pk,
            suspended_reason=partner.suspended_reason,
            suspended_at=partner.suspended_at.isoformat() if partner.suspended_at else None,
        )


CHECKS: dict[str, Check] = {
    check.code: check
    for check in (
        CtitTooShort(
            "ctit_too_short",
            "Click-to-conversion time too short",
            score=60,
            default_threshold=10,
            threshold_help="seconds; a conversion sooner than this after its click is a signal",
        ),
        CtitTooLong(
            "ctit_too_long",
            "Click-to-conversion time too long",
            score=20,
            default_threshold=30,
            default_enabled=False,
            threshold_help="days",
        ),
        IpVelocity(
            "ip_velocity",
            "Too many conversions from one IP in an hour",
            score=50,
            default_threshold=5,
            threshold_help="conversions per visitor IP per hour, across the network",
        ),
        MultiPartner(
            "multi_partner",
            "One click or customer converting for several partners",
            score=50,
            default_threshold=1,
            threshold_help="how many other partners (same offer, 30 days) make a signal",
        ),
        BotUserAgent("bot_user_agent", "Bot, crawler or headless browser", score=80),
        DatacenterIp("datacenter_ip", "Data-centre or hosting IP", score=40),
        CountryMismatch("country_mismatch", "Click and conversion countries differ", score=30),
        CountryNotAllowed("country_not_allowed", "Country not allowed by the offer", score=60),
        SelfReferral("self_referral", "Partner converting on their own link", score=90),
        AmountOutlier(
            "amount_outlier",
            "Amount far outside the offer's history",
            score=40,
            default_threshold={"sd": 4, "median_multiple": 10, "min_samples": 20, "days": 30},
            threshold_help="signal above mean + sd x SD or median x median_multiple of accepted amounts",
        ),
        CtitLearnedBaseline(
            "ctit_learned_baseline",
            "Click-to-conversion time far below the offer's own baseline",
            score=50,
            default_threshold={"z": 3.5, "min_samples": 30, "samples": 500, "days": 90},
            threshold_help="robust z-score on log CTIT below -z",
        ),
        PartnerSuspended(
            "partner_suspended", "Partner is suspended", score=100, configurable=False, default_action="flag"
        ),
    )
}
