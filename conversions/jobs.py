"""RQ jobs. Each takes ids, calls one service, and is safe to run twice."""


def process_conversion(conversion_id: str) -> str:
    """The seed's ProcessReferralConversion."""
    from conversions.processing import conversion_process

    return conversion_process(conversion_id=conversion_id)


def prune_ingestion_records() -> dict:
    """Scheduled: drop idempotency keys past 24 h, used signatures past their window, old request-log entries."""
    from django.utils import timezone

    from conversions.idempotency import idempotency_keys_prune
    from conversions.request_log import request_log_prune
    from conversions.signatures import used_signatures_prune

    now = timezone.now()
    return {
        "idempotency_keys": idempotency_keys_prune(now=now),
        "used_signatures": used_signatures_prune(now=now),
        "request_log": request_log_prune(now=now),
    }
