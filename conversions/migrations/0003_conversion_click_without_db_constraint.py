"""Conversion.click keeps the click's id without a foreign key constraint: the click table becomes partitioned by
month (referrals 0002), whose primary key is (id, created_at), and retention drops old months of it.

The trigger that copies the click's sub ids (0001) runs on every UPDATE naming click_id (a full save() does): once
the click's month is retired it finds no click, and keeps the sub ids the row has instead of setting NULLs.
"""

import django.db.models.deletion
from django.db import migrations, models

_COPY_CLICK_SUBS = """
CREATE OR REPLACE FUNCTION conversions_copy_click_subs() RETURNS trigger AS $$
BEGIN
    IF NEW.click_id IS NULL THEN
        NEW.sub1 := ''; NEW.sub2 := ''; NEW.sub3 := ''; NEW.sub4 := ''; NEW.sub5 := '';
    ELSE
        SELECT k.sub1, k.sub2, k.sub3, k.sub4, k.sub5 INTO NEW.sub1, NEW.sub2, NEW.sub3, NEW.sub4, NEW.sub5
        FROM referrals_click k WHERE k.id = NEW.click_id;
        IF NOT FOUND THEN
            IF TG_OP = 'UPDATE' AND OLD.click_id IS NOT DISTINCT FROM NEW.click_id THEN
                NEW.sub1 := OLD.sub1; NEW.sub2 := OLD.sub2; NEW.sub3 := OLD.sub3; NEW.sub4 := OLD.sub4;
                NEW.sub5 := OLD.sub5;
            ELSE
                NEW.sub1 := ''; NEW.sub2 := ''; NEW.sub3 := ''; NEW.sub4 := ''; NEW.sub5 := '';
            END IF;
        END IF;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""
_COPY_CLICK_SUBS_BEFORE = """
CREATE OR REPLACE FUNCTION conversions_copy_click_subs() RETURNS trigger AS $$
BEGIN
    IF NEW.click_id IS NULL THEN
        NEW.sub1 := ''; NEW.sub2 := ''; NEW.sub3 := ''; NEW.sub4 := ''; NEW.sub5 := '';
    ELSE
        SELECT k.sub1, k.sub2, k.sub3, k.sub4, k.sub5 INTO NEW.sub1, NEW.sub2, NEW.sub3, NEW.sub4, NEW.sub5
        FROM referrals_click k WHERE k.id = NEW.click_id;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("conversions", "0002_conversion_indexes_only_where_needed"),
        ("referrals", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="conversion",
            name="click",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="conversions",
                to="referrals.click",
            ),
        ),
        migrations.RunSQL(_COPY_CLICK_SUBS, _COPY_CLICK_SUBS_BEFORE),
    ]
