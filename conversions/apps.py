from django.apps import AppConfig


class ConversionsConfig(AppConfig):
    name = "conversions"

    def ready(self) -> None:
        from conversions import admin_uploads  # noqa: F401 - registers the uploads' admin
        from conversions.api import authentication  # noqa: F401 - registers the OpenAPI auth scheme
        from rewards.signals import exchange_rates_changed

        # rewards may not import conversions, so it says "rates changed" and we pick up the waiting conversions.
        exchange_rates_changed.connect(_process_waiting_conversions, dispatch_uid="conversions_rates_changed")


def _process_waiting_conversions(sender, **kwargs) -> None:
    from config.jobs import job_enqueue_on_commit
    from conversions.jobs import process_conversions_waiting_for_rates

    job_enqueue_on_commit(process_conversions_waiting_for_rates)
