"""The fraud checks: each has a stable code, a default threshold and a score, and returns a `Signal` with the
evidence it saw in a `ScreeningContext`, or None. What a signal does is set per offer (`FraudSetting`, read in
screening.py); docs/fraud.md describes every check."""

import hashlib
import math
import statistics
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import ClassVar

from django.db.models import F

from conversions.fraud.context import ScreeningContext
from conversions.fraud.datacenter import datacenter_ranges
from conversions.models.conversion import Conversion
from referrals.models import Partner


class ThresholdInvalid(ValueError):
    pass


@dataclass(frozen=True)
class Signal:
    code: str
    score: int
    evidence: dict


def _positive_number(value, *, name: str = "threshold") -> float:
    try:  # a bool is not a number here: Decimal("True") is refused
        number = float(Decimal(str(value)))
    except ArithmeticError:
        raise ThresholdInvalid(f"{name} must be a number.") from None
    if not math.isfinite(number) or number <= 0:
        raise ThresholdInvalid(f"{name} must be a positive number.")
    return number


@dataclass(frozen=True)
class Check:
    """A check as the network runs it (code, title, score, on or off by default); its class says what its threshold
    means, because `run` reads it."""

    code: str
    title: str
    score: int  # how much a signal adds to the conversion's fraud score (total capped at 100)
    default_enabled: bool = True
    configurable: bool = True
    default_threshold: ClassVar[object] = None
    threshold_help: ClassVar[str] = ""

    def threshold_parse(self, value):
        """The threshold to use: a positive number, or for checks with several knobs an object of them."""
        default = self.default_threshold
        if isinstance(default, dict):
            if isinstance(value, int | float | str) and not isinstance(value, bool):
                value = {next(iter(default)): value}  # a bare number sets the first (main) knob
            if not isinstance(value, dict):
                raise ThresholdInvalid(f"Give an object with keys {sorted(default)}.")
            if unknown := set(value) - set(default):
                raise ThresholdInvalid(f"Unknown keys {sorted(unknown)}; known: {sorted(default)}.")
            return {**default, **{key: _positive_number(number, name=key) for key, number in value.items()}}
        if default is None:
            if value not in (None, "", {}):
                raise ThresholdInvalid("This check has no threshold.")
            return None
        return _positive_number(value)

    def run(self, context: ScreeningContext, threshold) -> Signal | None:
        raise NotImplementedError

    def signal(self, **evidence) -> Signal:
        return Signal(code=self.code, score=self.score, evidence=evidence)


def _ctit_times(context) -> dict[str, str]:
    return {"click_at": context.click.created_at.isoformat(), "occurred_at": context.conversion.occurred_at.isoformat()}


class CtitTooShort(Check):
    default_threshold = 10
    threshold_help = "seconds; a conversion sooner than this after its click is a signal"

    def run(self, context, threshold):
        seconds = context.ctit_seconds
        if seconds is None or seconds >= threshold:
            return None
        return self.signal(ctit_seconds=round(seconds, 1), threshold_seconds=threshold, **_ctit_times(context))


class CtitTooLong(Check):
    default_threshold = 30
    threshold_help = "days"

    def run(self, context, threshold):
        seconds = context.ctit_seconds
        if seconds is None or seconds <= threshold * 86400:
            return None
        return self.signal(ctit_days=round(seconds / 86400, 2), threshold_days=threshold, **_ctit_times(context))


class IpVelocity(Check):
    default_threshold = 5
    threshold_help = "conversions per visitor IP per hour, across the network"

    def run(self, context, threshold):
        ip = context.visitor_ip
        if not ip or context.ip_conversions_in_hour <= threshold:
            return None
        return self.signal(ip=ip, conversions_last_hour=context.ip_conversions_in_hour, limit_per_hour=threshold)


