"""Processing pending conversions (one, or a batch), and staff or advertiser decisions on one.

Every status change goes through `_status_set`, which writes the audit row.
"""

import gc
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from conversions.errors import ConversionTransitionNotAllowed
from conversions.fraud.screening import SCREENING_FIELDS, Screening, conversion_screen_store, conversions_screen
from conversions.models import Conversion, StatusChange
from conversions.postbacks import partner_postbacks_enqueue, partners_with_postbacks
from conversions.rollups import rollup_reward_add, rollup_reward_reversed, rollup_rewards_add
from referrals.models import Click, Offer
from rewards.bulk import bulk_supported, instance_new, rows_copy, rows_update
from rewards.engine import ConversionFacts
from rewards.models import Reward
from rewards.services import (
    Outcome,
    RewardContext,
    RewardDecision,
    reward_approve,
    reward_grant,
    reward_grants_decide,
    reward_grants_flush,
    reward_reverse,
)

log = logging.getLogger(__name__)

NO_MATCHING_RULE = Outcome.NO_MATCHING_RULE
MISSING_EXCHANGE_RATE = Outcome.MISSING_EXCHANGE_RATE

# What the publisher is told when a conversion earns nothing.
_REJECTION_REMARKS = {
    Outcome.NO_MATCHING_RULE: "No reward rule of the offer applies to this conversion.",
    Outcome.CAP_REACHED: "The offer's spend limit for this period was reached.",
    Outcome.RECURRING_LIMIT_REACHED: "The offer pays no commission on this invoice of the subscription.",
}

# The lifecycle of DESIGN.md: which status may follow which.
ALLOWED_TRANSITIONS = {
    Conversion.Status.PENDING: {Conversion.Status.ACCEPTED, Conversion.Status.REJECTED, Conversion.Status.SUSPICIOUS},
    Conversion.Status.SUSPICIOUS: {Conversion.Status.ACCEPTED, Conversion.Status.REJECTED},
    Conversion.Status.ACCEPTED: {Conversion.Status.REJECTED},
    Conversion.Status.REJECTED: set(),
}


def conversion_facts(conversion: Conversion) -> ConversionFacts:
    """The plain facts the reward engine sees; it never sees the model."""
    return ConversionFacts(
        type=conversion.type,
        amount=conversion.amount,
        currency=conversion.currency,
        occurred_at=conversion.occurred_at,
        partner_id=conversion.partner_id,
        product_id=conversion.product_id,
        category=conversion.category,
        plan=conversion.plan,
        quantity=conversion.quantity,
        source=conversion.source,
        country=conversion.country,
        subscription_id=conversion.subscription_id,
        meta=conversion.meta if isinstance(conversion.meta, dict) else {},
    )


class _Writes:
    """Status changes a batch collects and writes at the end: one COPY of audit rows, one UPDATE of conversions."""

    FIELDS = ["status", "status_reason", "status_remark", "processed_at", "reward_explanation", *SCREENING_FIELDS]

    def __init__(self) -> None:
        self.changes: list[StatusChange] = []
        self.rewards: list[tuple[Conversion, Reward]] = []

    def flush(self, screened: list[Conversion], *, serialized: dict | None = None) -> None:
        """Write the changes and the screening of every conversion in `screened` (all the batch took)."""
        if bulk_supported():
            rows_copy(
                StatusChange,
                ["conversion_id", "from_status", "to_status", "reason", "remark", "actor_id", "channel", "created_at"],
                (
                    (
                        c.conversion_id,
                        c.from_status,
                        c.to_status,
                        c.reason,
                        c.remark,
                        c.actor_id,
                        c.channel,
                        c.created_at,
                    )
                    for c in self.changes
                ),
            )
        else:
            StatusChange.objects.bulk_create(self.changes)
        rows_update(Conversion, self.FIELDS, screened, serialized=serialized)
        # Postbacks read the saved status, so they come after the update; one query finds who has any.
        with_postbacks = partners_with_postbacks({change.conversion.partner_id for change in self.changes})
        for change in self.changes:
            if change.conversion.partner_id in with_postbacks:
                partner_postbacks_enqueue(conversion_id=change.conversion_id, event="status_changed")
        self.changes = []


