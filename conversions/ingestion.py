"""Recording a reported conversion: attribute it, store it `pending`, enqueue its processing."""

from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from conversions.attribution import (
    OUTSIDE_WINDOW,
    UNATTRIBUTED,
    Attribution,
    AttributionKeys,
    conversion_attribute,
)
from conversions.conversion_insert import conversion_insert
from conversions.errors import ConversionInvalid
from conversions.jobs import conversions_processing_request
from conversions.models import Conversion, PartnerPostback
from conversions.postbacks import partner_postback_events, partner_postbacks_enqueue
from referrals.models import Advertiser
from referrals.money import MoneyError, money_quantize
from referrals.request_metadata import RequestMetadata, country_for_ip, user_agent_describe


@dataclass
class ConversionReport:
    """A validated conversion as the advertiser reported it, whatever the channel."""

    type: str
    external_id: str
    amount: Decimal
    click_id: str = ""
    referral_code: str = ""
    coupon: str = ""
    offer: str = ""
    currency: str = ""
    ip: str | None = None  # the visitor's IP, when a server reports on the visitor's behalf
    occurred_at: datetime | None = None
    product_id: str = ""
    category: str = ""
    quantity: int = 1
    plan: str = ""
    subscription_id: str = ""
    source: str = ""
    user_agent: str = ""
    meta: dict = field(default_factory=dict)


REJECTION_REMARKS = {
    OUTSIDE_WINDOW: "The click was older than the offer's cookie window.",
    UNATTRIBUTED: "No click, referral code or coupon identified a partner.",
}


def _visitor_metadata(report: ConversionReport, request: RequestMetadata) -> RequestMetadata:
    """The visitor's metadata: a server-to-server report may carry the visitor's IP and user agent."""
    if not report.ip and not report.user_agent:
        return request
    ip = report.ip or request.ip
    user_agent = report.user_agent or request.user_agent
    return replace(
        request, ip=ip, country=country_for_ip(ip), user_agent=user_agent, agent=user_agent_describe(user_agent)
    )


def occurred_at_resolve(occurred_at: datetime | None, *, now: datetime) -> datetime:
    """When the conversion happened: as reported (not in the future, within a tolerance), else now."""
    occurred_at = occurred_at or now
    if occurred_at > now + timedelta(seconds=settings.CONVERSION_FUTURE_TOLERANCE_SECONDS):
        raise ConversionInvalid("occurred_at is in the future.", fields={"occurred_at": ["Must not be in the future."]})
    return occurred_at


def conversion_build(
    *,
    advertiser: Advertiser,
    report: ConversionReport,
    attribution: Attribution,
    occurred_at: datetime,
    channel: str,
    request: RequestMetadata | None,
    now: datetime,
) -> Conversion:
    """The unsaved conversion for an attributed report (the CSV importer builds many, then inserts in bulk)."""
    currency = report.currency or attribution.offer.currency
    try:
        amount = money_quantize(report.amount, currency)
    except MoneyError as error:
        raise ConversionInvalid(str(error), fields={"currency": [str(error)]}) from None

    metadata = _visitor_metadata(report, request or RequestMetadata())
    status, reason = Conversion.Status.PENDING, attribution.rejection
    if reason:
        status = Conversion.Status.REJECTED
    return Conversion(
        advertiser=advertiser,
        offer=attribution.offer,
        partner_id=attribution.partner_id,
        click=attribution.click,
        external_id=report.external_id,
        type=report.type,
        status=status,
        status_reason=reason,
        status_remark=REJECTION_REMARKS.get(reason, ""),
        channel=channel,
        amount=amount,
        currency=currency,
        product_id=report.product_id,
        category=report.category,
        quantity=report.quantity,
        plan=report.plan,
        subscription_id=report.subscription_id,
        source=report.source,
        user_agent=metadata.user_agent,
        meta=report.meta,
        attribution=attribution.explanation,
        ip=metadata.ip,
        country=metadata.country,
        device=metadata.agent.device_type,
        browser=metadata.agent.browser[:64],
        os=metadata.agent.os[:64],
        is_bot=metadata.agent.is_bot,
        headers=metadata.headers,
        # The pixel sees the visitor's browser; a server's report only when it names the visitor's IP or agent.
        ip_from_visitor=channel == Conversion.Channel.PIXEL or bool(report.ip),
        user_agent_from_visitor=channel == Conversion.Channel.PIXEL or bool(report.user_agent),
        occurred_at=occurred_at,
        created_at=now,
        processed_at=now if reason else None,
    )


def conversion_record(
    *,
    advertiser: Advertiser,
    report: ConversionReport,
    channel: str,
    request: RequestMetadata | None = None,
    cookie_click_id: str = "",
    now: datetime | None = None,
) -> tuple[Conversion, bool]:
    """Store the conversion once per (advertiser, external_id); return it and whether it is new.

    A repeated external id returns the first conversion and changes nothing,
    also when many requests race: the unique constraint decides.
    """
    now = now or timezone.now()
    # No "does it exist?" read first: new external ids are the common case and the unique
    # constraint answers it on INSERT (one round trip less); a repeat is found in the except below.
    try:
        occurred_at = occurred_at_resolve(report.occurred_at, now=now)
        attribution = conversion_attribute(
            advertiser=advertiser,
            occurred_at=occurred_at,
            keys=AttributionKeys(
                click_id=report.click_id,
                cookie_click_id=cookie_click_id,
                referral_code=report.referral_code,
                coupon=report.coupon,
                offer=report.offer,
            ),
        )
        conversion = conversion_build(
            advertiser=advertiser,
            report=report,
            attribution=attribution,
            occurred_at=occurred_at,
            channel=channel,
            request=request,
            now=now,
        )
    except Exception:
        # A repeat answers with the first conversion even when the report no longer attributes
        # or validates (as when this read came first): look it up before letting the error out.
        existing = Conversion.objects.filter(advertiser=advertiser, external_id=report.external_id).first()
        if existing:
            return existing, False
        raise
    # A partner postback on "created" is written with the conversion, in one transaction; most
    # partners have none, and then the conversion is one statement (conversions/conversion_insert.py).
    notify = PartnerPostback.Event.CREATED in partner_postback_events(conversion.partner_id)
    with transaction.atomic() if notify else nullcontext():
        created = conversion_insert(conversion)
        if created and notify:
            partner_postbacks_enqueue(conversion_id=conversion.pk, event=PartnerPostback.Event.CREATED)
    if not created:
        # Another request stored the same external id first; answer with its conversion.
        return Conversion.objects.get(advertiser=advertiser, external_id=report.external_id), False
    if conversion.status == Conversion.Status.PENDING:
        conversions_processing_request()
    return conversion, True
