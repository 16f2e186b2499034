import logging

from django.apps import AppConfig
from django.conf import settings


class ReferralsConfig(AppConfig):
    name = "referrals"
    verbose_name = "Advertisers, offers and partners"

    def ready(self) -> None:
        from config import login_guard  # noqa: F401 - connects the failed-login counters

        log = logging.getLogger("affitrack")
        database = settings.DATABASES["default"]
        if database["ENGINE"].endswith("sqlite3"):
            log.info("Running on the SQLite file %s (set DATABASE_URL for PostgreSQL)", database["NAME"])
        if not settings.REDIS_URL:
            log.info("REDIS_URL is not set: jobs run inline after commit (RQ ASYNC=False)")
