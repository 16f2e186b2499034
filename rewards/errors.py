from core.errors import ConflictError, DomainError, NotFoundError


class RewardError(DomainError):
    """Bad input to a rewards service (a rule, a rate, a payout)."""


class RewardNotFound(NotFoundError):
    pass


class PayoutConflict(ConflictError):
    code = "payout_conflict"
