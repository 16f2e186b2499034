"""Attribution: which click or code earns a conversion, and why.

One priority, the first step that finds a partner wins:
1. `click_id`: an explicit click id in the report;
2. `cookie`: the click id in our first-party click cookie (the pixel sees it);
3. `referral_code` (with `offer`) or `coupon`: the partner who owns the code;
4. none: the conversion is stored `rejected` with `unattributed`.
Clicks count only inside the offer's cookie window before the conversion;
outside it the conversion is stored `rejected` with
`outside_attribution_window`. The cookie always holds a visitor's latest click
on the offer, so the last click wins. Each conversion keeps the explanation:
the step, the click or code, the click time, the window and the age.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from conversions.errors import ConversionInvalid, ConversionNotFound, UnknownClick
from referrals.models import Advertiser, Click, Coupon, Offer, Partner
from referrals.selectors import click_for_click_id, offer_for_public_id, partner_for_referral_code

OUTSIDE_WINDOW = "outside_attribution_window"
UNATTRIBUTED = "unattributed"


@dataclass
class Attribution:
    offer: Offer
    partner_id: int | None  # an id, not the Partner: attribution by click must not load one
    click: Click | None
    step: str
    rejection: str  # "" when the conversion may go on to processing
    explanation: dict


@dataclass(frozen=True)
class AttributionKeys:
    """What the report and the request offer to attribute by."""

    click_id: str = ""
    cookie_click_id: str = ""
    referral_code: str = ""
    coupon: str = ""
    offer: str = ""


def _owned_offer(advertiser: Advertiser, public_id: str) -> Offer:
    offer = offer_for_public_id(public_id)
    if offer is None or offer.advertiser_id != advertiser.pk:
        raise ConversionNotFound("No such offer.", fields={"offer": ["No offer with this id is yours."]})
    return offer


def _by_click(click: Click, step: str, occurred_at: datetime) -> Attribution:
    window = timedelta(days=click.offer.cookie_window_days)
    age = occurred_at - click.created_at
    within = timedelta(0) <= age <= window
    return Attribution(
        offer=click.offer,
        partner_id=click.partner_id,
        click=click,
        step=step,
        rejection="" if within else OUTSIDE_WINDOW,
        explanation={
            "step": step,
            "click_id": click.click_id,
            "click_at": click.created_at.isoformat(),
            "window_days": click.offer.cookie_window_days,
            "age_seconds": int(age.total_seconds()),
            "within_window": within,
        },
    )


def _by_partner(offer: Offer, partner: Partner, step: str, code: str) -> Attribution:
    return Attribution(
        offer=offer,
        partner_id=partner.pk,
        click=None,
        step=step,
        rejection="",
        explanation={"step": step, step: code, "partner_id": partner.pk},
    )


def click_attribution(
    *, advertiser: Advertiser, click: Click | None, occurred_at: datetime, offer_public_id: str = ""
) -> Attribution:
    """Step 1 for a click already looked up (None: an unknown id); the CSV importer fetches clicks in bulk."""
    if click is None:
        raise UnknownClick("Unknown click id.", fields={"click_id": ["No click has this id."]})
    if click.offer.advertiser_id != advertiser.pk:
        raise ConversionNotFound("No such click.", fields={"click_id": ["No click with this id is yours."]})
    if offer_public_id and offer_public_id != click.offer.public_id:
        raise ConversionInvalid(
            "The click belongs to another offer.", fields={"offer": ["The click was on another offer."]}
        )
    return _by_click(click, "click_id", occurred_at)


def referral_attribution(*, offer: Offer, partner: Partner | None) -> Attribution:
    """Step 3 for an offer the advertiser owns and a partner already looked up (None: an unknown code)."""
    if partner is None:
        raise ConversionInvalid(
            "Unknown referral code.", fields={"referral_code": ["No partner has this referral code."]}
        )
    return _by_partner(offer, partner, "referral_code", partner.referral_code)


def conversion_attribute(*, advertiser: Advertiser, occurred_at: datetime, keys: AttributionKeys) -> Attribution:
    """Attribute by the priority above. Raises for input that names something unknown or not the advertiser's."""
    if keys.click_id:
        return click_attribution(
            advertiser=advertiser,
            click=click_for_click_id(keys.click_id),
            occurred_at=occurred_at,
            offer_public_id=keys.offer,
        )

    offer = _owned_offer(advertiser, keys.offer) if keys.offer else None

    if keys.cookie_click_id:
        # The cookie is the visitor's, not the advertiser's input: a stale or foreign one is ignored.
        click = click_for_click_id(keys.cookie_click_id)
        if click is not None and offer is not None and click.offer_id == offer.pk:
            return _by_click(click, "cookie", occurred_at)

    if keys.referral_code:
        if offer is None:
            raise ConversionInvalid(
                "A referral code needs an offer.", fields={"offer": ["Required with referral_code."]}
            )
        return referral_attribution(offer=offer, partner=partner_for_referral_code(keys.referral_code))

    if keys.coupon:
        coupon = Coupon.objects.select_related("offer", "partner").filter(code__iexact=keys.coupon.strip()).first()
        if coupon is None or coupon.offer.advertiser_id != advertiser.pk:
            raise ConversionInvalid(
                "Unknown coupon.", fields={"coupon": ["No partner has this coupon on your offers."]}
            )
        if offer is not None and coupon.offer_id != offer.pk:
            raise ConversionInvalid(
                "The coupon is for another offer.", fields={"coupon": ["Not a coupon of this offer."]}
            )
        return _by_partner(coupon.offer, coupon.partner, "coupon", coupon.code)

    if offer is None:
        raise ConversionInvalid(
            "Say who referred the conversion.",
            fields={"click_id": ["Send click_id, or referral_code or coupon with offer."]},
        )
    return Attribution(
        offer=offer,
        partner_id=None,
        click=None,
        step="none",
        rejection=UNATTRIBUTED,
        explanation={"step": "none", "cookie_seen": bool(keys.cookie_click_id)},
    )