def _status_set(
    conversion: Conversion,
    to_status: str,
    *,
    reason: str,
    remark: str = "",
    channel: str,
    now: datetime,
    actor=None,
    writes: _Writes | None = None,
) -> None:
    if to_status not in ALLOWED_TRANSITIONS[conversion.status]:
        raise ConversionTransitionNotAllowed(f"A {conversion.status} conversion cannot become {to_status}.")
    change = instance_new(
        StatusChange,
        related={"conversion": conversion},
        conversion_id=conversion.pk,
        from_status=conversion.status,
        to_status=to_status,
        reason=reason,
        remark=remark,
        actor_id=actor.pk if actor is not None else None,
        channel=channel,
        created_at=now,
    )
    conversion.status, conversion.status_reason, conversion.status_remark = to_status, reason, remark
    conversion.processed_at = now
    if writes is not None:
        writes.changes.append(change)
        return
    change.save()
    conversion.save(update_fields=["status", "status_reason", "status_remark", "processed_at", "reward_explanation"])
    partner_postbacks_enqueue(conversion_id=conversion.pk, event="status_changed")


def _reward_and_settle(
    conversion: Conversion,
    *,
    channel: str,
    now: datetime,
    actor=None,
    remark: str = "",
) -> str:
    """Ask the rules what the conversion earns and settle its status accordingly; returns the outcome."""
    decision = reward_grant(
        conversion_id=conversion.pk, offer=conversion.offer, facts=conversion_facts(conversion), now=now
    )
    return _settle(conversion, decision, channel=channel, now=now, actor=actor, remark=remark)


def _settle(
    conversion: Conversion,
    decision: RewardDecision,
    *,
    channel: str,
    now: datetime,
    actor=None,
    remark: str = "",
    writes: _Writes | None = None,
) -> str:
    """Settle the conversion's status by its reward decision; a batch passes `writes` and saves at the end."""
    conversion.reward_explanation = decision.explanation
    if decision.outcome == Outcome.MISSING_EXCHANGE_RATE:
        # It stays pending; loading the rate processes it (conversions/jobs.py).
        missing = decision.explanation["missing_rate"]
        conversion.status_reason = MISSING_EXCHANGE_RATE
        conversion.status_remark = f"Waiting for the {missing['base']}->{missing['quote']} rate of {missing['date']}."
        if writes is None:
            conversion.save(update_fields=["status_reason", "status_remark", "reward_explanation"])
        return decision.outcome
    if decision.reward is None:
        _status_set(
            conversion,
            Conversion.Status.REJECTED,
            reason=decision.outcome,
            remark=_REJECTION_REMARKS[decision.outcome],
            channel=channel,
            now=now,
            actor=actor,
            writes=writes,
        )
    else:
        if writes is not None:
            # The batch writes its rewards at the end (reward_grants_flush); count them after that.
            writes.rewards.append((conversion, decision.reward))
        else:
            rollup_reward_add(conversion=conversion)
        _status_set(
            conversion,
            Conversion.Status.ACCEPTED,
            reason="",
            remark=remark,
            channel=channel,
            now=now,
            actor=actor,
            writes=writes,
        )
    return decision.outcome


def _screening_hold(conversion: Conversion, screening: Screening, *, now: datetime, writes=None) -> str | None:
    """Hold the conversion as the screening decided (flag or reject); the outcome, or None when it passed."""
    if not screening.holds:
        return None
    _status_set(
        conversion,
        screening.status,
        reason=screening.reason,
        remark=screening.remark,
        channel="fraud",
        now=now,
        writes=writes,
    )
    return f"fraud_{screening.decision}"


def conversion_process(*, conversion_id: str | UUID, now: datetime | None = None) -> str:
    """Reward a pending conversion or reject it, in one transaction; a no-op unless it is still pending."""
    now = now or timezone.now()
    with transaction.atomic():
        conversion = (
            Conversion.objects.select_for_update(of=("self",))
            .select_related("offer__advertiser")
            .filter(pk=conversion_id)
            .first()
        )
        if conversion is None or conversion.status != Conversion.Status.PENDING:
            return conversion.status if conversion else "missing"
        _screen_and_settle(conversion, now=now)
        return conversion.status


