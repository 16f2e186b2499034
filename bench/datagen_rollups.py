"""The rollups of bench/datagen.py's partners (quarter hours, days of those, per-partner sums), by set-based SQL equal
to `manage.py rollups_rebuild`."""

BUCKET = "date_bin('15 minutes', {}.created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')"  # as rollup_bucket
# The per-partner rollups and what they sum (conversions and referrals migrations 0010 and 0006).
PARTNER_ROLLUPS = [
    ("referrals_clickstat", "referrals_partnerclickstat", ["partner_id", "bucket"], ["clicks", "unique_clicks"]),
    (
        "conversions_conversionstat",
        "conversions_partnerconversionstat",
        ["partner_id", "bucket", "currency"],
        ["conversions", "earnings"],
    ),
]

_CLICK_KEYS, _CONVERSION_KEYS = ["partner_id", "bucket", "offer_id"], ["partner_id", "bucket", "offer_id", "currency"]
# The day rollups and the quarter hours they sum (conversions 0004, referrals 0003), in order of their sources.
DAY_ROLLUPS = [
    ("referrals_clickstat", "referrals_clickdaystat", _CLICK_KEYS, ["clicks", "unique_clicks"]),
    ("referrals_clicksub1stat", "referrals_clicksub1daystat", [*_CLICK_KEYS, "sub1"], ["clicks", "unique_clicks"]),
    ("conversions_conversionstat", "conversions_conversiondaystat", _CONVERSION_KEYS, ["conversions", "earnings"]),
    (
        "conversions_conversionsub1stat",
        "conversions_conversionsub1daystat",
        [*_CONVERSION_KEYS, "sub1"],
        ["conversions", "earnings"],
    ),
    # The days per sub1 over all offers, from the sub1 days just made (referrals 0005, conversions 0006).
    (
        "referrals_clicksub1daystat",
        "referrals_partnerclicksub1daystat",
        ["partner_id", "bucket", "sub1"],
        ["clicks", "unique_clicks"],
    ),
    (
        "conversions_conversionsub1daystat",
        "conversions_partnerconversionsub1daystat",
        ["partner_id", "bucket", "sub1", "currency"],
        ["conversions", "earnings"],
    ),
]


def rollups_fill(cursor, partners: tuple[int, int]) -> None:
    """The rollups of partners first..last, counted from their rows in set-based SQL.

    The same rows as `rollup_clicks_rebuild` and `rollup_conversions_rebuild` make (a bucket is the UTC
    quarter hour; counts on the conversion rows with an empty currency, earnings of the rewards not
    reversed on a row per reward currency) and their sums per UTC day, without reading every row into Python.
    """
    from referrals.rollups import day_rollup_fill_sql, partner_rollup_fill_sql, partner_rollup_trigger

    click_bucket, conversion_bucket = BUCKET.format("k"), BUCKET.format("c")
    in_range = "BETWEEN %s AND %s"
    # The per-partner sums follow the rollups by a trigger per row; for millions of rows, one INSERT ... SELECT
    # after them is much quicker (the trigger is off for this transaction's inserts only).
    for source, target, _, _ in PARTNER_ROLLUPS:
        cursor.execute(f'ALTER TABLE {source} DISABLE TRIGGER "{partner_rollup_trigger(source=source, target=target)}"')
    for table, sub1 in (("referrals_clickstat", False), ("referrals_clicksub1stat", True)):
        cursor.execute(
            f"INSERT INTO {table} (partner_id, bucket, offer_id, {'sub1, ' if sub1 else ''}clicks, unique_clicks) "
            f"SELECT k.partner_id, {click_bucket}, k.offer_id, {'k.sub1, ' if sub1 else ''}count(*), "
            f"count(*) FILTER (WHERE k.is_unique) FROM referrals_click k WHERE k.partner_id {in_range} "
            f"GROUP BY 1, 2, 3{', 4' if sub1 else ''}",
            partners,
        )
    for table, sub1 in (("conversions_conversionstat", ""), ("conversions_conversionsub1stat", "sub1")):
        key = f"c.partner_id, {conversion_bucket}, c.offer_id" + (", coalesce(k.sub1, '')" if sub1 else "")
        group = "1, 2, 3" + (", 4" if sub1 else "")
        cursor.execute(
            f"INSERT INTO {table} (partner_id, bucket, offer_id, {sub1 + ', ' if sub1 else ''}currency, conversions, "
            f"earnings) SELECT {key}, '', count(*), 0 FROM conversions_conversion c "
            f"LEFT JOIN referrals_click k ON k.id = c.click_id WHERE c.partner_id {in_range} GROUP BY {group} "
            f"UNION ALL SELECT {key}, r.currency, 0, sum(r.amount) FROM conversions_conversion c "
            "JOIN rewards_reward r ON r.conversion_id = c.id LEFT JOIN referrals_click k ON k.id = c.click_id "
            f"WHERE c.partner_id {in_range} AND r.status <> 'reversed' GROUP BY {group}, {len(group.split(',')) + 1}",
            partners * 2,
        )
    where = f"partner_id BETWEEN {int(partners[0])} AND {int(partners[1])}"
    for source, target, keys, counters in DAY_ROLLUPS:
        cursor.execute(day_rollup_fill_sql(source=source, target=target, keys=keys, counters=counters, where=where))
    for source, target, keys, counters in PARTNER_ROLLUPS:
        cursor.execute(
            partner_rollup_fill_sql(source=source, target=target, keys=keys, counters=counters, where=where, add=True)
        )
        cursor.execute(f'ALTER TABLE {source} ENABLE TRIGGER "{partner_rollup_trigger(source=source, target=target)}"')
