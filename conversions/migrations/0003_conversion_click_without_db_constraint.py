"""Conversion.click keeps the click's id without a foreign key constraint: the click table becomes partitioned by
month (referrals 0002), whose primary key is (id, created_at), and retention drops old months of it."""

import django.db.models.deletion
from django.db import migrations, models


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
    ]
