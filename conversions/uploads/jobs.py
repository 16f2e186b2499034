"""RQ jobs for uploads. Each takes ids, calls one service, and is safe to run twice."""

from conversions.uploads.importing import upload_run


def upload_import(upload_id: int) -> str:
    """Import an uploaded CSV (conversions, adjustments or a reconciliation file)."""
    return upload_run(upload_id=upload_id).status
