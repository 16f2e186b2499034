"""RQ jobs of the reward lifecycle. Each calls one service and is safe to run twice."""

from django.utils import timezone

from rewards.lifecycle import rewards_approve_due


def approve_due_rewards() -> int:
    """Approve the rewards whose validation term has ended (scheduled by config/cron.py)."""
    return rewards_approve_due(now=timezone.now())
