"""`manage.py rollups_rebuild`: recount the report rollups from the raw tables (after an import or a restore)."""

from django.core.management.base import BaseCommand
from django.db import transaction

from conversions.rollups import rollup_conversions_rebuild
from referrals.rollups import rollup_clicks_rebuild


class Command(BaseCommand):
    help = "Rebuild the click and conversion rollups that the dashboard reports read. Pause traffic first."

    @transaction.atomic
    def handle(self, *args, **options):
        clicks = rollup_clicks_rebuild()
        conversions = rollup_conversions_rebuild()
        self.stdout.write(f"Rebuilt {clicks} click rollup rows and {conversions} conversion rollup rows.")
