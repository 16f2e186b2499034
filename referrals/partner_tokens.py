"""Partner API tokens for the read APIs: made and shown once, stored as a digest, rotated."""

import secrets
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from referrals.models import Partner, PartnerApiToken
from referrals.services import secret_digest

TOKEN_PREFIX = "pk_"  # noqa: S105 (a label, not a secret)


def partner_token_rotate(*, partner: Partner, now: datetime | None = None) -> tuple[PartnerApiToken, str]:
    """Revoke the partner's live token, if any, and make a new one; return it with its plain text (shown once)."""
    now = now or timezone.now()
    raw = f"{TOKEN_PREFIX}{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        # Lock the partner so that two rotations at once serialize instead of tripping the one-live constraint.
        Partner.objects.select_for_update().filter(pk=partner.pk).first()
        PartnerApiToken.objects.filter(partner=partner, revoked_at__isnull=True).update(revoked_at=now)
        token = PartnerApiToken.objects.create(
            partner=partner, prefix=raw[:10], token_hash=secret_digest(raw), created_at=now
        )
    return token, raw


def partner_token_revoke(*, partner: Partner, now: datetime | None = None) -> int:
    return PartnerApiToken.objects.filter(partner=partner, revoked_at__isnull=True).update(
        revoked_at=now or timezone.now()
    )


def partner_token_live(*, partner: Partner) -> PartnerApiToken | None:
    return PartnerApiToken.objects.filter(partner=partner, revoked_at__isnull=True).first()


def partner_for_api_token(raw_token: str) -> Partner | None:
    """The partner a live token belongs to (with its user, who must be active), or None."""
    return (
        Partner.objects.select_related("user")
        .filter(api_tokens__token_hash=secret_digest(raw_token), api_tokens__revoked_at__isnull=True)
        .filter(user__is_active=True)
        .first()
    )
