"""RQ jobs of the referrals app. Each calls one service and is safe to run twice."""

from referrals.partitions import click_partitions_maintain


def maintain_click_partitions() -> dict:
    """Make the click table's partitions ahead and retire those past retention (scheduled by config/cron.py)."""
    return click_partitions_maintain()
