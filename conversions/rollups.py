"""The conversion rollup: conversions and earnings per quarter hour, partner, offer and sub1.

Called inside the transactions of ingestion and processing, so a rollup row
changes exactly when the conversion or reward it counts does.
"""

from decimal import Decimal

from django.db import connection

from conversions.models import Conversion, ConversionStat
from referrals.models import Click
from referrals.rollups import rollup_bucket
from rewards.models import Reward


def _conversion_sub1(conversion: Conversion) -> str:
    if conversion.click_id is None:
        return ""
    if Conversion.click.is_cached(conversion):
        return conversion.click.sub1
    return Click.objects.filter(pk=conversion.click_id).values_list("sub1", flat=True).first() or ""


def _upsert(conversion: Conversion, *, currency: str, conversions: int, earnings: Decimal) -> None:
    if conversion.partner_id is None:
        return
    table = ConversionStat._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (bucket, partner_id, offer_id, sub1, currency, conversions, earnings) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (partner_id, bucket, offer_id, sub1, currency) DO UPDATE SET "
            f"conversions = {table}.conversions + excluded.conversions, "
            f"earnings = {table}.earnings + excluded.earnings",
            [
                rollup_bucket(conversion.created_at),
                conversion.partner_id,
                conversion.offer_id,
                _conversion_sub1(conversion),
                currency,
                conversions,
                earnings,
            ],
        )


def rollup_conversion_add(*, conversion: Conversion) -> None:
    """Count a newly recorded conversion, in the bucket of its creation time."""
    _upsert(conversion, currency="", conversions=1, earnings=Decimal(0))


def rollup_reward_add(*, conversion: Conversion) -> None:
    """Add the conversion's reward to the earnings (call once, when the reward is granted)."""
    reward = Reward.objects.filter(conversion_id=conversion.pk).first()
    if reward is not None:
        _upsert(conversion, currency=reward.currency, conversions=0, earnings=reward.amount)


def rollup_reward_reversed(*, conversion: Conversion) -> None:
    """Take a reversed reward back out of the earnings (call once, when it is reversed)."""
    reward = Reward.objects.filter(conversion_id=conversion.pk, status=Reward.Status.REVERSED).first()
    if reward is not None:
        _upsert(conversion, currency=reward.currency, conversions=0, earnings=-reward.amount)


def rollup_conversions_rebuild() -> int:
    """Recount the conversion rollup from conversions and rewards; returns the rows made.

    Run it inside a transaction, with ingestion paused, so nothing is counted twice or missed.
    """
    ConversionStat.objects.all().delete()
    totals: dict[tuple, list] = {}
    rows = Conversion.objects.filter(partner__isnull=False).values_list(
        "pk", "created_at", "partner_id", "offer_id", "click__sub1"
    )
    keys = {}
    for pk, created_at, partner_id, offer_id, sub1 in rows.iterator(chunk_size=10_000):
        key = (rollup_bucket(created_at), partner_id, offer_id, sub1 or "")
        keys[pk] = key
        totals.setdefault((*key, ""), [0, Decimal(0)])[0] += 1
    rewards = Reward.objects.exclude(status=Reward.Status.REVERSED).values_list("conversion_id", "currency", "amount")
    for conversion_id, currency, amount in rewards.iterator(chunk_size=10_000):
        if conversion_id in keys:
            totals.setdefault((*keys[conversion_id], currency), [0, Decimal(0)])[1] += amount
    table = ConversionStat._meta.db_table
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} (bucket, partner_id, offer_id, sub1, currency, conversions, earnings) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [(*key, count, earnings) for key, (count, earnings) in totals.items()],
        )
    return len(totals)
