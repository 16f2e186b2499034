from django.apps import AppConfig


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = "Rewards and ledger"

    def ready(self) -> None:
        # Admin for rates, limits and payouts; kept apart from rewards/admin.py (rules and the ledger).
        from rewards import admin_lifecycle  # noqa: F401
