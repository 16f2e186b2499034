"""Fewer index entries per new conversion (W5: each index a row goes into is paid on every insert).

The single-column foreign key indexes of advertiser, offer and partner go: the unique constraint and the
composite indexes lead with those columns. The click's and the status change actor's become partial
(only rows that have one), as do the sub1, visitor IP and customer indexes: every query that reads them
filters by a value, which implies the condition. The foreign keys themselves stay: only their indexes are
dropped (AlterField would drop and re-add, and so re-validate, each constraint).
"""

import django.db.models.deletion
import django.db.models.fields.json
import django.db.models.lookups
from django.conf import settings
from django.db import migrations, models

# Django's names for the ForeignKeys' own indexes in 0001.
FOREIGN_KEY_INDEXES = [
    ("conversions_conversion", "advertiser_id", "conversions_conversion_advertiser_id_1e883c5f"),
    ("conversions_conversion", "offer_id", "conversions_conversion_offer_id_807d05a1"),
    ("conversions_conversion", "partner_id", "conversions_conversion_partner_id_bf417d23"),
    ("conversions_conversion", "click_id", "conversions_conversion_click_id_22e9a293"),
    ("conversions_statuschange", "actor_id", "conversions_statuschange_actor_id_6e0eaabd"),
]


def _foreign_key(to, *, null=False, on_delete=django.db.models.deletion.PROTECT, **options):
    blank = {"blank": True, "null": True} if null else {}
    return models.ForeignKey(db_index=False, on_delete=on_delete, to=to, **blank, **options)


class Migration(migrations.Migration):
    dependencies = [
        ("conversions", "0001_initial"),
        ("referrals", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(f'DROP INDEX IF EXISTS "{name}"', f'CREATE INDEX "{name}" ON "{table}" ("{column}")')
                for table, column, name in FOREIGN_KEY_INDEXES
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="conversion",
                    name="advertiser",
                    field=_foreign_key("referrals.advertiser", related_name="conversions"),
                ),
                migrations.AlterField(
                    model_name="conversion",
                    name="offer",
                    field=_foreign_key("referrals.offer", related_name="conversions"),
                ),
                migrations.AlterField(
                    model_name="conversion",
                    name="partner",
                    field=_foreign_key("referrals.partner", null=True, related_name="conversions"),
                ),
                migrations.AlterField(
                    model_name="conversion",
                    name="click",
                    field=_foreign_key("referrals.click", null=True, related_name="conversions"),
                ),
                migrations.AlterField(
                    model_name="statuschange",
                    name="actor",
                    field=_foreign_key(
                        settings.AUTH_USER_MODEL, null=True, on_delete=django.db.models.deletion.SET_NULL
                    ),
                ),
            ],
        ),
        migrations.RemoveIndex(model_name="conversion", name="conversion_partner_sub1_time"),
        migrations.RemoveIndex(model_name="conversion", name="conversion_ip_time"),
        migrations.RemoveIndex(model_name="conversion", name="conversion_offer_cust_id"),
        migrations.RemoveIndex(model_name="conversion", name="conversion_offer_cust_email"),
        migrations.AddIndex(
            model_name="conversion",
            index=models.Index(
                condition=models.Q(("sub1", ""), _negated=True),
                fields=["partner", "sub1", "created_at"],
                include=("id", "currency", "amount"),
                name="conversion_partner_sub1_time",
            ),
        ),
        migrations.AddIndex(
            model_name="conversion",
            index=models.Index(condition=models.Q(("click__isnull", False)), fields=["click"], name="conversion_click"),
        ),
        migrations.AddIndex(
            model_name="conversion",
            index=models.Index(
                condition=models.Q(("ip_from_visitor", True)), fields=["ip", "created_at"], name="conversion_ip_time"
            ),
        ),
        *(
            migrations.AddIndex(
                model_name="conversion",
                index=models.Index(
                    models.F("offer"),
                    django.db.models.fields.json.KeyTransform(key, "meta"),
                    condition=models.Q(
                        django.db.models.lookups.IsNull(django.db.models.fields.json.KeyTransform(key, "meta"), False)
                    ),
                    name=name,
                ),
            )
            for key, name in [
                ("customer_id", "conversion_offer_cust_id"),
                ("customer_email_sha256", "conversion_offer_cust_email"),
            ]
        ),
        migrations.AddIndex(
            model_name="statuschange",
            index=models.Index(
                condition=models.Q(("actor__isnull", False)), fields=["actor"], name="status_change_actor"
            ),
        ),
    ]