class MultiPartner(Check):
    """The same click, or the same customer, converting for more than one partner on the offer."""

    default_threshold = 1
    threshold_help = "how many other partners (same offer, 30 days) make a signal"

    def run(self, context, threshold):
        conversion, click = context.conversion, context.click
        if not conversion.partner_id:
            return None
        evidence, partners = {}, set()
        if click is not None:
            other = (context.click_partner_ids | {click.partner_id}) - {conversion.partner_id}
            if other:
                evidence.update(click_id=click.click_id, click_other_partner_ids=sorted(other))
                partners |= other
        if others := context.customer_partner_ids - {conversion.partner_id}:
            evidence.update(customer_key=context.customer_key[0], customer_other_partner_ids=sorted(others))
            partners |= others
        if len(partners) < threshold:
            return None
        return self.signal(**evidence, other_partners=len(partners), threshold_other_partners=threshold)


class BotUserAgent(Check):
    def run(self, context, threshold):
        conversion = context.conversion
        sides = {"click": context.click, "conversion": conversion if conversion.user_agent_from_visitor else None}
        reasons = []
        for side, seen in sides.items():
            if seen is not None and seen.is_bot:
                reasons.append(f"{side} user agent is a bot or crawler")
            elif seen is not None and "headless" in seen.user_agent.lower():
                reasons.append(f"{side} from a headless browser")
        if not reasons:
            return None
        agents = {f"{side}_user_agent": seen.user_agent[:300] if seen else "" for side, seen in sides.items()}
        return self.signal(reasons=reasons, **agents)


class DatacenterIp(Check):
    def run(self, context, threshold):
        for side, ip in context.ips.items():
            if not ip:
                continue
            ranges = datacenter_ranges()
            if match := ranges.lookup(ip):
                return self.signal(side=side, ip=ip, cidr=match[0], provider=match[1], ranges_source=ranges.source)
        return None


class CountryMismatch(Check):
    def run(self, context, threshold):
        seen = context.countries
        if not seen["click"] or not seen["conversion"] or seen["click"] == seen["conversion"]:
            return None
        return self.signal(click_country=seen["click"], conversion_country=seen["conversion"])


class CountryNotAllowed(Check):
    def run(self, context, threshold):
        allowed = context.conversion.offer.allowed_country_codes
        outside = {side: country for side, country in context.countries.items() if country and country not in allowed}
        if not allowed or not outside:
            return None
        return self.signal(countries=outside, allowed=sorted(allowed))


class SelfReferral(Check):
    def run(self, context, threshold):
        partner = context.partner
        if partner is None:
            return None
        evidence = {}
        for side, ip in context.ips.items():
            if ip and ip == partner.last_login_ip:
                evidence[f"{side}_ip_is_partner_login_ip"] = ip
        key, email = context.customer_key, partner.user.email.strip().lower()
        if key and key[0] == "customer_email_sha256" and email and key[1] == hashlib.sha256(email.encode()).hexdigest():
            evidence["customer_email_is_partner_email"] = True
        return self.signal(**evidence) if evidence else None


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


# The checks against the offer's own history. It moves slowly: each process computes a baseline once per
# offer and hour (the history up to the start of the conversion's hour) instead of once per conversion.
BASELINE_TTL_SECONDS = 600
_baselines: dict = {}


class BaselineCheck(Check):
    def baseline(self, conversion: Conversion, threshold: dict, **filters):
        """The offer's accepted conversions (with `filters`) of the `days` before the hour, as `history_stats`
        makes them a baseline (None: too few to judge by); cached."""
        until = conversion.created_at.replace(minute=0, second=0, microsecond=0)
        key = (self.code, conversion.offer_id, until, *sorted(filters.items()), *sorted(threshold.items()))
        now = time.monotonic()
        cached = _baselines.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        if len(_baselines) > 5000:
            _baselines.clear()
        history = Conversion.objects.filter(
            offer_id=conversion.offer_id,
            status=Conversion.Status.ACCEPTED,
            created_at__gte=until - timedelta(days=threshold["days"]),
            created_at__lt=until,
            **filters,
        ).order_by("-created_at")
        value = self.history_stats(history, threshold)
        _baselines[key] = (now + BASELINE_TTL_SECONDS, value)
        return value


