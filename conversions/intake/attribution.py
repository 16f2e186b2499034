"""Attribution: which click or code earns a conversion, and why (the explanation is kept on the conversion).

The first step that finds a partner wins: `click_id`, the click `cookie` (the pixel; it holds the visitor's latest
click, so the last click wins), then `referral_code` (with `offer`) or `coupon`; with none, `rejected` as
`unattributed`. A click outside the offer's cookie window is `rejected` as `outside_attribution_window`.
Set-based: one query per kind of key named, so a CSV chunk costs what one report costs in round trips.
"""

# ruff: noqa: S608 - table and column names come from the models; every value is a bound parameter.

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from django.db import connection
from django.db.models.functions import Lower

from conversions.errors import ConversionInvalid, ConversionNotFound, UnknownClick
from core.errors import DomainError
from referrals.click_buffer import buffered_clicks_insert
from referrals.models import Advertiser, Click, Coupon, Offer, Partner
from referrals.selectors import cookie_window_longest_days, offer_for_id

OUTSIDE_WINDOW = "outside_attribution_window"
UNATTRIBUTED = "unattributed"


class AttributionKeys(Protocol):
    """What a report (recording.ConversionReport) offers to attribute by."""

    click_id: str
    referral_code: str
    coupon: str
    offer: str


@dataclass(slots=True)
class ClickRow:
    """A click's columns, its time in epoch microseconds (Django's loader is slow for a chunk's 10,000), then
    its offer's advertiser id, public id and cookie window."""

    row: tuple

    @property
    def pk(self) -> int:
        return self.row[_CLICK_PK]

    @property
    def offer_id(self) -> int:
        return self.row[_CLICK_OFFER]

    @property
    def created_at(self) -> datetime:
        return _EPOCH + timedelta(microseconds=self.row[_CLICK_CREATED])

    def model(self) -> Click:
        values = [*self.row[: len(CLICK_COLUMNS)]]
        values[_CLICK_CREATED] = self.created_at
        click = Click.from_db(connection.alias, CLICK_COLUMNS, values)
        click.offer = offer_for_id(click.offer_id)
        return click


@dataclass(slots=True)
class Attribution:
    offer: Offer
    partner_id: int | None
    click: ClickRow | None
    rejection: str  # "" when the conversion may go on to processing
    explanation: str  # JSON: the step, the click or code, and for a click its time, the window and the age


CLICK_COLUMNS = [field.attname for field in Click._meta.concrete_fields]
_CLICK_PK, _CLICK_ID, _CLICK_OFFER, _CLICK_CREATED, _CLICK_PARTNER = (
    CLICK_COLUMNS.index(name) for name in ("id", "click_id", "offer_id", "created_at", "partner_id")
)
_ADVERTISER, _PUBLIC_ID, _WINDOW = (len(CLICK_COLUMNS) + n for n in range(3))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CLICK_SELECTED = {"created_at": "(extract(epoch FROM click.created_at) * 1000000)::bigint"}
_CLICKS_SQL = (
    f"SELECT {', '.join(_CLICK_SELECTED.get(name, f'click.{name}') for name in CLICK_COLUMNS)},"
    " offer.advertiser_id, offer.public_id, offer.cookie_window_days"
    f" FROM {Click._meta.db_table} click JOIN {Offer._meta.db_table} offer ON offer.id = click.offer_id"
    " WHERE click.click_id = {any_ids}"
)
_UNIT_SEPARATOR = "\x1f"


def any_text_sql(values: Collection[str]) -> tuple[str, str | list[str]]:
    """`ANY(...)` SQL and its one parameter for `column = ANY(...)` over many strings, joined into one text
    split by the server: `IN (%s, ...)` or a list (quoted in Python) cost more than the query. A value holding
    the separator, or an empty one (the server splits "" into nothing), makes it a list."""
    joined = _UNIT_SEPARATOR.join(values)
    if joined.count(_UNIT_SEPARATOR) == len(values) - 1 and all(values):
        return "ANY(string_to_array(%s, chr(31)))", joined
    return "ANY(%s)", list(values)


