"""The conversions of bench/datagen.py's month, their rewards and the ledger's transactions and entries."""

import math
import uuid
from datetime import timedelta
from decimal import Decimal

from bench.datagen_copy import NULL, ids_reserve, rows_copy, rows_copy_numbered, ts
from bench.datagen_month import mix

STATUS = mix({"accepted": 72, "pending": 12, "rejected": 13, "suspicious": 3})
CHANNEL = mix({"api": 60, "postback": 30, "pixel": 5, "csv": 5})
CATEGORIES = ["fashion", "electronics", "travel", "finance", "home", "beauty", "software"]
COLUMNS = (
    "id external_id type status status_reason status_remark channel amount currency product_id category quantity "
    "plan subscription_id source user_agent meta attribution ip country device headers occurred_at created_at "
    "processed_at advertiser_id click_id offer_id partner_id browser is_bot os reward_explanation fraud_score "
    "fraud_signals ip_from_visitor screened_at user_agent_from_visitor"
)
REWARD_COLUMNS = (
    "id conversion_id amount currency status explanation created_at offer_id partner_id rule_id approve_after "
    "approved_at occurred_at reversed_at reversed_from"
)


def conversions_write(cursor, rng, end, offers: list[dict], converting: list[tuple]) -> list[tuple]:
    """COPY a conversion of each converting click, minutes to days after it, in the order they were made;
    returns the rewarded ones as (conversion id, time, partner pk, offer, amount, status)."""
    latest = end - timedelta(seconds=1)
    made = []
    for click_pk, click_at, plan, offer_index, country, agent, ip in converting:
        delay = timedelta(minutes=min(rng.lognormvariate(math.log(40), 1.6), 60 * 24 * 14))
        created_at = min(click_at + delay, latest)
        if created_at <= click_at:
            created_at = click_at + (latest - click_at) / 2
        made.append((created_at, click_pk, plan.pk, offers[offer_index], country, agent, ip))
    made.sort(key=lambda row: row[0])
    rewards = []

    def lines():
        for n, (created_at, click_pk, partner_pk, offer, country, agent, ip) in enumerate(made):
            conversion_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            status = "pending" if end - created_at < timedelta(hours=2) else STATUS(rng)
            reason, remark = "", ""
            if status == "rejected":
                reason, remark = "advertiser_rejected", rng.choice(["Order cancelled", "Returned", "Duplicate order"])
            elif status == "suspicious":
                reason, remark = "fraud_review", "Held for review."
            amount = f"{rng.lognormvariate(math.log(offer['basket']), 0.6):.2f}"
            kind = "subscription" if rng.random() < 0.1 else "purchase"
            occurred = ts(created_at - timedelta(seconds=rng.randint(1, 120)))
            processed = NULL if status == "pending" else ts(created_at + timedelta(seconds=rng.randint(1, 30)))
            rewarded = status == "accepted" or (status == "rejected" and rng.random() < 0.33)
            if rewarded:
                rewards.append((conversion_id, created_at, partner_pk, offer, Decimal(amount), status))
            yield (
                f"{conversion_id}\tdg-{n + 1:08d}\t{kind}\t{status}\t{reason}\t{remark}\t{CHANNEL(rng)}\t{amount}"
                f"\t{offer['currency']}\tsku-{rng.randrange(1000)}\t{rng.choice(CATEGORIES)}\t1\t\t"
                f'{f"sub-{n}" if kind == "subscription" else ""}\t\t{agent[0]}\t{{}}\t{{"method": "click_id"}}'
                f"\t{ip}\t{country}\t{agent[1]}\t{{}}\t{occurred}\t{ts(created_at)}\t{processed}"
                f"\t{offer['advertiser']}\t{click_pk}\t{offer['pk']}\t{partner_pk}\t{agent[2]}"
                f"\t{'t' if agent[1] == 'bot' else 'f'}\t{agent[3]}"
                f'\t{{"outcome": "{"rewarded" if rewarded else "none"}"}}\t{rng.randrange(0, 30)}\t[]'
                f"\tf\t{processed}\tf\n"
            )

    rows_copy(cursor, "conversions_conversion", COLUMNS, lines())
    return rewards