def _screen_and_settle(conversion: Conversion, *, now: datetime) -> str:
    """The per-conversion pipeline on a locked pending conversion; returns the outcome."""
    # Fraud screening comes before any reward: a held conversion earns nothing until staff approve it.
    screening = conversion_screen_store(conversion, now=now)
    held = _screening_hold(conversion, screening, now=now)
    if held:
        return held
    return _reward_and_settle(conversion, channel="job", now=now)


@dataclass
class BatchResult:
    counts: dict[str, int] = field(default_factory=dict)
    # The (created_at, id) of the last conversion taken: where a pass over waiting conversions goes on.
    last: tuple[datetime, UUID] | None = None

    @property
    def taken(self) -> int:
        return sum(self.counts.values())


def conversions_process_pending(
    *,
    batch_size: int = 500,
    retry_missing_rates: bool = False,
    after: tuple[datetime, UUID] | None = None,
    now: datetime | None = None,
) -> BatchResult:
    """Process up to `batch_size` pending conversions in one transaction; returns a count per outcome.

    The rows are locked with SKIP LOCKED, so several workers (and the
    per-conversion job) share the work without waiting on each other, and a
    conversion is never processed twice: each is re-checked as `pending` under
    its lock, and a reward is unique per conversion. The offers' rules, the
    exchange rates and the rewards already made are loaded once for the batch.
    Conversions waiting for a rate are left out unless `retry_missing_rates`
    (then only they are taken, from `after` on, so one pass ends).
    """
    now = now or timezone.now()
    result = BatchResult()
    with transaction.atomic():
        query = Conversion.objects.select_for_update(of=("self",), skip_locked=True).filter(
            status=Conversion.Status.PENDING
        )
        if retry_missing_rates:
            query = query.filter(status_reason=MISSING_EXCHANGE_RATE)
        else:
            query = query.exclude(status_reason=MISSING_EXCHANGE_RATE)
        if after is not None:
            query = query.filter(Q(created_at__gt=after[0]) | Q(created_at=after[0], pk__gt=after[1]))
        # Whether a reward exists comes with the rows (rarely true for a pending one): no query by 500 ids for it.
        has_reward = Exists(Reward.objects.filter(conversion_id=OuterRef("pk")))
        # The request headers and attribution trail are for people reading a conversion, not for processing it.
        query = query.defer("headers", "attribution").annotate(has_reward=has_reward)
        batch = list(query.order_by("created_at", "pk")[:batch_size])
        if not batch:
            return result
        _related_attach(batch)
        result.last = (batch[-1].created_at, batch[-1].pk)
        try:
            with transaction.atomic(), _cycle_collection_paused():
                result.counts = _batch_settle(batch, now=now)
        except Exception:
            # Something in the batch failed: redo it one conversion at a time, each in its own savepoint, so
            # the others go through and the bad one stays pending (and is logged).
            log.exception("batch of %d conversions failed; processing them one by one", len(batch))
            result.counts = _one_by_one([conversion.pk for conversion in batch], now=now)
    return result


