"""Recording a reported conversion: attribute it, store it `pending`, enqueue its processing."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.jobs import job_enqueue_on_commit
from conversions.attribution import OUTSIDE_WINDOW, conversion_attribute
from conversions.errors import ConversionInvalid
from conversions.jobs import process_conversion
from conversions.models import Conversion, StatusChange
from conversions.postbacks import partner_postbacks_enqueue
from conversions.rollups import rollup_conversion_add
from referrals.models import Advertiser
from referrals.money import MoneyError, money_quantize


@dataclass
class ConversionReport:
    """A validated conversion as the advertiser reported it, whatever the channel."""

    type: str
    external_id: str
    amount: Decimal
    click_id: str = ""
    referral_code: str = ""
    offer: str = ""
    currency: str = ""
    occurred_at: datetime | None = None
    product_id: str = ""
    category: str = ""
    quantity: int = 1
    plan: str = ""
    subscription_id: str = ""
    source: str = ""
    user_agent: str = ""
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RequestFacts:
    """What we saw of the request that carried the report (fraud metadata)."""

    ip: str | None = None
    user_agent: str = ""
    headers: dict = field(default_factory=dict)


def conversion_record(
    *,
    advertiser: Advertiser,
    report: ConversionReport,
    channel: str,
    request: RequestFacts | None = None,
    now: datetime | None = None,
) -> tuple[Conversion, bool]:
    """Store the conversion once per (advertiser, external_id); return it and whether it is new.

    A repeated external id returns the first conversion and changes nothing,
    also when many requests race: the unique constraint decides.
    """
    now = now or timezone.now()
    existing = Conversion.objects.filter(advertiser=advertiser, external_id=report.external_id).first()
    if existing:
        return existing, False

    occurred_at = report.occurred_at or now
    if occurred_at > now + timedelta(seconds=settings.CONVERSION_FUTURE_TOLERANCE_SECONDS):
        raise ConversionInvalid("occurred_at is in the future.", fields={"occurred_at": ["Must not be in the future."]})
    attribution = conversion_attribute(
        advertiser=advertiser,
        occurred_at=occurred_at,
        click_id=report.click_id,
        referral_code=report.referral_code,
        offer_public_id=report.offer,
    )
    currency = report.currency or attribution.offer.currency
    try:
        amount = money_quantize(report.amount, currency)
    except MoneyError as error:
        raise ConversionInvalid(str(error), fields={"currency": [str(error)]}) from None

    request = request or RequestFacts()
    status, reason = Conversion.Status.PENDING, ""
    if not attribution.within_window:
        status, reason = Conversion.Status.REJECTED, OUTSIDE_WINDOW
    conversion = Conversion(
        advertiser=advertiser,
        offer=attribution.offer,
        partner=attribution.partner,
        click=attribution.click,
        external_id=report.external_id,
        type=report.type,
        status=status,
        status_reason=reason,
        status_remark="The click was older than the offer's cookie window." if reason else "",
        channel=channel,
        amount=amount,
        currency=currency,
        product_id=report.product_id,
        category=report.category,
        quantity=report.quantity,
        plan=report.plan,
        subscription_id=report.subscription_id,
        source=report.source,
        user_agent=report.user_agent or request.user_agent,
        meta=report.meta,
        attribution=attribution.explanation,
        ip=request.ip,
        headers=request.headers,
        occurred_at=occurred_at,
        created_at=now,
        processed_at=now if reason else None,
    )
    try:
        with transaction.atomic():
            conversion.save(force_insert=True)
            StatusChange.objects.create(
                conversion=conversion, to_status=status, reason=reason, channel=channel, created_at=now
            )
            rollup_conversion_add(conversion=conversion)
            partner_postbacks_enqueue(conversion_id=conversion.pk, event="created")
            if status == Conversion.Status.PENDING:
                job_enqueue_on_commit(process_conversion, str(conversion.pk))
    except IntegrityError:
        # Another request stored the same external id first; answer with its conversion.
        first = Conversion.objects.filter(advertiser=advertiser, external_id=report.external_id).first()
        if first is None:
            raise
        return first, False
    return conversion, True