def _click_rows(click_ids: Collection[str], within: tuple[datetime, datetime] | None = None) -> dict[str, ClickRow]:
    if not click_ids:
        return {}
    any_ids, param = any_text_sql(click_ids)
    sql, params = _CLICKS_SQL.format(any_ids=any_ids), [param]
    if within:
        # The click table is partitioned by month of created_at: with its time bounded, the query reads only
        # the months in reach.
        sql, params = f"{sql} AND click.created_at BETWEEN %s AND %s", [*params, *within]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return {row[_CLICK_ID]: ClickRow(row) for row in rows}


def click_rows_for_ids(
    click_ids: Collection[str], within: tuple[datetime, datetime] | None = None
) -> dict[str, ClickRow]:
    """The clicks with these ids in one query, created `within` (from, to) when given; those still in the Redis
    click buffer are written first. An id not found within is looked up again in every month, so that a click
    outside its window is still found (and rejected as such), not taken for an unknown one."""
    clicks = _click_rows(click_ids, within)
    if missing := set(click_ids) - clicks.keys():
        # Read again whatever the buffer said: the flusher may have committed the click (and dropped it from the
        # buffer) between the first read and the buffer's answer.
        buffered_clicks_insert(missing)
        clicks.update(_click_rows(missing))
    return clicks


def _by_click(click: ClickRow, step: str, occurred_at: datetime) -> Attribution:
    """The explanation is JSON written out (json.dumps cost more than the rest of attributing a CSV row); click
    ids are ours (hex), any other text goes through json."""
    row = click.row
    click_at, window_days, click_id = click.created_at, row[_WINDOW], row[_CLICK_ID]
    age = occurred_at - click_at
    within = timedelta(0) <= age <= timedelta(days=window_days)
    click_id = f'"{click_id}"' if click_id.isalnum() and click_id.isascii() else json.dumps(click_id)
    explanation = (
        f'{{"step": "{step}", "click_id": {click_id}, "click_at": "{click_at.isoformat()}", "window_days": '
        f'{window_days}, "age_seconds": {int(age.total_seconds())}, "within_window": {"true" if within else "false"}}}'
    )
    offer = offer_for_id(row[_CLICK_OFFER])
    return Attribution(offer, row[_CLICK_PARTNER], click, "" if within else OUTSIDE_WINDOW, explanation)


@dataclass
class _Lookups:
    """Everything a list of reports names, each kind read in one query."""

    clicks: dict[str, ClickRow]
    offers: dict[str, Offer]
    partners: dict[str, int]  # referral code -> partner id
    coupons: dict[str, tuple[str, int, int, int]]  # lower-cased code -> (code, offer id, advertiser id, partner id)
    by_code: dict[tuple, Attribution] = field(default_factory=dict)

    def partner_attribution(self, offer: Offer, partner_id: int, step: str, code: str) -> Attribution:
        """One per offer and code, shared (read only) by every report naming it."""
        key = (offer.pk, step, code)
        if key not in self.by_code:
            explanation = json.dumps({"step": step, step: code, "partner_id": partner_id})
            self.by_code[key] = Attribution(offer, partner_id, None, "", explanation)
        return self.by_code[key]

    @classmethod
    def read(
        cls, keys: list[AttributionKeys], cookie_click_id: str, within: tuple[datetime, datetime] | None
    ) -> "_Lookups":
        click_ids = {key.click_id for key in keys if key.click_id}
        # The cookie is looked up only where no explicit click id comes first.
        if cookie_click_id and not all(key.click_id for key in keys):
            click_ids.add(cookie_click_id)
        public_ids = {key.offer for key in keys if key.offer and not key.click_id}
        codes = {key.referral_code.strip().upper() for key in keys if key.referral_code and not key.click_id}
        coupons = {key.coupon.strip().lower() for key in keys if key.coupon and not key.click_id}
        offers = Offer.objects.select_related("advertiser").filter(public_id__in=public_ids) if public_ids else []
        partners = Partner.objects.filter(referral_code__in=codes).values_list("referral_code", "pk") if codes else []
        found = (
            Coupon.objects.annotate(lowered=Lower("code"))
            .filter(lowered__in=coupons)
            .values_list("lowered", "code", "offer_id", "offer__advertiser_id", "partner_id")
            if coupons
            else []
        )
        return cls(
            clicks=click_rows_for_ids(click_ids, within),
            offers={offer.public_id: offer for offer in offers},
            partners=dict(partners),
            coupons={row[0]: row[1:] for row in found},
        )


