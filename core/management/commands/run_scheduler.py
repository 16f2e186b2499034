"""`manage.py run_scheduler config.cron`: `rqcron` that rides out Redis outages (the Procfile's scheduler).

rq's cron scheduler ends on the first Redis error; here it starts again once Redis answers (config/cron.py).
"""

import logging
import signal
import time

from django.core.management.base import BaseCommand
from django_rq.cron import DjangoCronScheduler

from core.outages import OutageLog, outage_is, outages_ride_out


class Command(BaseCommand):
    help = "Run rq's cron scheduler for a config module, carrying on through Redis outages."

    def add_arguments(self, parser):
        parser.add_argument("config_path", help="The cron configuration module, e.g. config.cron.")

    def handle(self, *args, config_path, **options):
        while True:
            scheduler = DjangoCronScheduler(logging_level=logging.INFO)
            try:
                scheduler.load_config_from_file(config_path)
                scheduler.start()  # returns on SIGTERM or SIGINT
                return
            except Exception as error:
                if not outage_is(error):
                    raise
                outage = OutageLog("scheduler")
                outage.failed(error)
            # Its signal handlers raise inside it; while we wait, a stop request simply ends the process.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            # Wait for Redis before building the next scheduler (its start registers it there).
            time.sleep(0.5)
            outages_ride_out(scheduler.connection.ping, process="scheduler", outage=outage)
