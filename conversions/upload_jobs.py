"""RQ jobs for uploads. Each takes ids, calls one service, and is safe to run twice."""


def upload_import(upload_id: int) -> str:
    """Import an uploaded CSV (conversions, adjustments or a reconciliation file)."""
    from conversions.csv_import import upload_run

    return upload_run(upload_id=upload_id).status


def process_conversions_batch(conversion_ids: list[str]) -> int:
    """Process many new conversions in one job (an RQ job per conversion costs more than processing it)."""
    from conversions.processing.pipeline import conversions_process

    conversions_process(conversion_ids=conversion_ids)
    return len(conversion_ids)
