from core.errors import DomainError


class RewardError(DomainError):
    """Bad input to a rewards service (a rule, a rate, a payout)."""
