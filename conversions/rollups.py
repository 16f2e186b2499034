"""The conversion rollups: conversions and earnings per quarter hour, partner and offer (and per sub1), and the same
per UTC day, added by the statement that records conversions and inside processing's transactions, so they change
with what they count.
"""

from decimal import Decimal

from conversions.models import (
    Conversion,
    ConversionDayStat,
    ConversionStat,
    ConversionSub1DayStat,
    ConversionSub1Stat,
    PartnerConversionSub1DayStat,
)
from referrals.models import Click
from referrals.rollups import RollupStatements, rollup_bucket, rollup_statements, rollups_add
from rewards.models import Reward

CONVERSION_ROLLUPS = (
    ConversionStat,
    ConversionSub1Stat,
    ConversionDayStat,
    ConversionSub1DayStat,
    PartnerConversionSub1DayStat,
)


def conversion_rollup_sql(*, source=None) -> RollupStatements:
    """The conversion rollups' upserts; `source(day=, sub1=, offer=)` replaces their VALUES rows (rollup_statements)."""
    return rollup_statements(
        CONVERSION_ROLLUPS, keys_after=["currency"], counters=["conversions", "earnings"], source=source
    )


CONVERSION_STATEMENTS = conversion_rollup_sql()


def rollup_earnings_add(moves: list[tuple[Conversion, str, Decimal]]) -> None:
    """Move the earnings by (conversion, currency, amount): a reward granted (+), reversed (-) or adjusted; the one
    place earnings change, a batch in a few statements (per reward it was 43% of W3, docs/performance.md)."""
    moves = [move for move in moves if move[0].partner_id is not None]
    sub1s = {c.click_id: c.click.sub1 for c, _, _ in moves if c.click_id and Conversion.click.is_cached(c)}
    if missing := {c.click_id for c, _, _ in moves if c.click_id and c.click_id not in sub1s}:
        sub1s.update(Click.objects.filter(pk__in=missing).values_list("pk", "sub1"))
    by_sub1: dict[tuple, list] = {}
    for conversion, currency, amount in moves:
        key = (conversion.partner_id, rollup_bucket(conversion.created_at), conversion.offer_id)
        by_sub1.setdefault((*key, sub1s.get(conversion.click_id, ""), currency), [0, Decimal(0)])[1] += amount
    rollups_add(by_sub1, statements=CONVERSION_STATEMENTS)


def rollup_conversions_rebuild() -> int:
    """Recount the rollups from conversions and rewards (in a transaction, ingestion paused); the sub1 rows made."""
    for model in CONVERSION_ROLLUPS:
        model.objects.all().delete()
    by_sub1: dict[tuple, list] = {}
    keys = {}
    rows = Conversion.objects.filter(partner__isnull=False).values_list(
        "pk", "partner_id", "created_at", "offer_id", "click__sub1"
    )
    for pk, partner_id, created_at, offer_id, sub1 in rows.iterator(chunk_size=10_000):
        keys[pk] = (partner_id, rollup_bucket(created_at), offer_id, sub1 or "")
        by_sub1.setdefault((*keys[pk], ""), [0, Decimal(0)])[0] += 1
    rewards = Reward.objects.exclude(status=Reward.Status.REVERSED).values_list("conversion_id", "currency", "amount")
    for conversion_id, currency, amount in rewards.iterator(chunk_size=10_000):
        if conversion_id in keys:
            by_sub1.setdefault((*keys[conversion_id], currency), [0, Decimal(0)])[1] += amount
    rollups_add(by_sub1, statements=CONVERSION_STATEMENTS)
    return len(by_sub1)
