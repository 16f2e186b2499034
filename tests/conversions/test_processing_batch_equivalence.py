"""The batch sweeper and the per-conversion job come to the same result on a mixed set of conversions.

Fraud holds (flag and reject), rewards with a cap and a spend limit, recurring limits, no matching rule, a
missing exchange rate: the set is processed once one by one and once by the sweeper (in small batches), each
time from the same starting rows, and everything the pipeline writes is compared.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from conversions.fraud.checks import _baselines
from conversions.fraud.datacenter import datacenter_ranges_forget
from conversions.fraud.models import FraudSetting
from conversions.intake.recording import ConversionReport, conversion_record
from conversions.models import (
    Conversion,
    ConversionStat,
    ConversionSub1Stat,
    PartnerPostback,
    PostbackDispatch,
    StatusChange,
)
from conversions.processing import conversion_process, conversions_process_pending
from referrals.models import Partner
from rewards.models import Entry, Reward, SpendCounter, SubscriptionInvoices
from tests.conversions.fraud.conftest import CHROME, HEADLESS, HETZNER_DE, RESIDENTIAL_GB, click_make
from tests.factories import LinkFactory, PartnerFactory, RewardRuleFactory, UserFactory

_MIXED = [
    # (partner, fields of the report, click age)
    *[("alice", {"ip": RESIDENTIAL_GB, "user_agent": CHROME}, None) for _ in range(7)],  # the 6th and 7th: velocity
    ("alice", {"amount": "900.00"}, None),  # 10% capped at 50
    ("alice", {"product_id": "free"}, None),  # no rule matches
    ("alice", {"currency": "EUR"}, None),  # no EUR->USD rate: waits
    ("alice", {}, timedelta(seconds=3)),  # click-to-conversion time too short: flagged
    ("alice", {"user_agent": HEADLESS}, None),  # headless browser: rejected (the offer's setting)
    ("alice", {"ip": HETZNER_DE}, None),  # data-centre IP: flagged
    ("alice", {"meta": {"customer_id": 4242}}, None),  # the same customer for two partners: both flagged
    ("bob", {"meta": {"customer_id": 4242}}, None),
    *[("bob", {}, None) for _ in range(4)],  # bob's override pays 7.00 up to 20.00 a day: two, then the cap
    *[("alice", {"type": "subscription", "subscription_id": "sub-1"}, None) for _ in range(3)],  # first 2 only
    ("alice", {"type": "subscription", "subscription_id": "sub-2"}, None),
    ("carol", {}, None),  # suspended partner: flagged
    *[("alice", {"amount": f"{20 + n}.50"}, None) for n in range(4)],
]


@pytest.fixture
def mixed_set(acme, offer, alice, bob, alice_link):
    datacenter_ranges_forget()
    _baselines.clear()
    now = timezone.now()
    carol = PartnerFactory(user=UserFactory(username="carol"), referral_code="CAROL")
    carol.status, carol.suspended_reason, carol.suspended_at = Partner.Status.SUSPENDED, "chargebacks", now
    carol.save()
    links = {
        "alice": alice_link,
        "bob": LinkFactory(partner=bob, offer=offer, code="bob-shoes"),
        "carol": LinkFactory(partner=carol, offer=offer, code="carol-shoes"),
    }
    RewardRuleFactory(
        offer=offer,
        name="10% capped",
        reward_type="percentage",
        value=Decimal("10"),
        max_reward=Decimal("50"),
        conditions=[{"field": "product_id", "operator": "ne", "value": "free"}],
    )
    RewardRuleFactory(
        offer=offer,
        name="subscriptions",
        conversion_type="subscription",
        value=Decimal("5"),
        recurring="first_n",
        recurring_count=2,
    )
    RewardRuleFactory(
        offer=offer,
        partner=bob,
        name="bob override",
        value=Decimal("7"),
        spend_limit=Decimal("20"),
        spend_limit_period="day",
    )
    FraudSetting.objects.create(offer=offer, check_code="bot_user_agent", action="reject")
    PartnerPostback.objects.create(partner=alice, url="https://alice.example/pb", secret="s" * 32, created_at=now)
    for index, (partner, fields, click_age) in enumerate(_MIXED):
        click = click_make(links[partner], age=click_age or timedelta(minutes=5), now=now)
        report = ConversionReport(
            type=fields.get("type", "purchase"),
            external_id=f"mixed-{index}",
            amount=Decimal(fields.get("amount", "120.00")),
            currency=fields.get("currency", ""),
            product_id=fields.get("product_id", "sku-1"),
            subscription_id=fields.get("subscription_id", ""),
            click_id=click.click_id,
            ip=fields.get("ip"),
            user_agent=fields.get("user_agent", ""),
            meta=fields.get("meta", {}),
        )
        _, created = conversion_record(advertiser=acme, report=report, channel="api", now=now)
        assert created
    return now + timedelta(seconds=30)


def _everything_written() -> dict:
    external = dict(Conversion.objects.values_list("pk", "external_id"))
    return {
        "conversions": {
            row["external_id"]: row
            for row in Conversion.objects.values(
                "external_id",
                "status",
                "status_reason",
                "status_remark",
                "processed_at",
                "reward_explanation",
                "fraud_score",
                "fraud_signals",
                "screened_at",
            )
        },
        "rewards": {
            external[row.pop("conversion_id")]: row
            for row in Reward.objects.values(
                "conversion_id",
                "partner_id",
                "rule__name",
                "amount",
                "currency",
                "status",
                "explanation",
                "exchange_rate",
                "occurred_at",
                "approve_after",
                "created_at",
                "spend_counter__spent",
            )
        },
        "ledger": sorted(
            (
                external[conversion_id],
                kind,
                account_kind,
                partner_id,
                advertiser_id,
                amount,
                currency,
                memo,
            )
            for conversion_id, kind, account_kind, partner_id, advertiser_id, amount, currency, memo in (
                Entry.objects.values_list(
                    "transaction__reward__conversion_id",
                    "transaction__kind",
                    "account__kind",
                    "account__partner_id",
                    "account__advertiser_id",
                    "amount",
                    "currency",
                    "transaction__memo",
                )
            )
        ),
        "status_changes": sorted(
            (external[conversion_id], *rest)
            for conversion_id, *rest in StatusChange.objects.values_list(
                "conversion_id", "from_status", "to_status", "reason", "remark", "channel", "created_at"
            )
        ),
        "spend_counters": sorted(SpendCounter.objects.values_list("rule__name", "partner_id", "period_start", "spent")),
        "invoices": sorted(
            SubscriptionInvoices.objects.values_list("subscription_id", "invoices_seen", "first_invoice_at")
        ),
        "rollups": sorted(
            ConversionStat.objects.values_list(
                "partner_id", "bucket", "offer_id", "currency", "conversions", "earnings"
            )
        ),
        "sub1_rollups": sorted(
            ConversionSub1Stat.objects.values_list(
                "partner_id", "bucket", "offer_id", "sub1", "currency", "conversions", "earnings"
            )
        ),
        "postbacks": sorted(
            (external[conversion_id], *rest)
            for conversion_id, *rest in PostbackDispatch.objects.values_list("conversion_id", "event", "status")
        ),
    }


class _Undo(Exception):
    pass


def _processed(process) -> dict:
    """What `process` writes, read back before it is undone (the next run starts from the same rows)."""
    _baselines.clear()
    try:
        with transaction.atomic():
            process()
            written = _everything_written()
            raise _Undo
    except _Undo:
        return written


@pytest.mark.django_db
@pytest.mark.parametrize("batch_size", [4, 7, 100])  # split across batches in different places, and one batch
def test_the_sweeper_writes_what_the_per_conversion_job_writes(mixed_set, batch_size):
    now = mixed_set
    ids = list(Conversion.objects.order_by("created_at", "pk").values_list("pk", flat=True))

    one_by_one = _processed(lambda: [conversion_process(conversion_id=pk, now=now) for pk in ids])
    batched = _processed(lambda: process_pending_conversions_at(now, batch_size=batch_size))

    statuses = {row["status"] for row in one_by_one["conversions"].values()}
    reasons = {row["status_reason"] for row in one_by_one["conversions"].values()}
    assert statuses == {"accepted", "rejected", "suspicious", "pending"}
    assert {"no_matching_rule", "cap_reached", "recurring_limit_reached", "missing_exchange_rate"} <= reasons
    assert {"ip_velocity", "ctit_too_short", "bot_user_agent", "datacenter_ip", "multi_partner"} <= reasons
    assert "partner_suspended" in reasons
    assert one_by_one["rewards"] and one_by_one["ledger"] and one_by_one["postbacks"]
    for part, rows in one_by_one.items():
        assert batched[part] == rows, part


def process_pending_conversions_at(now, *, batch_size: int) -> None:
    """The sweeper's loop (conversions/jobs.py) at a fixed `now`, so both runs decide at the same instant."""
    while conversions_process_pending(batch_size=batch_size, now=now).taken == batch_size:
        pass
