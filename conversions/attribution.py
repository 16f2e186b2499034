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

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db import connection

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


def _click_window(
    step: str, click_id: str, click_at: datetime, window_days: int, occurred_at: datetime
) -> tuple[str, dict]:
    """Is the conversion inside the click's cookie window? Return the rejection ("" if so) and the explanation."""
    age = occurred_at - click_at
    within = timedelta(0) <= age <= timedelta(days=window_days)
    explanation = {
        "step": step,
        "click_id": click_id,
        "click_at": click_at.isoformat(),
        "window_days": window_days,
        "age_seconds": int(age.total_seconds()),
        "within_window": within,
    }
    return ("" if within else OUTSIDE_WINDOW), explanation


def _by_click(click: Click, step: str, occurred_at: datetime) -> Attribution:
    rejection, explanation = _click_window(
        step, click.click_id, click.created_at, click.offer.cookie_window_days, occurred_at
    )
    return Attribution(
        offer=click.offer,
        partner_id=click.partner_id,
        click=click,
        step=step,
        rejection=rejection,
        explanation=explanation,
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
    """Step 1 for a click already looked up (None: an unknown id)."""
    _click_check(
        None if click is None else (click.offer.advertiser_id, click.offer.public_id),
        advertiser_id=advertiser.pk,
        offer_public_id=offer_public_id,
    )
    return _by_click(click, "click_id", occurred_at)


def _click_check(click_offer: tuple[int, str] | None, *, advertiser_id: int, offer_public_id: str) -> None:
    """Refuse a click that is unknown (None), or whose offer (advertiser id, public id) is not the one reported."""
    if click_offer is None:
        raise UnknownClick("Unknown click id.", fields={"click_id": ["No click has this id."]})
    if click_offer[0] != advertiser_id:
        raise ConversionNotFound("No such click.", fields={"click_id": ["No click with this id is yours."]})
    if offer_public_id and offer_public_id != click_offer[1]:
        raise ConversionInvalid(
            "The click belongs to another offer.", fields={"offer": ["The click was on another offer."]}
        )


def referral_attribution(*, offer: Offer, partner: Partner | None) -> Attribution:
    """Step 3 for an offer the advertiser owns and a partner already looked up (None: an unknown code)."""
    if partner is None:
        raise ConversionInvalid(
            "Unknown referral code.", fields={"referral_code": ["No partner has this referral code."]}
        )
    return _by_partner(offer, partner, "referral_code", partner.referral_code)


# Set-based attribution for bulk imports: the same rules on rows read many at once, without model instances.


class ClickFacts(NamedTuple):
    """What step 1 reads of a click and its offer (a tuple: a bulk read makes many)."""

    pk: int
    click_id: str
    created_at: datetime
    partner_id: int
    offer_id: int
    offer_advertiser_id: int
    offer_public_id: str
    cookie_window_days: int


@dataclass(slots=True)
class AttributionIds:
    """An attribution as ids, for a bulk insert: offer, partner and click ids, rejection and explanation."""

    offer_id: int
    partner_id: int | None
    click_pk: int | None
    rejection: str
    explanation: dict

    @classmethod
    def of(cls, attribution: Attribution) -> "AttributionIds":
        return cls(
            offer_id=attribution.offer.pk,
            partner_id=attribution.partner_id,
            click_pk=attribution.click.pk if attribution.click else None,
            rejection=attribution.rejection,
            explanation=attribution.explanation,
        )


_UNIT_SEPARATOR = "\x1f"


def any_text_sql(values: Collection[str]) -> tuple[str, str | list[str]]:
    """`ANY(...)` SQL and its one parameter for `column = ANY(...)` over many strings (PostgreSQL).

    The strings go joined into one text parameter split by the server: the ORM's `IN (%s, ...)`
    and a list parameter (quoted element by element in Python) cost more than the query itself.
    A value holding the separator (no CSV cell can: csv_files refuses control characters), or an empty
    one (the server splits "" into no element), makes it a list.
    """
    joined = _UNIT_SEPARATOR.join(values)
    if joined.count(_UNIT_SEPARATOR) == len(values) - 1 and all(values):
        return "ANY(string_to_array(%s, chr(31)))", joined
    return "ANY(%s)", list(values)


def click_facts_for_ids(click_ids: Collection[str]) -> dict[str, ClickFacts]:
    """The clicks with these ids (those in the table), in one query."""
    if not click_ids:
        return {}
    if connection.vendor == "postgresql":
        any_ids, param = any_text_sql(click_ids)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT click.id, click.click_id, click.created_at, click.partner_id, click.offer_id,"  # noqa: S608
                " offer.advertiser_id, offer.public_id, offer.cookie_window_days"
                f" FROM {Click._meta.db_table} click JOIN {Offer._meta.db_table} offer ON offer.id = click.offer_id"
                f" WHERE click.click_id = {any_ids}",
                [param],
            )
            rows = cursor.fetchall()
    else:
        rows = Click.objects.filter(click_id__in=click_ids).values_list(
            "pk", "click_id", "created_at", "partner_id", "offer_id",
            "offer__advertiser_id", "offer__public_id", "offer__cookie_window_days",
        )  # fmt: skip
    return {row[1]: ClickFacts._make(row) for row in rows}


def click_facts_attribution(
    *, advertiser_id: int, facts: ClickFacts | None, occurred_at: datetime, offer_public_id: str = ""
) -> AttributionIds:
    """click_attribution for a click read by click_facts_for_ids (None: an unknown id)."""
    _click_check(
        None if facts is None else (facts.offer_advertiser_id, facts.offer_public_id),
        advertiser_id=advertiser_id,
        offer_public_id=offer_public_id,
    )
    rejection, explanation = _click_window(
        "click_id", facts.click_id, facts.created_at, facts.cookie_window_days, occurred_at
    )
    return AttributionIds(facts.offer_id, facts.partner_id, facts.pk, rejection, explanation)


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
