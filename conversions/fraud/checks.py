"""The fraud checks: each a small unit with a stable code, a default threshold and a score.

A check looks at one conversion (with its click, offer and partner) and returns a
`Signal` with the evidence it saw, or None. What a signal does (flag, reject,
record) is decided per offer by `FraudSetting` rows, read in screening.py.
docs/fraud.md describes every check, its default and how to tune it.
"""

import hashlib

from conversions.fraud.baselines import AmountOutlier, CtitLearnedBaseline
from conversions.fraud.context import IP_VELOCITY_WINDOW, MULTI_PARTNER_WINDOW, Check
from conversions.fraud.datacenter import datacenter_ranges
from referrals.models import Partner


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
    window = IP_VELOCITY_WINDOW

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

    window = MULTI_PARTNER_WINDOW

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
