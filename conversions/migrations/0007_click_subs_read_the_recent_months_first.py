"""The trigger that copies a conversion's click's sub ids (0003) looks for the click in the months around the
conversion first, and only then in every month.

The click table is partitioned by month of created_at and its key is (id, created_at): a look-up by id alone
probes every month's index, once per inserted row (a CSV chunk: 10,000 probes of 17 indexes, a third of the
chunk's insert). A conversion's click is nearly always from its last month, so the first look-up bounds the
click's time and reads one or two months; a click outside them (an old one, or a time the bound misses) is found
by the look-up by id alone, as before, so the sub ids copied are the same.
"""

from django.db import migrations

_COPY_CLICK_SUBS = """
CREATE OR REPLACE FUNCTION conversions_copy_click_subs() RETURNS trigger AS $$
BEGIN
    IF NEW.click_id IS NULL THEN
        NEW.sub1 := ''; NEW.sub2 := ''; NEW.sub3 := ''; NEW.sub4 := ''; NEW.sub5 := '';
    ELSE
        SELECT k.sub1, k.sub2, k.sub3, k.sub4, k.sub5 INTO NEW.sub1, NEW.sub2, NEW.sub3, NEW.sub4, NEW.sub5
        FROM referrals_click k
        WHERE k.id = NEW.click_id
            AND k.created_at > NEW.created_at - interval '31 days' AND k.created_at < NEW.created_at + interval '1 day';
        IF NOT FOUND THEN
            SELECT k.sub1, k.sub2, k.sub3, k.sub4, k.sub5 INTO NEW.sub1, NEW.sub2, NEW.sub3, NEW.sub4, NEW.sub5
            FROM referrals_click k WHERE k.id = NEW.click_id;
        END IF;
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


class Migration(migrations.Migration):
    dependencies = [("conversions", "0006_partner_conversion_sub1_day_stat")]

    operations = [migrations.RunSQL(_COPY_CLICK_SUBS, _COPY_CLICK_SUBS_BEFORE)]
