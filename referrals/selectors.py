"""Reads of advertisers, offers, partners, links and clicks."""

from django.db import connection
from django.db.models import Max

from referrals import hot_cache
from referrals.click_buffer import buffered_clicks_insert
from referrals.models import Click, Link, Offer


def offer_for_public_id(public_id: str) -> Offer | None:
    return Offer.objects.select_related("advertiser").filter(public_id=public_id).first()


def offer_for_id(offer_id: int) -> Offer | None:
    """The offer with its advertiser; cached per process (referrals/hot_cache.py), read-only."""
    return hot_cache.offers_by_id.get_or_load(
        offer_id, lambda: Offer.objects.select_related("advertiser").filter(pk=offer_id).first()
    )


def cookie_window_longest_days(advertiser_id: int) -> int:
    """The longest cookie window of the advertiser's offers; cached per process (referrals/hot_cache.py)."""
    return hot_cache.cookie_window_longest.get_or_load(
        advertiser_id,
        lambda: (
            Offer.objects.filter(advertiser_id=advertiser_id).aggregate(days=Max("cookie_window_days"))["days"] or 0
        ),
    )


_CLICK_COLUMNS = [field.attname for field in Click._meta.concrete_fields]
# Plain SQL: every conversion reads its click, and building this query with the ORM cost more than running it.
_CLICK_BY_ID_SQL = f"SELECT {', '.join(_CLICK_COLUMNS)} FROM {Click._meta.db_table} WHERE click_id = %s"  # noqa: S608


def _click_row(click_id: str) -> Click | None:
    with connection.cursor() as cursor:
        cursor.execute(_CLICK_BY_ID_SQL, [click_id])
        row = cursor.fetchone()
    click = Click.from_db(connection.alias, _CLICK_COLUMNS, row) if row else None
    if click is not None:
        click.offer = offer_for_id(click.offer_id)  # its partner and link load when asked for
    return click


def click_for_click_id(click_id: str) -> Click | None:
    """The click with this id, its offer from the cache; one still in the Redis click buffer is written first."""
    click = _click_row(click_id)
    if click is None and click_id:
        # Read again whatever the buffer said: the flusher may have committed it between the two reads.
        buffered_clicks_insert([click_id])
        click = _click_row(click_id)
    return click


def link_for_code(code: str) -> Link | None:
    """The link behind `/c/<code>` with its offer; cached per process (referrals/hot_cache.py), read-only."""
    return hot_cache.links_by_code.get_or_load(
        code, lambda: Link.objects.select_related("offer").filter(code=code).first()
    )
