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
