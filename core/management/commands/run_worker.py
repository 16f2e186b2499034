"""`manage.py run_worker [queues] [--with-scheduler]`: `rqworker` that rides out Redis and PostgreSQL outages.

RQ's loop quits on the first error it does not expect (a Redis restart under its heartbeat): when it quits
unasked, we wait until both services answer and start a new worker. Jobs that meet an outage are retried.
"""

import signal
import time

from django.core.management.base import BaseCommand
from django_rq.utils import reset_db_connections
from django_rq.workers import get_worker
from rq import Worker
from rq.logutils import setup_loghandlers

from core.health import database_ping
from core.outages import job_retry_on_outage, outage_is, outages_ride_out


class OutlastingWorker(Worker):
    """RQ's worker, remembering whether a stop was asked for (RQ's own flag is set only while busy)."""

    stop_asked = False

    def request_stop(self, signum, frame):
        self.stop_asked = True
        super().request_stop(signum, frame)

    def services_check(self) -> None:
        """Raise if Redis or PostgreSQL does not answer."""
        self.connection.ping()
        database_ping()


class Command(BaseCommand):
    help = "Run an RQ worker that carries on through Redis and PostgreSQL outages (the Procfile's worker)."

    def add_arguments(self, parser):
        parser.add_argument("queues", nargs="*", default=["default"])
        parser.add_argument("--with-scheduler", action="store_true", help="Also move due retries back to queues.")
        parser.add_argument("--burst", action="store_true", help="Run the queued jobs, then exit.")

    def handle(self, *args, queues, with_scheduler=False, burst=False, **options):
        level = "DEBUG" if options["verbosity"] >= 2 else "WARNING" if options["verbosity"] == 0 else "INFO"
        setup_loghandlers(level)
        while True:
            worker = get_worker(*queues, worker_class=OutlastingWorker)
            worker.push_exc_handler(job_retry_on_outage)
            reset_db_connections()  # before RQ forks its work horses
            try:
                worker.work(burst=burst, with_scheduler=with_scheduler, logging_level=level)
            except Exception as error:
                if not outage_is(error):
                    raise
            if worker.stop_asked or burst:
                return
            # RQ's loop quit on an error it logged: wait for both services, meanwhile a stop request simply
            # ends the process (RQ's handlers would ask Redis for the worker's state).
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            outages_ride_out(worker.services_check, process="worker")
            time.sleep(0.5)  # an unexpected error with both services up: do not spin
