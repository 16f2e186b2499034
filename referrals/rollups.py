"""The click rollup: counts per quarter hour, partner, offer and sub1, added to as clicks happen."""

from datetime import datetime

from django.db import connection

from referrals.models import Click, ClickStat

BUCKET_MINUTES = 15


def rollup_bucket(moment: datetime) -> datetime:
    """The start of the UTC quarter hour holding `moment`."""
    return moment.replace(minute=moment.minute - moment.minute % BUCKET_MINUTES, second=0, microsecond=0)


def rollup_click_add(*, click: Click) -> None:
    """Count one click in its bucket: one UPSERT, so concurrent clicks add up instead of racing."""
    table = ClickStat._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (bucket, partner_id, offer_id, sub1, clicks, unique_clicks) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, 1, %s) "
            "ON CONFLICT (partner_id, bucket, offer_id, sub1) DO UPDATE SET "
            f"clicks = {table}.clicks + 1, unique_clicks = {table}.unique_clicks + excluded.unique_clicks",
            [rollup_bucket(click.created_at), click.partner_id, click.offer_id, click.sub1, int(click.is_unique)],
        )


def rollup_clicks_add(clicks) -> None:
    """Count many clicks at once (a buffered or bulk insert of clicks calls this with the batch)."""
    counts: dict[tuple, list[int]] = {}
    for click in clicks:
        key = (rollup_bucket(click.created_at), click.partner_id, click.offer_id, click.sub1)
        total = counts.setdefault(key, [0, 0])
        total[0] += 1
        total[1] += int(click.is_unique)
    _upsert_click_counts(counts)


def _upsert_click_counts(counts: dict[tuple, list[int]]) -> None:
    if not counts:
        return
    table = ClickStat._meta.db_table
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} (bucket, partner_id, offer_id, sub1, clicks, unique_clicks) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (partner_id, bucket, offer_id, sub1) DO UPDATE SET "
            f"clicks = {table}.clicks + excluded.clicks, "
            f"unique_clicks = {table}.unique_clicks + excluded.unique_clicks",
            [(*key, clicks, unique) for key, (clicks, unique) in counts.items()],
        )


def rollup_clicks_rebuild() -> int:
    """Recount the click rollup from the click table (after a restore or an import); returns the rows made.

    Run it inside a transaction, with click writes paused, so no click is counted twice or missed.
    """
    ClickStat.objects.all().delete()
    counts: dict[tuple, list[int]] = {}
    rows = Click.objects.values_list("created_at", "partner_id", "offer_id", "sub1", "is_unique")
    for created_at, partner_id, offer_id, sub1, is_unique in rows.iterator(chunk_size=10_000):
        total = counts.setdefault((rollup_bucket(created_at), partner_id, offer_id, sub1), [0, 0])
        total[0] += 1
        total[1] += int(is_unique)
    _upsert_click_counts(counts)
    return len(counts)