def rewards_write(cursor, rng, end, rewards: list[tuple]) -> int:
    """COPY the rewards, approved once their validation term is over (a rejected conversion's reversed), with
    the ledger's accrual, approval and reversal transactions and their entries; returns the entries."""
    from core.money import money_quantize
    from rewards.periods import validation_term_end

    first_reward = ids_reserve(cursor, "rewards_reward", len(rewards))
    accounts: dict[tuple, int] = {}  # (kind, currency, partner, advertiser): its index
    transactions, entries = [], []  # (kind, reward pk, at); (transaction index, account index, amount, currency)

    def account(kind: str, currency: str, *, partner=None, advertiser=None) -> int:
        return accounts.setdefault((kind, currency, partner, advertiser), len(accounts))

    def post(kind, reward_pk, at, legs):
        transactions.append((kind, reward_pk, at))
        entries.extend(
            (len(transactions) - 1, account_index, amount, currency) for account_index, amount, currency in legs
        )

    def lines():
        for pk, (conversion_id, created_at, partner_pk, offer, amount, status) in enumerate(rewards, first_reward):
            currency = offer["currency"]
            reward_type, value = offer["reward"]
            reward = money_quantize(amount * value / 100 if reward_type == "percentage" else value, currency)
            at = created_at + timedelta(seconds=5)
            approve_after = validation_term_end(created_at, term_days=offer["term"], time_zone=offer["time_zone"])
            approved_at = approve_after + timedelta(minutes=10) if approve_after + timedelta(minutes=10) < end else None
            pending = account("partner_pending", currency, partner=partner_pk)
            payable = account("advertiser_payable", currency, advertiser=offer["advertiser"])
            post("accrual", pk, at, [(payable, -reward, currency), (pending, reward, currency)])
            reward_status, reversed_from, reversed_at = "pending", "", None
            if approved_at is not None:
                available = account("partner_available", currency, partner=partner_pk)
                post("approval", pk, approved_at, [(pending, -reward, currency), (available, reward, currency)])
                reward_status = "approved"
            if status == "rejected":
                reversed_at = min(at + timedelta(days=rng.uniform(0.5, 10)), end - timedelta(seconds=1))
                if approved_at is not None and approved_at > reversed_at:  # rejected within the term
                    transactions.pop()
                    del entries[-2:]
                    reward_status, approved_at = "pending", None
                held = account(
                    "partner_available" if reward_status == "approved" else "partner_pending",
                    currency,
                    partner=partner_pk,
                )
                post("reversal", pk, reversed_at, [(held, -reward, currency), (payable, reward, currency)])
                reversed_from, reward_status = reward_status, "reversed"
            yield (
                f"{pk}\t{conversion_id}\t{reward}\t{currency}\t{reward_status}\t{{}}\t{ts(at)}\t{offer['pk']}"
                f"\t{partner_pk}\t{offer['rule']}\t{ts(approve_after)}\t{ts(approved_at) if approved_at else NULL}"
                f"\t{ts(created_at)}\t{ts(reversed_at) if reversed_at else NULL}\t{reversed_from}\n"
            )

    rows_copy(cursor, "rewards_reward", REWARD_COLUMNS, lines())
    first_account = rows_copy_numbered(
        cursor,
        "rewards_account",
        "kind currency advertiser_id partner_id",
        [
            f"{kind}\t{currency}\t{advertiser or NULL}\t{partner or NULL}\n"
            for kind, currency, partner, advertiser in accounts
        ],
    )
    first_transaction = rows_copy_numbered(
        cursor,
        "rewards_transaction",
        "kind memo created_at reward_id reference",
        [f"{kind}\t{kind} of reward {reward_pk}\t{ts(at)}\t{reward_pk}\t\n" for kind, reward_pk, at in transactions],
    )
    rows_copy_numbered(
        cursor,
        "rewards_entry",
        "amount currency account_id transaction_id",
        [
            f"{amount}\t{currency}\t{first_account + account_index}\t{first_transaction + index}\n"
            for index, account_index, amount, currency in entries
        ],
    )
    return len(entries)
