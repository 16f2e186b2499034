from django.apps import AppConfig


class ConversionsConfig(AppConfig):
    name = "conversions"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        # Each concept registers its own admin screens; Django's autodiscovery only knows conversions.review.admin.
        from conversions.claims import admin as claims_admin  # noqa: F401
        from conversions.intake import admin as intake_admin  # noqa: F401
        from conversions.intake import authentication  # noqa: F401 - registers the OpenAPI auth scheme
        from conversions.models import PartnerPostback
        from conversions.postbacks import admin as postbacks_admin  # noqa: F401
        from conversions.processing.jobs import process_conversions_waiting_for_rates
        from conversions.review import admin as review_admin  # noqa: F401
        from conversions.review import fraud_admin  # noqa: F401
        from conversions.uploads import admin as uploads_admin  # noqa: F401
        from core.jobs import job_enqueue_on_commit
        from referrals import hot_cache
        from rewards.signals import exchange_rates_changed

        for signal in (post_save, post_delete):
            signal.connect(
                hot_cache.forget_partner_postbacks, sender=PartnerPostback, dispatch_uid=f"hot_cache.postbacks.{signal}"
            )

        # rewards may not import conversions, so it says "rates changed" and we pick up the waiting conversions.
        exchange_rates_changed.connect(
            lambda sender, **kwargs: job_enqueue_on_commit(process_conversions_waiting_for_rates),
            weak=False,
            dispatch_uid="conversions_rates_changed",
        )
