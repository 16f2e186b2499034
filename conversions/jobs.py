"""RQ jobs. Each takes ids, calls one service, and is safe to run twice."""


def process_conversion(conversion_id: str) -> str:
    """The seed's ProcessReferralConversion."""
    from conversions.processing import conversion_process

    return conversion_process(conversion_id=conversion_id)


def deliver_partner_postback(dispatch_id: int) -> str:
    """One attempt at a partner postback; raises on failure so RQ retries it with backoff."""
    from conversions.postbacks import postback_dispatch_deliver

    return postback_dispatch_deliver(dispatch_id=dispatch_id)
