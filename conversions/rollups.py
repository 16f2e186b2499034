"""The conversion rollups: conversions and earnings per quarter hour, partner and offer (and per sub1), added by
the statement that records conversions and inside processing's transactions, so they change with what they count.
"""

from decimal import Decimal

from conversions.models import Conversion, ConversionStat, ConversionSub1Stat
from referrals.models import Click
from referrals.rollups import ROLLUP_KEY, rollup_bucket, rollup_upsert_sql, rollups_add
from rewards.models import Reward

_COUNTERS = ["conversions", "earnings"]


def conversion_rollup_sql(*, source: str = "", sub1_source: str = "") -> tuple[str, str]:
    """The ConversionStat and ConversionSub1Stat upserts; a source replaces their VALUES row (rollup_upsert_sql)."""
    return (
        rollup_upsert_sql(ConversionStat._meta.db_table, [*ROLLUP_KEY, "currency"], _COUNTERS, source=source),
        rollup_upsert_sql(
            ConversionSub1Stat._meta.db_table, [*ROLLUP_KEY, "sub1", "currency"], _COUNTERS, source=sub1_source
        ),
    )


CONVERSION_SQL, CONVERSION_SUB1_SQL = conversion_rollup_sql()


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
    rollups_add(by_sub1, sql=CONVERSION_SQL, sub1_sql=CONVERSION_SUB1_SQL)


def rollup_conversions_rebuild() -> int:
    """Recount the rollups from conversions and rewards (in a transaction, ingestion paused); the sub1 rows made."""
    ConversionStat.objects.all().delete()
    ConversionSub1Stat.objects.all().delete()
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
    rollups_add(by_sub1, sql=CONVERSION_SQL, sub1_sql=CONVERSION_SUB1_SQL)
    return len(by_sub1)