class AmountOutlier(BaselineCheck):
    default_threshold = {"sd": 4, "median_multiple": 10, "min_samples": 20, "days": 30}
    threshold_help = "signal above mean + sd x SD or median x median_multiple of accepted amounts"

    def history_stats(self, history, threshold):
        # Statistics need recent history, but never more than 500 rows.
        amounts = [float(amount) for amount in history.values_list("amount", flat=True)[:500]]
        if len(amounts) < threshold["min_samples"]:
            return None
        return statistics.fmean(amounts), statistics.pstdev(amounts), statistics.median(amounts), len(amounts)

    def run(self, context, threshold):
        conversion = context.conversion
        baseline = self.baseline(conversion, threshold, currency=conversion.currency)
        if baseline is None:
            return None
        mean, sd, median, samples = baseline
        amount = float(conversion.amount)
        sd_limit = mean + threshold["sd"] * sd
        median_limit = median * threshold["median_multiple"]
        over = ["mean_plus_sd"] if amount > sd_limit else []
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


class CtitLearnedBaseline(BaselineCheck):
    """Click-to-conversion time far below the offer's recent distribution: a robust z-score,
    (log ctit - median) / (1.4826 * MAD). Log, because CTIT spans seconds to weeks; median and MAD,
    because the history itself may hold a few fast frauds that would drag a mean down."""

    default_threshold = {"z": 3.5, "min_samples": 30, "samples": 500, "days": 90}
    threshold_help = "robust z-score on log CTIT below -z"

    # Below this spread (in log-seconds) the history is too uniform to score against.
    min_scale = 0.1

    def history_stats(self, history, threshold):
        ctits = history.annotate(ctit=F("occurred_at") - F("click__created_at")).values_list("ctit", flat=True)
        logs = sorted(math.log(max(ctit.total_seconds(), 1.0)) for ctit in ctits[: int(threshold["samples"])])
        if len(logs) < threshold["min_samples"]:
            return None
        median = statistics.median(logs)
        mad = statistics.median(abs(value - median) for value in logs)
        p1 = logs[max(0, math.ceil(0.01 * len(logs)) - 1)]
        return median, max(1.4826 * mad, self.min_scale), p1, len(logs)

    def run(self, context, threshold):
        seconds = context.ctit_seconds
        if seconds is None or (baseline := self.baseline(context.conversion, threshold, click__isnull=False)) is None:
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


CHECKS: dict[str, Check] = {
    check.code: check
    for check in (
        CtitTooShort("ctit_too_short", "Click-to-conversion time too short", score=60),
        CtitTooLong("ctit_too_long", "Click-to-conversion time too long", score=20, default_enabled=False),
        IpVelocity("ip_velocity", "Too many conversions from one IP in an hour", score=50),
        MultiPartner("multi_partner", "One click or customer converting for several partners", score=50),
        BotUserAgent("bot_user_agent", "Bot, crawler or headless browser", score=80),
        DatacenterIp("datacenter_ip", "Data-centre or hosting IP", score=40),
        CountryMismatch("country_mismatch", "Click and conversion countries differ", score=30),
        CountryNotAllowed("country_not_allowed", "Country not allowed by the offer", score=60),
        SelfReferral("self_referral", "Partner converting on their own link", score=90),
        AmountOutlier("amount_outlier", "Amount far outside the offer's history", score=40),
        CtitLearnedBaseline(
            "ctit_learned_baseline", "Click-to-conversion time far below the offer's own baseline", score=50
        ),
        PartnerSuspended("partner_suspended", "Partner is suspended", score=100, configurable=False),
    )
}
