"""Attribution: which click or referral code earns a conversion, and why.

One priority, first match wins:
1. an explicit `click_id` in the request;
2. a `referral_code` together with the `offer`.
The click must fall inside the offer's cookie window before the conversion
(`occurred_at`); outside it the conversion is stored `rejected` with
`outside_attribution_window`. Every conversion keeps the explanation.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from conversions.errors import ConversionInvalid, ConversionNotFound
from referrals.models import Advertiser, Click, Offer, Partner
from referrals.selectors import click_for_click_id, offer_for_public_id, partner_for_referral_code

OUTSIDE_WINDOW = "outside_attribution_window"


@dataclass
class Attribution:
    offer: Offer
    partner: Partner
    click: Click | None
    step: str
    within_window: bool
    explanation: dict


def _owned_offer(advertiser: Advertiser, public_id: str) -> Offer:
    offer = offer_for_public_id(public_id)
    if offer is None or offer.advertiser_id != advertiser.pk:
        raise ConversionNotFound("No such offer.", fields={"offer": ["No offer with this id is yours."]})
    return offer


def click_attribution(
    *, advertiser: Advertiser, click: Click | None, occurred_at: datetime, offer_public_id: str = ""
) -> Attribution:
    """Step 1 for a click already looked up (None: unknown id); the CSV importer fetches clicks in bulk."""
    if click is None:
        raise ConversionInvalid("Unknown click id.", fields={"click_id": ["No click has this id."]})
    if click.offer.advertiser_id != advertiser.pk:
        raise ConversionNotFound("No such click.", fields={"click_id": ["No click with this id is yours."]})
    if offer_public_id and offer_public_id != click.offer.public_id:
        raise ConversionInvalid(
            "The click belongs to another offer.", fields={"offer": ["The click was on another offer."]}
        )
    window = timedelta(days=click.offer.cookie_window_days)
    age = occurred_at - click.created_at
    within = timedelta(0) <= age <= window
    return Attribution(
        offer=click.offer,
        partner=click.partner,
        click=click,
        step="click_id",
        within_window=within,
        explanation={
            "step": "click_id",
            "click_id": click.click_id,
            "click_at": click.created_at.isoformat(),
            "window_days": click.offer.cookie_window_days,
            "age_seconds": int(age.total_seconds()),
            "within_window": within,
        },
    )


def referral_attribution(*, offer: Offer, partner: Partner | None) -> Attribution:
    """Step 2 for an offer the advertiser owns and a partner already looked up (None: unknown code)."""
    if partner is None:
        raise ConversionInvalid(
            "Unknown referral code.", fields={"referral_code": ["No partner has this referral code."]}
        )
    return Attribution(
        offer=offer,
        partner=partner,
        click=None,
        step="referral_code",
        within_window=True,
        explanation={"step": "referral_code", "referral_code": partner.referral_code},
    )


def conversion_attribute(
    *,
    advertiser: Advertiser,
    occurred_at: datetime,
    click_id: str = "",
    referral_code: str = "",
    offer_public_id: str = "",
) -> Attribution:
    if click_id:
        return click_attribution(
            advertiser=advertiser,
            click=click_for_click_id(click_id),
            occurred_at=occurred_at,
            offer_public_id=offer_public_id,
        )

    if referral_code:
        if not offer_public_id:
            raise ConversionInvalid(
                "A referral code needs an offer.", fields={"offer": ["Required with referral_code."]}
            )
        offer = _owned_offer(advertiser, offer_public_id)
        return referral_attribution(offer=offer, partner=partner_for_referral_code(referral_code))

    raise ConversionInvalid(
        "Say who referred the conversion.",
        fields={"click_id": ["Send click_id, or referral_code with offer."]},
    )
