"""Recording reported conversions, whatever the channel: attribute them, store them `pending`, enqueue processing.

Every channel's report is a `ConversionReport`; `conversions_record` records any number in a constant number of
statements (attribution's reads, conversion_rows.py's one insert, and a read of the first conversions of repeats).
"""

import json
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from os import urandom
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from conversions.errors import ConversionInvalid
from conversions.intake.attribution import (
    OUTSIDE_WINDOW,
    UNATTRIBUTED,
    Attribution,
    any_text_sql,
    conversions_attribute,
)
from conversions.intake.conversion_rows import ROW_COLUMNS, conversion_rows_insert
from conversions.models import Conversion, PartnerPostback
from conversions.postbacks.services import partner_postback_events, partner_postbacks_enqueue
from conversions.processing.jobs import conversions_processing_request
from core.errors import DomainError
from core.money import MoneyError, money_quantize
from referrals.models import Advertiser
from referrals.request_metadata import RequestMetadata, country_for_ip, user_agent_describe
from rewards.engine import ConversionDetails


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversionReport(ConversionDetails):
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
    user_agent: str = ""
    # Set when the report went through the intake log (conversions/intake/intake_log.py): the id and time it was
    # answered with, and its own request's metadata (a writer's batch holds many requests).
    conversion_id: UUID | None = None
    received_at: datetime | None = None
    request: RequestMetadata | None = None


@dataclass(slots=True)
class Recorded:
    """One report's conversion and whether it is new, or the error that refused it; a repeated external id
    answers with the first conversion, even when the repeat would no longer attribute or validate."""

    conversion_id: UUID | None = None
    created: bool = False
    error: DomainError | None = None
    row: tuple | None = None
    attribution: Attribution | None = None


REJECTION_REMARKS = {
    OUTSIDE_WINDOW: "The click was older than the offer's cookie window.",
    UNATTRIBUTED: "No click, referral code or coupon identified a partner.",
}
_PENDING, _REJECTED = Conversion.Status.PENDING.value, Conversion.Status.REJECTED.value
_JSON_COLUMNS = ("meta", "attribution", "headers")
_ID = ROW_COLUMNS.index("id")
_STATUS = ROW_COLUMNS.index("status")
_PARTNER = ROW_COLUMNS.index("partner_id")


def _visitor_metadata(report: ConversionReport, request: RequestMetadata) -> RequestMetadata:
    """The visitor's metadata: a server-to-server report may carry the visitor's IP and user agent."""
    if not report.ip and not report.user_agent:
        return request
    ip = report.ip or request.ip
    user_agent = report.user_agent or request.user_agent
    return replace(
        request, ip=ip, country=country_for_ip(ip), user_agent=user_agent, agent=user_agent_describe(user_agent)
    )


def _json(value: dict, known: dict[tuple, str]) -> str:
    """`value` as JSON; a flat object seen before in this call (a CSV's meta columns repeat) from memory."""
    if not value:
        return "{}"
    try:
        key = tuple(value.items())
        text = known.get(key)
    except TypeError:  # nested: not hashable
        return json.dumps(value)
    if text is None:
        text = known[key] = json.dumps(value)
    return text


def _random_ids(count: int) -> list[UUID]:
    """`count` version 4 UUIDs, as uuid4() makes them, from one read of the system's random bytes (uuid4's own
    read per id was a tenth of preparing a CSV chunk)."""
    randomness = urandom(16 * count)
    return [UUID(bytes=randomness[start : start + 16], version=4) for start in range(0, 16 * count, 16)]


def conversion_row(
    report: ConversionReport,
    attribution: Attribution,
    occurred_at: datetime,
    channel: str,
    *,
    request: RequestMetadata,
    now: datetime,
    known: dict[tuple, str],
    new_id: UUID,
) -> tuple:
    """The new conversion's values (conversion_rows.ROW_COLUMNS), its id the report's or `new_id`; `known`
    remembers the JSON of repeated objects."""
    currency = report.currency or attribution.offer.currency
    try:
        amount = money_quantize(report.amount, currency)
    except MoneyError as error:
        raise ConversionInvalid(str(error), fields={"currency": [str(error)]}) from None
    metadata = _visitor_metadata(report, report.request or request)
    agent = metadata.agent
    reason = attribution.rejection
    # The pixel sees the visitor's browser; a server's report only when it names the visitor's IP or agent.
    from_visitor = channel == Conversion.Channel.PIXEL
    created_at = report.received_at or now
    return (
        report.conversion_id or new_id,
        created_at,
        attribution.offer.pk,
        attribution.partner_id,
        attribution.click.pk if attribution.click else None,
        report.external_id,
        report.type,
        _REJECTED if reason else _PENDING,
        reason,
        REJECTION_REMARKS.get(reason, ""),
        amount,
        currency,
        report.product_id,
        report.category,
        report.quantity,
        report.plan,
        report.subscription_id,
        report.source,
        metadata.user_agent,
        _json(report.meta, known),
        attribution.explanation,
        metadata.ip,
        metadata.country,
        agent.device_type,
        agent.browser[:64],
        agent.os[:64],
        agent.is_bot,
        _json(metadata.headers, known),
        from_visitor or bool(report.ip),
        from_visitor or bool(report.user_agent),
        occurred_at,
        created_at if reason else None,
    )


