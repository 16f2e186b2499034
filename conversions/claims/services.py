"""Missing-conversion claims: a partner reports a sale we did not record, with the evidence found at once; staff
decide. Approval records the conversion through the normal pipeline, so it is attributed, screened and rewarded."""

from datetime import datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversions.intake.recording import ConversionReport, conversion_record
from conversions.models import Conversion, MissingConversionClaim
from core.errors import DomainError
from core.money import money_quantize
from referrals.models import Click, Link, Offer, Partner
from referrals.partner_access import partner_today, partner_tz

EVIDENCE_CLICKS = 20


class ClaimInvalid(DomainError):
    code = "claim_invalid"


def claim_submit(
    *,
    partner: Partner,
    offer: Offer,
    order_id: str,
    purchase_date,
    amount: Decimal,
    sub1: str = "",
    remarks: str = "",
    now: datetime | None = None,
) -> MissingConversionClaim:
    """File a claim and attach the evidence found; one claim per (partner, offer, order id)."""
    now = now or timezone.now()
    today = partner_today(partner, now)
    if not Link.objects.filter(partner=partner, offer=offer).exists():
        raise ClaimInvalid("You have no link for this offer.", fields={"offer": ["Not one of your offers."]})
    problem = ""
    if purchase_date > today:
        problem = "The purchase date is in the future."
    elif purchase_date < today - timedelta(days=settings.CLAIM_MAX_AGE_DAYS):
        problem = f"Claims are accepted up to {settings.CLAIM_MAX_AGE_DAYS} days after a purchase."
    if problem:  # the form shows it by the purchase date
        raise ClaimInvalid(problem, fields={"purchase_date": [problem]})
    order_id = order_id.strip()
    try:
        with transaction.atomic():
            claim = MissingConversionClaim.objects.create(
                partner=partner,
                offer=offer,
                order_id=order_id,
                purchase_date=purchase_date,
                amount=money_quantize(amount, offer.currency),
                currency=offer.currency,
                sub1=sub1,
                remarks=remarks,
                evidence=claim_evidence(partner=partner, offer=offer, order_id=order_id, purchase_date=purchase_date),
                created_at=now,
            )
    except IntegrityError:
        raise ClaimInvalid(
            "You have already claimed this order.", fields={"order_id": ["Already claimed for this offer."]}
        ) from None
    return claim


def claim_evidence(*, partner: Partner, offer: Offer, order_id: str, purchase_date) -> dict:
    """What matching finds: clicks around the purchase day and conversions with the order id."""
    tz = partner_tz(partner)
    start = datetime.combine(purchase_date - timedelta(days=1), time.min, tzinfo=tz)
    end = datetime.combine(purchase_date + timedelta(days=2), time.min, tzinfo=tz)
    clicks = Click.objects.filter(partner=partner, offer=offer, created_at__gte=start, created_at__lt=end)
    clicks = clicks.order_by("created_at")
    conversions = Conversion.objects.filter(advertiser_id=offer.advertiser_id, external_id=order_id)
    return {
        "window": {"from": start.isoformat(), "to": end.isoformat(), "time_zone": tz.key},
        "clicks_found": clicks.count(),
        "clicks": [
            {"click_id": click.click_id, "at": click.created_at.isoformat(), "sub1": click.sub1, "ip": click.ip}
            for click in clicks[:EVIDENCE_CLICKS]
        ],
        "conversions": [
            {
                "conversion_id": str(conversion.pk),
                "offer": conversion.offer.public_id,
                "partner_id": conversion.partner_id,
                "status": conversion.status,
                "amount": str(conversion.amount),
                "currency": conversion.currency,
                "at": conversion.created_at.isoformat(),
            }
            for conversion in conversions.select_related("offer")
        ],
    }


def claim_review_start(*, claim_id: int, actor=None, now: datetime | None = None) -> MissingConversionClaim:
    with transaction.atomic():
        claim = MissingConversionClaim.objects.select_for_update().get(pk=claim_id)
        if claim.status == MissingConversionClaim.Status.SUBMITTED:
            claim.status, claim.reviewed_by, claim.reviewed_at = claim.Status.UNDER_REVIEW, actor, now or timezone.now()
            claim.save(update_fields=["status", "reviewed_by", "reviewed_at"])
        return claim


