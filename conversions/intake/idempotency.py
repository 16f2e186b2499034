"""Idempotency-Key, as Stripe's: the first answer is replayed for the same key and body; another body is a 422, a
request in flight a 409. A 5xx is not kept (the client may retry); keys expire after IDEMPOTENCY_KEY_TTL_HOURS."""

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from rest_framework.response import Response

from conversions.models import IdempotencyKey
from core.api_errors import api_exception_handler
from core.errors import ConflictError, DomainError
from core.postgres_text import without_nul
from referrals.models import Advertiser


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status_code = 422


class IdempotencyKeyInFlight(ConflictError):
    code = "idempotency_key_in_flight"


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def idempotent_call(
    *, advertiser: Advertiser, key: str, fingerprint: str, now: datetime, handle: Callable[[], Response]
) -> Response:
    """Answer with the stored response for `key`, or run `handle` once and store its answer."""
    if len(key) > 255:
        raise DomainError("Idempotency-Key is longer than 255 characters.", fields={"Idempotency-Key": ["Too long."]})
    try:
        # Its own committed transaction: a concurrent request with the same key must see it.
        with transaction.atomic():
            record = IdempotencyKey.objects.create(
                advertiser=advertiser, key=key, request_hash=fingerprint, created_at=now
            )
    except IntegrityError:
        existing = IdempotencyKey.objects.get(advertiser=advertiser, key=key)
        if existing.request_hash != fingerprint:
            raise IdempotencyKeyReused("This Idempotency-Key was used with a different request.") from None
        if existing.response_status is None:
            raise IdempotencyKeyInFlight("A request with this Idempotency-Key is still in progress.") from None
        replayed = {"Idempotent-Replayed": "true"}
        return Response(existing.response_body, status=existing.response_status, headers=replayed)

    try:
        response = handle()
    except Exception as error:
        # Errors are answers too (a 400 stays a 400 on replay); only the unexpected is not kept.
        response = api_exception_handler(error, {})
        if response is None:
            record.delete()
            raise
    if response.status_code >= 500:
        record.delete()
        return response
    IdempotencyKey.objects.filter(pk=record.pk).update(
        response_status=response.status_code, response_body=without_nul(response.data)
    )
    return response


def idempotency_keys_prune(*, now: datetime) -> int:
    cutoff = now - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    return IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()[0]
