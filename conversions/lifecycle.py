"""Decisions on one conversion after it was recorded: staff and advertisers approve, reject, validate, change amounts.
Approving runs the processor (processing/pipeline.py) without screening: staff or the advertiser released it."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import islice
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from conversions.errors import ConversionTransitionNotAllowed
from conversions.models import Conversion
from conversions.processing.pipeline import conversion_facts, conversions_lock, conversions_settle
from conversions.processing.status import conversion_status_keep, conversion_status_set
from conversions.rollups import rollup_earnings_add
from core.errors import DomainError
from core.money import money_quantize
from rewards.lifecycle import reward_amount_adjust, reward_approve, reward_reverse, rewards_approve
from rewards.models import Reward


class ValidationTermOver(ConversionTransitionNotAllowed):
    code = "validation_term_over"


def validation_term_ends(conversion: Conversion) -> datetime:
    """The advertiser may approve or reject until then (the offer's validation term after creation)."""
    return conversion.created_at + timedelta(days=conversion.offer.validation_term_days)


def _locked(conversion_id) -> Conversion:
    return Conversion.objects.select_for_update(of=("self",)).select_related("offer").get(pk=conversion_id)


def conversion_approve(
    *, conversion_id: str | UUID, actor=None, remark: str = "", channel: str = "admin", now: datetime | None = None
) -> Conversion:
    """Accept a pending or suspicious conversion and reward it (exactly once, however often it is called)."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = conversions_lock(Conversion.objects.filter(pk=conversion_id))
        if not locked:
            raise Conversion.DoesNotExist(f"no conversion {conversion_id}")
        conversion = locked[0]
        if conversion.status == Conversion.Status.ACCEPTED:
            return conversion
        if conversion.status not in (Conversion.Status.PENDING, Conversion.Status.SUSPICIOUS):
            raise ConversionTransitionNotAllowed(f"A {conversion.status} conversion cannot be approved.")
        conversions_settle(locked, now=now, screen=False, channel=channel, actor=actor, remark=remark)
        return conversion


def conversion_reject(
    *, conversion_id: str | UUID, reason: str, remark: str, actor=None, channel="admin", now: datetime | None = None
) -> Conversion:
    """Reject a conversion with a reason the publisher sees; an accepted one has its reward reversed."""
    now = now or timezone.now()
    with transaction.atomic():
        conversion = _locked(conversion_id)
        if conversion.status == Conversion.Status.REJECTED:
            return conversion
        conversion_status_set(
            conversion, Conversion.Status.REJECTED, reason=reason, remark=remark, channel=channel, now=now, actor=actor
        )
        reward = reward_reverse(conversion_id=conversion.pk, reason=remark or reason, now=now)
        if reward is not None and reward.status == Reward.Status.REVERSED:
            rollup_earnings_add([(conversion, reward.currency, -reward.amount)])
        return conversion


def conversion_validate(*, conversion_id: str | UUID, channel="advertiser", now: datetime | None = None) -> Conversion:
    """The advertiser confirms an accepted conversion before its validation term ends: its reward is approved."""
    with transaction.atomic():
        conversion = _locked(conversion_id)
        if conversion.status != Conversion.Status.ACCEPTED:
            raise ConversionTransitionNotAllowed(f"A {conversion.status} conversion cannot be validated.")
        reward_approve(conversion_id=conversion.pk, now=now or timezone.now(), memo=f"validated ({channel})")
        return conversion


@dataclass
class Decided:
    """What a decision on a set did: the conversions it changed, those already so, and those it refused, why."""

    changed: list[Conversion] = field(default_factory=list)
    unchanged: list[Conversion] = field(default_factory=list)
    refused: list[tuple[Conversion, DomainError]] = field(default_factory=list)


def conversions_decide(
    *,
    conversions: Iterable[Conversion],
    decision: str,
    remark: str = "",
    actor=None,
    channel: str = "advertiser",
    now: datetime | None = None,
    chunk_size: int = 500,
) -> Decided:
    """The advertiser's decision within the validation term, on one conversion or thousands (a select-all):
    approve (the conversion, and its reward at once: the advertiser's approval is the validation), or reject with
    a remark the publisher sees. Deciding the same way twice changes nothing the second time."""
    now = now or timezone.now()
    if decision not in ("approve", "reject"):
        raise ValueError(f"unknown decision {decision!r}")
    remark = remark.strip()[:500]
    if decision == "reject" and not remark:
        raise ConversionTransitionNotAllowed("Say why you reject it: the publisher is told.")
    decided, conversions = Decided(), iter(conversions)
    while chunk := list(islice(conversions, chunk_size)):
        with transaction.atomic():
            _chunk_decide(chunk, decided, decision=decision, remark=remark, actor=actor, channel=channel, now=now)
    return decided


def _chunk_decide(chunk: list[Conversion], decided: Decided, *, decision: str, remark: str, **common) -> None:
    moved, accepted, refused = set(), [], set()
    for conversion in chunk:
        try:
            if common["now"] > (ends := validation_term_ends(conversion)):
                raise ValidationTermOver(f"The validation term ended on {ends:%Y-%m-%d}; ask the network to change it.")
            if decision == "reject":
                after = conversion_reject(
                    conversion_id=conversion.pk, reason="advertiser_rejected", remark=remark, **common
                )
            elif conversion.status == Conversion.Status.ACCEPTED:
                after = conversion  # its reward is approved below, with the chunk's others, in one call
                accepted.append(conversion)
            else:
                after = conversion_approve(conversion_id=conversion.pk, remark=remark, **common)  # accepted first
                accepted.append(conversion)
        except DomainError as error:
            decided.refused.append((conversion, error))
            refused.add(conversion.pk)
            continue
        if after.status != conversion.status:
            moved.add(conversion.pk)
    if accepted:
        moved |= rewards_approve(
            conversion_ids=[c.pk for c in accepted], now=common["now"], memo=f"validated ({common['channel']})"
        )
    for conversion in chunk:
        if conversion.pk not in refused:
            (decided.changed if conversion.pk in moved else decided.unchanged).append(conversion)


def conversion_decide(*, conversion: Conversion, **decision) -> bool:
    """`conversions_decide` for one conversion: True if it changed; a refusal is raised."""
    decided = conversions_decide(conversions=[conversion], **decision)
    if decided.refused:
        raise decided.refused[0][1]
    return bool(decided.changed)


def conversion_amount_change(
    *, conversion_id, amount: Decimal, actor=None, channel: str = "advertiser", now: datetime | None = None
) -> bool:
    """Set a new order amount within the validation term, recompute the reward (one ledger adjustment); True if
    it changed. Quantized first, so "100.004" on a USD 100.00 changes nothing (a file uploaded again is a no-op)."""
    now = now or timezone.now()
    with transaction.atomic():
        conversion = _locked(conversion_id)
        new = money_quantize(amount, conversion.currency)
        if new == conversion.amount:
            return False
        if now > (ends := validation_term_ends(conversion)):
            raise ValidationTermOver(f"The validation term ended on {ends:%Y-%m-%d}; the amount can no longer change.")
        old = money_quantize(conversion.amount, conversion.currency)
        conversion.amount = new
        conversion.save(update_fields=["amount"])
        change = f"{old} -> {new} {conversion.currency}"
        # The reward's amount before (none without a partner), to move the earnings rollups by the difference.
        before = Reward.objects.filter(conversion_id=conversion.pk).values_list("amount", flat=True).first()
        if before is not None:
            memo = f"conversion {conversion.external_id}: amount {change}"
            reward = reward_amount_adjust(
                conversion_id=conversion.pk, facts=conversion_facts(conversion), now=now, memo=memo
            )
            if reward is not None and reward.amount != before:
                # A reversed reward is never adjusted, so a changed one still counts in the earnings.
                rollup_earnings_add([(conversion, reward.currency, reward.amount - before)])
                conversion.reward_explanation = reward.explanation
                conversion.save(update_fields=["reward_explanation"])
        remark = f"Amount {change}"
        conversion_status_keep(
            conversion, reason="amount_changed", remark=remark, channel=channel, actor=actor, now=now
        )
        return True
