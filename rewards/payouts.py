"""Payout batches: who is paid what for a period, the file for the bank or PayPal, and the ledger when paid.

A batch takes, per partner, the approved rewards not yet in a batch that were
approved before the end of the period, less the paid rewards reversed since
(clawbacks). A partner whose net meets their minimum payout gets a line; the
others carry everything over to the next batch. Marking a batch paid posts
one payout transaction per line (available -> paid) and marks its rewards paid.
"""

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
from rewards.ledger import account_get, ledger_post
from rewards.models import Account, PayoutBatch, PayoutItem, PayoutProfile, Reward, Transaction
from rewards.periods import local_midnight


def payout_minimum(*, partner: Partner, currency: str) -> Decimal:
    """The partner's own minimum if their payout profile sets one, else PAYOUT_MINIMUMS for the currency, else 0."""
    profile = PayoutProfile.objects.filter(partner=partner).first()
    if profile and profile.minimum_payout is not None:
        return profile.minimum_payout
    configured = settings.PAYOUT_MINIMUMS.get(currency)
    return money_quantize(decimal_parse(configured), currency) if configured is not None else Decimal(0)


def payout_batch_create(*, currency: str, period_end, now: datetime, created_by=None) -> PayoutBatch:
    """A batch of every partner whose net approved earnings up to `period_end` meet their minimum payout.

    The rewards are locked and claimed by the batch in this transaction, so two
    batches made at once never pay the same reward twice.
    """
    if not currency_is_known(currency):
        raise RewardError(f"Unknown currency {currency!r}.", code="invalid_currency")
    cutoff = local_midnight(period_end + timedelta(days=1), "UTC")
    with transaction.atomic():
        batch = PayoutBatch.objects.create(
            currency=currency, period_end=period_end, created_by=created_by, created_at=now
        )
        approved = list(
            Reward.objects.select_for_update()
            .filter(currency=currency, status=Reward.Status.APPROVED, payout_item__isnull=True, approved_at__lt=cutoff)
            .order_by("pk")
        )
        clawbacks = list(
            Reward.objects.select_for_update()
            .filter(
                currency=currency,
                status=Reward.Status.REVERSED,
                reversed_from=Reward.Status.PAID,
                clawback_item__isnull=True,
            )
            .order_by("pk")
        )
        by_partner: dict[int, dict[str, list[Reward]]] = defaultdict(lambda: {"approved": [], "clawbacks": []})
        for reward in approved:
            by_partner[reward.partner_id]["approved"].append(reward)
        for reward in clawbacks:
            by_partner[reward.partner_id]["clawbacks"].append(reward)
        partners = Partner.objects.in_bulk(list(by_partner))
        for partner_id in sorted(by_partner):
            group = by_partner[partner_id]
            gross = sum((reward.amount for reward in group["approved"]), Decimal(0))
            clawback = sum((reward.amount for reward in group["clawbacks"]), Decimal(0))
            net = gross - clawback
            if net <= 0 or net < payout_minimum(partner=partners[partner_id], currency=currency):
                continue  # below the minimum: everything waits for the next batch
            item = PayoutItem.objects.create(
                batch=batch, partner_id=partner_id, gross=gross, clawback=clawback, amount=net, currency=currency
            )
            Reward.objects.filter(pk__in=[reward.pk for reward in group["approved"]]).update(payout_item=item)
            Reward.objects.filter(pk__in=[reward.pk for reward in group["clawbacks"]]).update(clawback_item=item)
        return batch


def payout_batch_mark_paid(*, batch_id: int, now: datetime) -> PayoutBatch:
    """Post each line's payout (available -> paid) and mark its rewards paid; a second call changes nothing."""
    with transaction.atomic():
        batch = PayoutBatch.objects.select_for_update().get(pk=batch_id)
        if batch.status == PayoutBatch.Status.PAID:
            return batch
        for item in batch.items.select_related("partner").order_by("pk"):
            available = account_get(kind=Account.Kind.PARTNER_AVAILABLE, partner=item.partner, currency=item.currency)
            paid = account_get(kind=Account.Kind.PARTNER_PAID, partner=item.partner, currency=item.currency)
            ledger_post(
                kind=Transaction.Kind.PAYOUT,
                payout_item=item,
                legs=[(available, -item.amount), (paid, item.amount)],
                memo=f"payout batch {batch.pk}",
                now=now,
            )
            Reward.objects.filter(payout_item=item, status=Reward.Status.APPROVED).update(
                status=Reward.Status.PAID, paid_at=now
            )
            # A reward reversed after the batch was made was paid all the same: it becomes a clawback
            # of the next batch (its reversal already took it from `available`).
            Reward.objects.filter(
                payout_item=item, status=Reward.Status.REVERSED, reversed_from=Reward.Status.APPROVED
            ).update(reversed_from=Reward.Status.PAID)
        batch.status, batch.paid_at = PayoutBatch.Status.PAID, now
        batch.save(update_fields=["status", "paid_at"])
        return batch


CSV_COLUMNS = [
    "reference",
    "partner",
    "method",
    "account_name",
    "iban",
    "bic",
    "paypal_email",
    "gross",
    "clawback",
    "amount",
    "currency",
]


def csv_cell(value) -> str:
    """A cell a spreadsheet shows as text: one starting with = + - @ or a tab/CR gets a leading apostrophe."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def payout_batch_csv(batch: PayoutBatch) -> str:
    """The batch as CSV for a bank's bulk transfer or PayPal Payouts; every cell formula-escaped."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    items = batch.items.select_related("partner__user", "partner__payout_profile").order_by("pk")
    for item in items:
        profile = getattr(item.partner, "payout_profile", None)
        writer.writerow(
            csv_cell(value)
            for value in [
                f"affitrack-{batch.pk}-{item.pk}",
                item.partner.user.get_username(),
                profile.method if profile else "",
                profile.account_name if profile else "",
                profile.iban if profile else "",
                profile.bic if profile else "",
                profile.paypal_email if profile else "",
                money_quantize(item.gross, item.currency),
                money_quantize(item.clawback, item.currency),
                money_quantize(item.amount, item.currency),
                item.currency,
            ]
        )
    return out.getvalue()
