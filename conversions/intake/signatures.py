"""Signed postbacks: `Affitrack-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (a GET's body is
its query string). Stale past SIGNATURE_TOLERANCE_SECONDS; each accepted once; the previous secret verifies too."""

import hashlib
import hmac
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction

from conversions.models import RequestLogEntry, UsedSignature
from core.errors import DomainError
from referrals.models import Advertiser

HEADER = "Affitrack-Signature"


class SignatureRefused(DomainError):
    status_code = 401


def signature_compute(*, secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(*, secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature_compute(secret=secret, timestamp=timestamp, body=body)}"


def _parse(value: str) -> tuple[int, list[str]]:
    timestamp, digests = None, []
    for part in value.split(","):
        name, _, item = part.strip().partition("=")
        if name == "t" and item.isdigit():
            timestamp = int(item)
        elif name == "v1" and item:
            digests.append(item.lower())
    if timestamp is None or not digests:
        raise SignatureRefused("The signature header is malformed.", code=RequestLogEntry.Reason.BAD_SIGNATURE)
    return timestamp, digests


def signature_verify(*, advertiser: Advertiser, header: str, body: bytes, now: datetime) -> None:
    """Raise SignatureRefused unless `header` signs `body` freshly, with a current secret, for the first time."""
    if not header:
        raise SignatureRefused("This advertiser requires signed postbacks.", code=RequestLogEntry.Reason.BAD_SIGNATURE)
    timestamp, digests = _parse(header)
    if abs(now.timestamp() - timestamp) > settings.SIGNATURE_TOLERANCE_SECONDS:
        raise SignatureRefused(
            "The signature's timestamp is too old or in the future.", code=RequestLogEntry.Reason.STALE_SIGNATURE
        )
    secrets = [s for s in (advertiser.signing_secret, advertiser.signing_secret_previous) if s]
    expected = [signature_compute(secret=secret, timestamp=timestamp, body=body) for secret in secrets]
    # compare_digest on every pair: the time taken says nothing about which byte differed.
    matched = [d for d in digests for e in expected if hmac.compare_digest(d, e)]
    if not matched:
        raise SignatureRefused("The signature does not match.", code=RequestLogEntry.Reason.BAD_SIGNATURE)
    try:
        with transaction.atomic():
            UsedSignature.objects.create(advertiser=advertiser, signature=matched[0], created_at=now)
    except IntegrityError:
        raise SignatureRefused(
            "This signature was used before.", code=RequestLogEntry.Reason.REPLAYED_SIGNATURE
        ) from None


def used_signatures_prune(*, now: datetime) -> int:
    cutoff = now - timedelta(seconds=2 * settings.SIGNATURE_TOLERANCE_SECONDS)
    return UsedSignature.objects.filter(created_at__lt=cutoff).delete()[0]
