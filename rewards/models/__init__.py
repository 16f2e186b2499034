"""Reward rules, rewards and the double-entry ledger.

This app knows partners, offers and plain facts about a conversion; it never
imports `conversions`. A reward's conversion is a foreign key named by string
("conversions.Conversion"): the database holds the link, the code stays apart.

One module per concept; Django finds them all through this one.
"""

from rewards.models.ledger import Account, Entry, Transaction
from rewards.models.limits import ExchangeRate, SpendCounter, SubscriptionInvoices
from rewards.models.payouts import PayoutBatch, PayoutItem, PayoutProfile
from rewards.models.reward import Reward
from rewards.models.rules import AMOUNT, Recurring, RewardRule, SpendPeriod

__all__ = [
    "AMOUNT",
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
    "SpendPeriod",
    "SubscriptionInvoices",
    "Transaction",
]