@contextmanager
def _cycle_collection_paused():
    """No cyclic GC while a batch runs: its thousands of short-lived objects would trigger collections that scan
    every object of the worker and free nothing (they live to the end of the batch). Reference counting still
    frees as usual, and the next collection after the batch finds any cycles."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _related_attach(batch: list[Conversion]) -> None:
    """Give the batch its offers (with advertisers) and clicks: one instance each, not one per row (select_related)."""
    offers = Offer.objects.select_related("advertiser").in_bulk({conversion.offer_id for conversion in batch})
    click_ids = {conversion.click_id for conversion in batch if conversion.click_id}
    clicks = Click.objects.in_bulk(click_ids) if click_ids else {}
    for conversion in batch:
        conversion.offer = offers[conversion.offer_id]
        if conversion.click_id:
            conversion.click = clicks[conversion.click_id]


def _batch_settle(batch: list[Conversion], *, now: datetime) -> dict[str, int]:
    """The set-based path: what `_screen_and_settle` does for each, decided in memory, written in a few statements."""
    writes, counts, passed = _Writes(), {}, []
    for conversion, screening in zip(batch, conversions_screen(batch, now=now), strict=True):
        held = _screening_hold(conversion, screening, now=now, writes=writes)
        if held:
            counts[held] = counts.get(held, 0) + 1
        else:
            passed.append(conversion)
    facts = [conversion_facts(conversion) for conversion in passed]
    context = RewardContext.for_batch(
        offer_ids={conversion.offer_id for conversion in passed},
        facts=facts,
        conversion_ids=[conversion.pk for conversion in passed if conversion.has_reward],
    )
    decisions = reward_grants_decide(
        items=[(conversion.pk, conversion.offer, item) for conversion, item in zip(passed, facts, strict=True)],
        now=now,
        context=context,
    )
    for conversion, decision in zip(passed, decisions, strict=True):
        outcome = _settle(conversion, decision, channel="job", now=now, writes=writes)
        counts[outcome] = counts.get(outcome, 0) + 1
    serialized: dict = {}  # each explanation as JSON once, for its reward and its conversion
    reward_grants_flush(context=context, now=now, serialized=serialized)
    rollup_rewards_add(writes.rewards)
    writes.flush(batch, serialized=serialized)
    return counts


def _one_by_one(conversion_ids: list, *, now: datetime) -> dict[str, int]:
    counts: dict[str, int] = {}
    for conversion_id in conversion_ids:
        try:
            with transaction.atomic():
                conversion = Conversion.objects.select_related("offer__advertiser").get(pk=conversion_id)
                outcome = _screen_and_settle(conversion, now=now)
        except Exception:
            log.exception("processing conversion %s failed", conversion_id)
            outcome = "failed"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def conversion_validate(
    *, conversion_id: str | UUID, actor=None, channel: str = "advertiser", now: datetime | None = None
) -> Conversion:
    """The advertiser confirms an accepted conversion before its validation term ends: its reward is approved."""
    now = now or timezone.now()
    with transaction.atomic():
        conversion = Conversion.objects.select_for_update(of=("self",)).get(pk=conversion_id)
        if conversion.status != Conversion.Status.ACCEPTED:
            raise ConversionTransitionNotAllowed(f"A {conversion.status} conversion cannot be validated.")
        reward_approve(conversion_id=conversion.pk, now=now, memo=f"validated ({channel})")
        return conversion


def conversion_approve(
    *, conversion_id: str | UUID, actor=None, remark: str = "", channel: str = "admin", now: datetime | None = None
) -> Conversion:
    """Accept a pending or suspicious conversion and reward it (exactly once, however often it is called)."""
    now = now or timezone.now()
    with transaction.atomic():
        conversion = (
            Conversion.objects.select_for_update(of=("self",)).select_related("offer__advertiser").get(pk=conversion_id)
        )
        if conversion.status == Conversion.Status.ACCEPTED:
            return conversion
        if conversion.status not in (Conversion.Status.PENDING, Conversion.Status.SUSPICIOUS):
            raise ConversionTransitionNotAllowed(f"A {conversion.status} conversion cannot be approved.")
        _reward_and_settle(conversion, channel=channel, now=now, actor=actor, remark=remark)
        return conversion


def conversion_reject(
    *,
    conversion_id: str | UUID,
    reason: str,
    remark: str,
    actor=None,
    channel: str = "admin",
    now: datetime | None = None,
) -> Conversion:
    """Reject a conversion with a reason the publisher sees; an accepted one has its reward reversed."""
    now = now or timezone.now()
    with transaction.atomic():
        conversion = Conversion.objects.select_for_update(of=("self",)).get(pk=conversion_id)
        if conversion.status == Conversion.Status.REJECTED:
            return conversion
        _status_set(
            conversion, Conversion.Status.REJECTED, reason=reason, remark=remark, channel=channel, now=now, actor=actor
        )
        reward_reverse(conversion_id=conversion.pk, reason=remark or reason, now=now)
        rollup_reward_reversed(conversion=conversion)
        return conversion
