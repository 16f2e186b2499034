"""The click table becomes partitioned by month of created_at (PARTITION BY RANGE), its rows kept.

A partitioned table's primary key and unique constraints must hold the partition column: the key becomes
(id, created_at) and the click id is unique with its created_at (`click_id_unique_in_time`). Django's state
keeps `id` as the primary key (nothing references a click by (id, created_at); Conversion.click lost its
database constraint in conversions 0003). PostgreSQL 15 has no identity columns on partitioned tables, so `id`
takes its values from a sequence it owns (as a serial column does), started after the highest id.

The rows are copied under an ACCESS EXCLUSIVE lock (the migration's transaction): clicks wait in the Redis
buffer meanwhile. Partitions: one per month from the oldest row's (a year back at least) to three months ahead,
and a DEFAULT one for a row outside them; `click_partitions_maintain` (config/cron.py) keeps them from there. Not reversible: the
way back is a restore.
"""

from django.db import migrations, models

TO_PARTITIONED = r"""
DO $$
DECLARE
    secondary_indexes text[];
    foreign_keys text[];
    statement text;
    this_month timestamp := date_trunc('month', now() AT TIME ZONE 'UTC');
    month timestamp;
BEGIN
    -- Made again under the same names on the new table (Django finds Meta indexes by name); not the click id's
    -- own index and its LIKE index: the unique (click_id, created_at) replaces them.
    SELECT coalesce(array_agg(i.indexdef ORDER BY i.indexname), '{}') INTO secondary_indexes
    FROM pg_indexes i
    WHERE i.schemaname = current_schema() AND i.tablename = 'referrals_click'
      AND i.indexname NOT LIKE 'referrals\_click\_click\_id\_%'
      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.conrelid = 'referrals_click'::regclass);
    SELECT coalesce(array_agg(format('ALTER TABLE referrals_click ADD CONSTRAINT %I %s', conname, pg_get_constraintdef(oid)) ORDER BY conname), '{}')
    INTO foreign_keys
    FROM pg_constraint WHERE conrelid = 'referrals_click'::regclass AND contype = 'f';

    LOCK TABLE referrals_click IN ACCESS EXCLUSIVE MODE;
    ALTER TABLE referrals_click RENAME TO referrals_click_unpartitioned;
    CREATE TABLE referrals_click (LIKE referrals_click_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
        PARTITION BY RANGE (created_at);
    CREATE TABLE referrals_click_default PARTITION OF referrals_click DEFAULT;
    -- From a year back at least: data loaded later with recent dates (seed_demo, bench/datagen.py) finds its months.
    SELECT least(date_trunc('month', min(created_at) AT TIME ZONE 'UTC'), this_month - interval '12 months')
    INTO month FROM referrals_click_unpartitioned;
    month := coalesce(month, this_month - interval '12 months');
    WHILE month <= this_month + interval '3 months' LOOP
        EXECUTE format(
            'CREATE TABLE %I PARTITION OF referrals_click FOR VALUES FROM (%L) TO (%L)',
            'referrals_click_p' || to_char(month, 'YYYY_MM'),
            month AT TIME ZONE 'UTC',
            (month + interval '1 month') AT TIME ZONE 'UTC'
        );
        month := month + interval '1 month';
    END LOOP;

    INSERT INTO referrals_click SELECT * FROM referrals_click_unpartitioned;
    DROP TABLE referrals_click_unpartitioned;  -- and its identity sequence

    CREATE SEQUENCE referrals_click_id_seq OWNED BY referrals_click.id;
    PERFORM setval('referrals_click_id_seq', coalesce(max(id), 0) + 1, false) FROM referrals_click;
    ALTER TABLE referrals_click ALTER COLUMN id SET DEFAULT nextval('referrals_click_id_seq');

    -- Indexes built once, after the copy.
    ALTER TABLE referrals_click ADD CONSTRAINT referrals_click_pkey PRIMARY KEY (id, created_at);
    ALTER TABLE referrals_click ADD CONSTRAINT click_id_unique_in_time UNIQUE (click_id, created_at);
    FOREACH statement IN ARRAY secondary_indexes LOOP
        EXECUTE statement;
    END LOOP;
    FOREACH statement IN ARRAY foreign_keys LOOP
        EXECUTE statement;
    END LOOP;
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("referrals", "0001_initial"),
        # The conversions' foreign key to the click table goes first: a partitioned table cannot back it.
        ("conversions", "0003_conversion_click_without_db_constraint"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(TO_PARTITIONED)],
            state_operations=[
                migrations.AlterField(model_name="click", name="click_id", field=models.CharField(max_length=32)),
                migrations.AddConstraint(
                    model_name="click",
                    constraint=models.UniqueConstraint(
                        fields=("click_id", "created_at"), name="click_id_unique_in_time"
                    ),
                ),
            ],
        ),
    ]
