"""Payout batches: per partner, rewards approved in the period less paid ones reversed since (clawbacks); a net
below the minimum waits for the next batch. The file for the bank or PayPal, and the ledger when paid."""

import csv
import io
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from core.money import currency_is_known, decimal_parse, money_quantize
from referrals.models import Partner
from rewards.errors import RewardError
from rewards.ledger import ledger_move
from rewards.models import Account, PayoutBatch, PayoutItem, PayoutProfile, Reward, Transaction
from rewards.periods import local_midnight

PROFILE_COLUMNS = ["method", "account_name", "iban", "bic", "paypal_email"]
AMOUNT_COLUMNS = ["gross", "clawback", "amount"]
CSV_COLUMNS = ["reference", "partner", *PROFILE_COLUMNS, *AMOUNT_COLUMNS, "currency"]


def payout_minimum(*, partner: Partner, currency: str) -> Decimal:
    """The partner's own minimum if their payout profile sets one, else PAYOUT_MINIMUMS for the currency, else 0."""
    profile = PayoutProfile.objects.filter(partner=partner).first()
    if profile and profile.minimum_payout is not None:
        return profile.minimum_payout
    configured = settings.PAYOUT_MINIMUMS.get(currency)
    return money_quantize(decimal_parse(configured), currency) if configured is not None else Decimal(0)


def payout_batch_create(*, currency: str, period_end, now: datetime, created_by=None) -> PayoutBatch:
    """A batch of every partner whose net up to `period_end` meets their minimum; its rewards locked and claimed."""
    if not currency_is_known(currency):
        raise RewardError(f"Unknown currency {currency!r}.", code="invalid_currency")
    cutoff = local_midnight(period_end + timedelta(days=1), "UTC")
    with transaction.atomic():
        batch = PayoutBatch.objects.create(
            currency=currency, period_end=period_end, created_by=created_by, created_at=now
        )
        rewards = Reward.objects.select_for_update().filter(currency=currency).order_by("pk")
        approved = rewards.filter(status=Reward.Status.APPROVED, payout_item__isnull=True, approved_at__lt=cutoff)
        clawbacks = rewards.filter(
            status=Reward.Status.REVERSED, reversed_from=Reward.Status.PAID, clawback_item__isnull=True
        )
        # partner id -> (approved, clawbacks)
        by_partner: dict[int, tuple[list[Reward], list[Reward]]] = defaultdict(lambda: ([], []))
        for side, query in enumerate((approved, clawbacks)):
            for reward in query:
                by_partner[reward.partner_id][side].append(reward)
        partners = Partner.objects.in_bulk(list(by_partner))
        for partner_id in sorted(by_partner):
            gross, clawback = (sum((reward.amount for reward in side), Decimal(0)) for side in by_partner[partner_id])
            net = gross - clawback
            if net <= 0 or net < payout_minimum(partner=partners[partner_id], currency=currency):
                continue  # below the minimum: everything waits for the next batch
            item = PayoutItem.objects.create(
                batch=batch, partner_id=partner_id, gross=gross, clawback=clawback, amount=net, currency=currency
            )
            for link, side in zip(("payout_item", "clawback_item"), by_partner[partner_id], strict=True):
                Reward.objects.filter(pk__in=[reward.pk for reward in side]).update(**{link: item})
        return batch


def payout_batch_mark_paid(*, batch_id: int, now: datetime) -> PayoutBatch:
    """Post each line's payout (available -> paid) and mark its rewards paid; a second call changes nothing."""
    with transaction.atomic():
        batch = PayoutBatch.objects.select_for_update().get(pk=batch_id)
        if batch.status == PayoutBatch.Status.PAID:
            return batch
        available, paid, memo = Account.Kind.PARTNER_AVAILABLE, Account.Kind.PARTNER_PAID, f"payout batch {batch.pk}"
        for item in batch.items.select_related("partner").order_by("pk"):
            ledger_move(Transaction.Kind.PAYOUT, item, available, paid, item.amount, memo=memo, now=now)
            Reward.objects.filter(payout_item=item, status=Reward.Status.APPROVED).update(
                status=Reward.Status.PAID, paid_at=now
            )
            # A reward reversed after the batch was made was paid all the same: a clawback of the next batch.
            Reward.objects.filter(
                payout_item=item, status=Reward.Status.REVERSED, reversed_from=Reward.Status.APPROVED
            ).update(reversed_from=Reward.Status.PAID)
        batch.status, batch.paid_at = PayoutBatch.Status.PAID, now
        batch.save(update_fields=["status", "paid_at"])
        return batch


def csv_cell(value) -> str:
    """A cell a spreadsheet shows as text: one starting with = + - @ or a tab/CR gets a leading apostrophe."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def payout_batch_csv(batch: PayoutBatch) -> str:
    """The batch as CSV for a bank's bulk transfer or PayPal Payouts; every cell formula-escaped."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for item in batch.items.select_related("partner__user", "partner__payout_profile").order_by("pk"):
        profile = getattr(item.partner, "payout_profile", None)
        row = [
            f"affitrack-{batch.pk}-{item.pk}",
            item.partner.user.get_username(),
            *(getattr(profile, name) if profile else "" for name in PROFILE_COLUMNS),
            *(money_quantize(getattr(item, name), item.currency) for name in AMOUNT_COLUMNS),
            item.currency,
        ]
        writer.writerow(csv_cell(value) for value in row)
    return out.getvalue()