def _click_check(click: ClickRow | None, *, advertiser_id: int, offer_public_id: str) -> ClickRow:
    if click is None:
        raise UnknownClick("Unknown click id.", fields={"click_id": ["No click has this id."]})
    if click.row[_ADVERTISER] != advertiser_id:
        raise ConversionNotFound("No such click.", fields={"click_id": ["No click with this id is yours."]})
    if offer_public_id and offer_public_id != click.row[_PUBLIC_ID]:
        raise ConversionInvalid(
            "The click belongs to another offer.", fields={"offer": ["The click was on another offer."]}
        )
    return click


def _attribute(
    advertiser: Advertiser, occurred_at: datetime, keys: AttributionKeys, cookie_click_id: str, found: _Lookups
) -> Attribution:
    if keys.click_id:
        click = _click_check(found.clicks.get(keys.click_id), advertiser_id=advertiser.pk, offer_public_id=keys.offer)
        return _by_click(click, "click_id", occurred_at)

    offer = None
    if keys.offer:
        offer = found.offers.get(keys.offer)
        if offer is None or offer.advertiser_id != advertiser.pk:
            raise ConversionNotFound("No such offer.", fields={"offer": ["No offer with this id is yours."]})

    if cookie_click_id:
        # The cookie is the visitor's, not the advertiser's input: a stale or foreign one is ignored.
        click = found.clicks.get(cookie_click_id)
        if click is not None and offer is not None and click.offer_id == offer.pk:
            return _by_click(click, "cookie", occurred_at)

    if keys.referral_code:
        if offer is None:
            raise ConversionInvalid(
                "A referral code needs an offer.", fields={"offer": ["Required with referral_code."]}
            )
        code = keys.referral_code.strip().upper()
        if code not in found.partners:
            raise ConversionInvalid(
                "Unknown referral code.", fields={"referral_code": ["No partner has this referral code."]}
            )
        return found.partner_attribution(offer, found.partners[code], "referral_code", code)

    if keys.coupon:
        coupon = found.coupons.get(keys.coupon.strip().lower())
        if coupon is None or coupon[2] != advertiser.pk:
            raise ConversionInvalid(
                "Unknown coupon.", fields={"coupon": ["No partner has this coupon on your offers."]}
            )
        code, offer_id, _, partner_id = coupon
        if offer is not None and offer_id != offer.pk:
            raise ConversionInvalid(
                "The coupon is for another offer.", fields={"coupon": ["Not a coupon of this offer."]}
            )
        return found.partner_attribution(offer or offer_for_id(offer_id), partner_id, "coupon", code)

    if offer is None:
        raise ConversionInvalid(
            "Say who referred the conversion.",
            fields={"click_id": ["Send click_id, or referral_code or coupon with offer."]},
        )
    return Attribution(
        offer, None, None, UNATTRIBUTED, json.dumps({"step": "none", "cookie_seen": bool(cookie_click_id)})
    )


def _clicks_within(advertiser: Advertiser, reports: list[tuple[datetime, AttributionKeys]]):
    """A click counts from its time to its offer's cookie window after it: none that counts is older than the
    longest window before the earliest report, or newer than the latest."""
    if not reports:
        return None
    occurred = [occurred_at for occurred_at, _ in reports]
    return min(occurred) - timedelta(days=cookie_window_longest_days(advertiser.pk)), max(occurred)


def conversions_attribute(
    *, advertiser: Advertiser, reports: list[tuple[datetime, AttributionKeys]], cookie_click_id: str = ""
) -> list[Attribution | DomainError]:
    """Each (occurred_at, keys) attributed by the priority above, or the error that refuses it."""
    found = _Lookups.read([keys for _, keys in reports], cookie_click_id, _clicks_within(advertiser, reports))
    attributions: list[Attribution | DomainError] = []
    for occurred_at, keys in reports:
        try:
            attributions.append(_attribute(advertiser, occurred_at, keys, cookie_click_id, found))
        except DomainError as error:
            attributions.append(error)
    return attributions
