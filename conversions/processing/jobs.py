"""RQ jobs. Each takes ids, calls one service, and is safe to run twice."""

from collections import Counter

from django.conf import settings
from django.utils import timezone

from conversions.intake.idempotency import idempotency_keys_prune
from conversions.intake.request_log import request_log_prune
from conversions.intake.signatures import used_signatures_prune
from conversions.processing.pipeline import conversion_process, conversions_process_pending
from core.jobs import job_coalesce_release, job_enqueue_on_commit

# Batches one sweeper job takes before it ends (and, for new conversions, asks for the next job).
SWEEP_MAX_BATCHES = 20
# One sweep job at a time for newly recorded conversions (core/jobs.py, coalesce_key).
NEW_CONVERSIONS_KEY = "jobs:process-new-conversions"


def process_conversion(conversion_id: str) -> str:
    """One conversion (new ones go through process_new_conversions)."""
    return conversion_process(conversion_id=conversion_id)


def prune_ingestion_records() -> dict:
    """Scheduled: drop idempotency keys past 24 h, used signatures past their window, old request-log entries."""
    now = timezone.now()
    return {
        "idempotency_keys": idempotency_keys_prune(now=now),
        "used_signatures": used_signatures_prune(now=now),
        "request_log": request_log_prune(now=now),
    }


def process_pending_conversions(
    batch_size: int | None = None, max_batches: int = SWEEP_MAX_BATCHES, retry_missing_rates: bool = False
) -> dict[str, int]:
    """The sweeper: drain pending conversions in batches (scheduled by config/cron.py); counts per outcome."""
    batch_size = batch_size or settings.CONVERSION_BATCH_SIZE
    totals, after = Counter(), None
    for _ in range(max_batches):
        result = conversions_process_pending(
            batch_size=batch_size, retry_missing_rates=retry_missing_rates, after=after
        )
        totals.update(result.counts)
        if result.taken < batch_size:
            break
        # New pending conversions are taken from the oldest each time; waiting ones in one forward pass.
        after = result.last if retry_missing_rates else None
    return dict(totals)


def process_new_conversions() -> dict[str, int]:
    """Enqueued once for many recorded conversions (an enqueue each cost ~0.2 ms, W2): all pending, in batches."""
    job_coalesce_release(NEW_CONVERSIONS_KEY)  # before reading: what commits from now on asks again
    totals = process_pending_conversions()
    if sum(totals.values()) >= SWEEP_MAX_BATCHES * settings.CONVERSION_BATCH_SIZE:
        conversions_processing_request()  # more were waiting than one job takes: go on in a new job
    return totals


def conversions_processing_request() -> None:
    """After commit, have the pending conversions processed by a worker."""
    job_enqueue_on_commit(process_new_conversions, coalesce_key=NEW_CONVERSIONS_KEY)


def process_conversions_waiting_for_rates() -> dict[str, int]:
    """Retry the conversions that waited for an exchange rate (after rates were loaded, and hourly)."""
    return process_pending_conversions(retry_missing_rates=True)
