"""RQ jobs. Each takes ids, calls one service, and is safe to run twice."""


def process_conversion(conversion_id: str) -> str:
    """The seed's ProcessReferralConversion."""
    from conversions.processing import conversion_process

    return conversion_process(conversion_id=conversion_id)