def conversions_prepare(
    *,
    advertiser: Advertiser,
    reports: list[ConversionReport],
    channel: str,
    request: RequestMetadata | None = None,
    cookie_click_id: str = "",
    now: datetime | None = None,
) -> list[Recorded]:
    """Validate and attribute each report into the row it would be stored as (`row`), or the error that refuses it;
    nothing is written. The intake log answers from these rows and conversions_record stores them."""
    now = now or timezone.now()
    recorded = [Recorded() for _ in reports]
    resolved: list[tuple[int, datetime]] = []
    tolerance = timedelta(seconds=settings.CONVERSION_FUTURE_TOLERANCE_SECONDS)
    for index, report in enumerate(reports):  # when it happened: as reported (not in the future), else received
        if report.occurred_at and report.occurred_at > (report.received_at or now) + tolerance:
            future = {"occurred_at": ["Must not be in the future."]}
            recorded[index].error = ConversionInvalid("occurred_at is in the future.", fields=future)
        else:
            resolved.append((index, report.occurred_at or report.received_at or now))
    attributions = conversions_attribute(
        advertiser=advertiser, reports=[(at, reports[index]) for index, at in resolved], cookie_click_id=cookie_click_id
    )
    request = request or RequestMetadata()
    known: dict[tuple, str] = {}
    new_ids = _random_ids(len(resolved))
    for (index, occurred_at), attribution, new_id in zip(resolved, attributions, new_ids, strict=True):
        outcome = recorded[index]
        try:
            if isinstance(attribution, DomainError):
                raise attribution
            outcome.row = conversion_row(
                reports[index], attribution, occurred_at, channel, request=request, now=now, known=known, new_id=new_id
            )
        except DomainError as error:
            outcome.error = error
            continue
        outcome.attribution = attribution
        outcome.conversion_id = outcome.row[_ID]
    return recorded


def conversions_record(
    *,
    advertiser: Advertiser,
    reports: list[ConversionReport],
    channel: str,
    request: RequestMetadata | None = None,
    cookie_click_id: str = "",
    actor_id: int | None = None,
    now: datetime | None = None,
) -> list[Recorded]:
    """Store each report once per (advertiser, external_id) (the unique constraint decides, races included);
    what happened to each, in order. `actor_id` is recorded on the first status changes (a file's uploader)."""
    recorded = conversions_prepare(
        advertiser=advertiser,
        reports=reports,
        channel=channel,
        request=request,
        cookie_click_id=cookie_click_id,
        now=now,
    )
    rows = [outcome.row for outcome in recorded if outcome.row]

    # A partner postback on "created" is written with its conversion, in one transaction; most
    # partners have none, and then one conversion is one statement in autocommit.
    partners = {row[_PARTNER] for row in rows}
    notified = {p for p in partners if PartnerPostback.Event.CREATED in partner_postback_events(p)}
    with transaction.atomic() if notified else nullcontext():
        inserted = conversion_rows_insert(rows, advertiser_id=advertiser.pk, channel=channel, actor_id=actor_id)
        for index, outcome in enumerate(recorded):
            conversion_id = inserted.pop(reports[index].external_id, None) if outcome.row else None
            if conversion_id is not None:
                outcome.conversion_id, outcome.created = conversion_id, True
                if outcome.row[_PARTNER] in notified:
                    partner_postbacks_enqueue(conversion_id=conversion_id, event=PartnerPostback.Event.CREATED)

    repeats = [index for index, outcome in enumerate(recorded) if not outcome.created]
    if repeats:
        taken = conversion_ids_for_external_ids(advertiser, {reports[index].external_id for index in repeats})
        for index in repeats:
            if first := taken.get(reports[index].external_id):
                recorded[index] = Recorded(conversion_id=first)
            elif recorded[index].error is None:  # prepared, but an earlier row of the list took its external id
                recorded[index].conversion_id = None
    if any(outcome.created and outcome.row[_STATUS] == _PENDING for outcome in recorded):
        conversions_processing_request()
    return recorded


def conversion_ids_for_external_ids(advertiser: Advertiser, external_ids: set[str]) -> dict[str, UUID]:
    """The stored conversions' ids by external id (a repeat's first conversion)."""
    any_ids, param = any_text_sql(external_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT external_id, id FROM {Conversion._meta.db_table}"  # noqa: S608
            f" WHERE advertiser_id = %s AND external_id = {any_ids}",
            [advertiser.pk, param],
        )
        return dict(cursor.fetchall())


def conversion_model(advertiser: Advertiser, outcome: Recorded, *, channel: str) -> Conversion:
    """The conversion as prepared (and inserted, or logged), as a model, from its row's values (no read back)."""
    values = dict(zip(ROW_COLUMNS, outcome.row, strict=True))
    for name in _JSON_COLUMNS:
        values[name] = json.loads(values[name])
    conversion = Conversion(advertiser=advertiser, channel=channel, **values)
    conversion.offer = outcome.attribution.offer
    if outcome.attribution.click is not None:
        conversion.click = outcome.attribution.click.model()
    conversion._state.adding, conversion._state.db = False, connection.alias
    return conversion


def conversion_record(
    *,
    advertiser: Advertiser,
    report: ConversionReport,
    channel: str,
    request: RequestMetadata | None = None,
    cookie_click_id: str = "",
    now: datetime | None = None,
) -> tuple[Conversion, bool]:
    """Record one report (conversions_record's list of one): the conversion and whether it is new, or raise what
    refused it."""
    now = now or timezone.now()
    [outcome] = conversions_record(
        advertiser=advertiser,
        reports=[report],
        channel=channel,
        request=request,
        cookie_click_id=cookie_click_id,
        now=now,
    )
    if outcome.error is not None:
        raise outcome.error
    if not outcome.created:
        return Conversion.objects.select_related("offer").get(pk=outcome.conversion_id), False
    return conversion_model(advertiser, outcome, channel=channel), True
