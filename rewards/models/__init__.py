"""Reward rules, rewards and the ledger, one module per concept; Django finds them all through this one."""

# ruff: noqa: F401 - these imports are the package's public names
from rewards.models.ledger import Account, Entry, Transaction
from rewards.models.limits import ExchangeRate, SpendCounter, SubscriptionInvoices
from rewards.models.payouts import PayoutBatch, PayoutItem, PayoutProfile
from rewards.models.reward import Reward
from rewards.models.rules import Recurring, RewardRule
