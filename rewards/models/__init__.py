"""Reward rules, rewards and the ledger, one module per concept; Django finds them all through this one.

This app never imports `conversions`: a reward's conversion is a foreign key named by string.
"""

from rewards.models.ledger import Account, Entry, Transaction
from rewards.models.limits import ExchangeRate, SpendCounter, SubscriptionInvoices
from rewards.models.payouts import PayoutBatch, PayoutItem, PayoutProfile
from rewards.models.reward import Reward
from rewards.models.rules import Recurring, RewardRule

__all__ = [
    "Account",
    "Entry",
    "ExchangeRate",
    "PayoutBatch",
    "PayoutItem",
    "PayoutProfile",
    "Recurring",
    "Reward",
    "RewardRule",
    "SpendCounter",
    "SubscriptionInvoices",
    "Transaction",
]
