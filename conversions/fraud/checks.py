"""The fraud checks: each a small unit with a stable code, a default threshold and a score.

What a signal does (flag, reject, record) is decided per offer by `FraudSetting` rows, read in
screening.py. docs/fraud.md describes every check, its default and how to tune it.
"""

import hashlib

from conversions.fraud.baselines import AmountOutlier, CtitLearnedBaseline
from conversions.fraud.context import Check
from conversions.fraud.datacenter import datacenter_ranges
from referrals.models import Partner


def _ctit_times(context) -> dict[str, str]:
    return {"click_at": context.click.created_at.isoformat(), "occurred_at": context.conversion.occurred_at.isoformat()}


class CtitTooShort(Check):
    def run(self, context, threshold):
        seconds = context.ctit_seconds
        if seconds is None or seconds >= threshold:
            return None
        return self.signal(ctit_seconds=round(seconds, 1), threshold_seconds=threshold, **_ctit_times(context))


class CtitTooLong(Check):
    def run(self, context, threshold):
        seconds = context.ctit_seconds
        if seconds is None or seconds <= threshold * 86400:
            return None
        return self.signal(ctit_days=round(seconds / 86400, 2), threshold_days=threshold, **_ctit_times(context))


class IpVelocity(Check):
    def run(self, context, threshold):
        ip = context.visitor_ip
        if not ip or context.ip_conversions_in_hour <= threshold:
            return None
        return self.signal(ip=ip, conversions_last_hour=context.ip_conversions_in_hour, limit_per_hour=threshold)


class MultiPartner(Check):
    """The same click, or the same customer, converting for more than one partner on the offer."""

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
            threshold_help="days",
            default_enabled=False,
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
        PartnerSuspended("partner_suspended", "Partner is suspended", score=100, configurable=False),
    )
}
