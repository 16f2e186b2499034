"""Reward.conversion_id (a plain UUID column) becomes a foreign key to conversions.Conversion.

The column, its values and its unique constraint stay; the only change in the database is the
foreign-key constraint. The state is renamed first (conversion_id -> conversion, same column),
so that Django adds the constraint with the name it gives every foreign key.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversions", "0001_initial"),
        ("rewards", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RenameField(model_name="reward", old_name="conversion_id", new_name="conversion"),
                migrations.AlterField(
                    model_name="reward",
                    name="conversion",
                    field=models.UUIDField(
                        db_column="conversion_id", unique=True, help_text="One reward per conversion, at most."
                    ),
                ),
            ],
        ),
        migrations.AlterField(
            model_name="reward",
            name="conversion",
            field=models.OneToOneField(
                help_text="One reward per conversion, at most.",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="conversions.conversion",
            ),
        ),
    ]
