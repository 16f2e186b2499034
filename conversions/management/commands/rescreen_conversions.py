"""`manage.py rescreen_conversions [--offer ID ...]`: fraud checks again on pending and suspicious conversions."""

from django.core.management.base import BaseCommand, CommandError

from conversions.processing.rescreen import conversions_rescreen
from referrals.models import Offer


class Command(BaseCommand):
    help = (
        "Re-run fraud screening on pending and suspicious conversions (all offers, or those named), "
        "e.g. after changing an offer's fraud settings. Accepted and rejected conversions are never touched."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--offer", action="append", default=None, help="An offer's id or public id; repeat for several."
        )

    def handle(self, *args, **options):
        offer_ids = None
        if options["offer"]:
            offer_ids = []
            for name in options["offer"]:
                lookup = {"pk": int(name)} if name.isdigit() else {"public_id": name}
                offer = Offer.objects.filter(**lookup).first()
                if offer is None:
                    raise CommandError(f"No offer {name!r}.")
                offer_ids.append(offer.pk)
        outcome = conversions_rescreen(offer_ids=offer_ids)
        total = sum(outcome.values())
        detail = ", ".join(f"{word}: {count}" for word, count in sorted(outcome.items())) or "nothing to do"
        self.stdout.write(f"Re-screened {total} conversion(s): {detail}")