def claim_approve(*, claim_id: int, actor=None, now: datetime | None = None) -> MissingConversionClaim:
    """Approve and record the conversion (once); the normal pipeline then attributes and rewards it."""
    now = now or timezone.now()
    with transaction.atomic():
        claim = (
            MissingConversionClaim.objects.select_for_update(of=("self",))
            .select_related("offer__advertiser", "partner")
            .get(pk=claim_id)
        )
        if claim.status == MissingConversionClaim.Status.APPROVED:
            return claim
        if claim.status == MissingConversionClaim.Status.DECLINED:
            raise ClaimInvalid("A declined claim cannot be approved.")
        conversion, _ = conversion_record(
            advertiser=claim.offer.advertiser, report=_claim_report(claim, now), channel=Conversion.Channel.ADMIN
        )
        if conversion.partner_id != claim.partner_id:
            raise ClaimInvalid("This order is already credited to another partner.")
        claim.status, claim.conversion = MissingConversionClaim.Status.APPROVED, conversion
        claim.reviewed_by, claim.reviewed_at = actor, now
        claim.decision_reason = claim.decision_reason or "Approved; the conversion was added."
        claim.save(update_fields=["status", "conversion", "reviewed_by", "reviewed_at", "decision_reason"])
        return claim


def _claim_report(claim: MissingConversionClaim, now: datetime) -> ConversionReport:
    tz = partner_tz(claim.partner)
    # Noon of the purchase day stands for the unknown time of the sale. A click later that day moves it to
    # the end of the day: the sale came after the click, and a time just after it would look like click
    # fraud to screening (a sale seconds after its click), which the partner's claim does not claim.
    occurred_at = datetime.combine(claim.purchase_date, time(12), tzinfo=tz)
    click = _best_click(claim, occurred_at)
    if click is not None and click.created_at >= occurred_at:
        occurred_at = datetime.combine(claim.purchase_date, time(23, 59, 59), tzinfo=tz)
    credit = {"referral_code": claim.partner.referral_code, "offer": claim.offer.public_id}
    if click is not None:
        credit = {"click_id": click.click_id}
    return ConversionReport(
        type=Conversion.Type.PURCHASE,
        external_id=claim.order_id,
        amount=claim.amount,
        currency=claim.currency,
        occurred_at=min(occurred_at, now),
        source="missing_conversion_claim",
        meta={"claim_id": claim.pk, "remarks": claim.remarks[:500], "sub1": claim.sub1},
        **credit,
    )


def _best_click(claim: MissingConversionClaim, around: datetime) -> Click | None:
    """The claimed sub1's (or any) click of the evidence window nearest the purchase, not after it."""
    ids = [click["click_id"] for click in claim.evidence.get("clicks", [])]
    clicks = list(Click.objects.filter(click_id__in=ids, partner=claim.partner, offer=claim.offer))
    if claim.sub1 and any(click.sub1 == claim.sub1 for click in clicks):
        clicks = [click for click in clicks if click.sub1 == claim.sub1]
    if not clicks:
        return None
    return min(clicks, key=lambda click: abs((around - click.created_at).total_seconds()))


def claim_decline(*, claim_id: int, reason: str, actor=None, now: datetime | None = None) -> MissingConversionClaim:
    if not reason.strip():
        raise ClaimInvalid("Say why the claim is declined; the partner sees it.")
    with transaction.atomic():
        claim = MissingConversionClaim.objects.select_for_update().get(pk=claim_id)
        if claim.status == MissingConversionClaim.Status.DECLINED:
            return claim
        if claim.status == MissingConversionClaim.Status.APPROVED:
            raise ClaimInvalid("An approved claim cannot be declined; reject its conversion instead.")
        claim.status, claim.decision_reason = MissingConversionClaim.Status.DECLINED, reason.strip()[:500]
        claim.reviewed_by, claim.reviewed_at = actor, now or timezone.now()
        claim.save(update_fields=["status", "decision_reason", "reviewed_by", "reviewed_at"])
        return claim
