"""The processor: a set of locked conversions screened, rewarded or rejected, and written in a few statements.
One path (`conversions_settle`) for the jobs, the sweeper's batches and staff approval (conversions/lifecycle.py).
"""

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from conversions.fraud.screening import conversions_screen
from conversions.models import Conversion
from conversions.processing.status import StatusWrites
from conversions.rollups import rollup_earnings_add
from core.garbage_collection import cyclic_gc_paused
from core.rows import JsonOnce
from referrals.models import Click, Offer
from rewards.engine import FACTS_NAMES, ConversionFacts
from rewards.grants import GrantRequest, Outcome, rewards_grant
from rewards.models import Reward

log = logging.getLogger(__name__)

# What the publisher is told when a conversion earns nothing.
_REJECTION_REMARKS = {
    Outcome.NO_MATCHING_RULE: "No reward rule of the offer applies to this conversion.",
    Outcome.CAP_REACHED: "The offer's spend limit for this period was reached.",
    Outcome.RECURRING_LIMIT_REACHED: "The offer pays no commission on this invoice of the subscription.",
}


def conversion_facts(conversion: Conversion) -> ConversionFacts:
    """The plain facts the reward engine sees (its fields by the same names); it never sees the model."""
    facts = {name: getattr(conversion, name) for name in FACTS_NAMES}
    facts["meta"] = facts["meta"] if isinstance(facts["meta"], dict) else {}
    return ConversionFacts(**facts)


def conversions_lock(query: QuerySet, *, skip_locked: bool = False, limit: int | None = None) -> list[Conversion]:
    """Lock the conversions `query` selects (the first `limit`) with their offer, advertiser, click and has_reward
    (which saves the grant a query by a thousand ids); one instance of each offer and click for the set."""
    # The request headers and attribution trail are for people reading a conversion, not for processing it.
    query = (
        query.select_for_update(of=("self",), skip_locked=skip_locked)
        .defer("headers", "attribution")
        .annotate(has_reward=Exists(Reward.objects.filter(conversion_id=OuterRef("pk"))))
    )
    conversions = list(query[:limit] if limit else query)
    offers = Offer.objects.select_related("advertiser").in_bulk({conversion.offer_id for conversion in conversions})
    clicks = Click.objects.in_bulk({conversion.click_id for conversion in conversions if conversion.click_id})
    for conversion in conversions:
        conversion.offer = offers[conversion.offer_id]
        if conversion.click_id:
            conversion.click = clicks[conversion.click_id]
    return conversions


def conversions_settle(
    conversions: list[Conversion],
    *,
    now: datetime,
    screen: bool = True,
    channel: str = "job",
    actor=None,
    remark: str = "",
) -> dict[str, int]:
    """Screen locked conversions (unless staff release them), reward or reject them, write it all; counts.
    Each is decided as if processed alone, in order; one waiting for a rate stays pending."""
    writes, counts, passed = StatusWrites(), Counter(), conversions
    if screen:
        # Fraud screening comes before any reward: a held conversion earns nothing until staff approve it.
        passed = []
        for conversion, screening in zip(conversions, conversions_screen(conversions, now=now), strict=True):
            if not screening.holds:
                passed.append(conversion)
                continue
            status, reason, why = screening.status, screening.reason, screening.remark
            writes.change(conversion, status, reason=reason, remark=why, channel="fraud", now=now)
            counts[f"fraud_{screening.decision}"] += 1
    json_once = JsonOnce()  # each explanation as JSON once, for its reward and its conversion
    requests = [
        GrantRequest(
            conversion_id=conversion.pk,
            offer=conversion.offer,
            facts=conversion_facts(conversion),
            may_have_reward=getattr(conversion, "has_reward", True),
        )
        for conversion in passed
    ]
    decisions = rewards_grant(requests=requests, now=now, json_once=json_once)
    earned = []
    for conversion, decision in zip(passed, decisions, strict=True):
        counts[decision.outcome] += 1
        conversion.reward_explanation = decision.explanation
        if decision.outcome == Outcome.MISSING_EXCHANGE_RATE:
            # It stays pending; loading the rate processes it (conversions/processing/jobs.py).
            conversion.status_reason = Outcome.MISSING_EXCHANGE_RATE
            conversion.status_remark = "Waiting for the {base}->{quote} rate of {date}.".format(
                **decision.explanation["missing_rate"]
            )
            continue
        if decision.reward is None:
            status, reason, why = Conversion.Status.REJECTED, decision.outcome, _REJECTION_REMARKS[decision.outcome]
        else:
            status, reason, why = Conversion.Status.ACCEPTED, "", remark
            earned.append((conversion, decision.reward.currency, decision.reward.amount))
        writes.change(conversion, status, reason=reason, remark=why, channel=channel, now=now, actor=actor)
    rollup_earnings_add(earned)
    writes.write(conversions, json_once=json_once)
    return dict(counts)


def conversion_process(*, conversion_id: str | UUID, now: datetime | None = None) -> str:
    """Reward a pending conversion or reject it, in one transaction; a no-op unless it is still pending."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = conversions_lock(Conversion.objects.filter(pk=conversion_id))
        if not locked:
            return "missing"
        if locked[0].status == Conversion.Status.PENDING:
            conversions_settle(locked, now=now)
        return locked[0].status


def conversions_process(*, conversion_ids: list, now: datetime | None = None) -> dict[str, int]:
    """Process these conversions as one set (those still pending), in one transaction; a count per outcome."""
    now = now or timezone.now()
    with transaction.atomic():
        # Locked oldest first, as the sweeper takes them: two callers wanting the same rows queue, never deadlock.
        query = Conversion.objects.filter(pk__in=conversion_ids).order_by("created_at", "pk")
        pending = [c for c in conversions_lock(query) if c.status == Conversion.Status.PENDING]
        return conversions_settle(pending, now=now) if pending else {}


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
    """Process up to `batch_size` pending conversions in one transaction (SKIP LOCKED: workers share without
    waiting); those waiting for a rate only if `retry_missing_rates`, and then only they, from `after` on."""
    now = now or timezone.now()
    result = BatchResult()
    with transaction.atomic():
        query = Conversion.objects.filter(status=Conversion.Status.PENDING)
        waiting = Q(status_reason=Outcome.MISSING_EXCHANGE_RATE)
        query = query.filter(waiting) if retry_missing_rates else query.exclude(waiting)
        if after is not None:
            query = query.filter(Q(created_at__gt=after[0]) | Q(created_at=after[0], pk__gt=after[1]))
        batch = conversions_lock(query.order_by("created_at", "pk"), skip_locked=True, limit=batch_size)
        if not batch:
            return result
        result.last = (batch[-1].created_at, batch[-1].pk)
        try:
            with transaction.atomic(), cyclic_gc_paused():
                result.counts = conversions_settle(batch, now=now)
        except Exception:
            # Something in the batch failed: redo it one conversion at a time, each in its own savepoint, so
            # the others go through and the bad one stays pending (and is logged).
            log.exception("batch of %d conversions failed; processing them one by one", len(batch))
            counts = Counter()
            for conversion in batch:
                try:
                    with transaction.atomic():  # its lock is held already
                        alone = conversions_lock(Conversion.objects.filter(pk=conversion.pk))
                        counts.update(conversions_settle(alone, now=now))
                except Exception:
                    log.exception("processing conversion %s failed", conversion.pk)
                    counts["failed"] += 1
            result.counts = dict(counts)
    return result
