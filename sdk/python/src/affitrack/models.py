"""What the API answers, as typed objects: amounts are Decimal, times are aware datetimes."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import Any


def _datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    # The server writes ISO 8601 with "Z" or an offset; fromisoformat takes "Z" only from 3.11.
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Conversion:
    """One conversion as the API shows it.

    `created` is True when the call that returned it recorded it (HTTP 202),
    False when its external id had been reported before (HTTP 200), and None
    when it was read. `replayed` is True when the answer was the stored answer
    to an earlier request with the same Idempotency-Key.
    """

    id: str
    status: str
    status_reason: str
    status_remark: str
    external_id: str
    offer: str | None
    type: str
    amount: Decimal
    currency: str
    click_id: str | None
    product_id: str
    category: str
    quantity: int
    plan: str
    subscription_id: str
    source: str
    meta: dict[str, Any]
    attribution: dict[str, Any]
    channel: str
    occurred_at: datetime | None
    created_at: datetime | None
    processed_at: datetime | None
    created: bool | None = None
    replayed: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any], *, created: bool | None = None, replayed: bool = False) -> Conversion:
        return cls(
            id=str(data["id"]),
            status=data.get("status", ""),
            status_reason=data.get("status_reason", ""),
            status_remark=data.get("status_remark", ""),
            external_id=data.get("external_id", ""),
            offer=data.get("offer"),
            type=data.get("type", ""),
            amount=Decimal(str(data.get("amount", "0"))),
            currency=data.get("currency", ""),
            click_id=data.get("click_id"),
            product_id=data.get("product_id", ""),
            category=data.get("category", ""),
            quantity=int(data.get("quantity") or 1),
            plan=data.get("plan", ""),
            subscription_id=data.get("subscription_id", ""),
            source=data.get("source", ""),
            meta=data.get("meta") or {},
            attribution=data.get("attribution") or {},
            channel=data.get("channel", ""),
            occurred_at=_datetime(data.get("occurred_at")),
            created_at=_datetime(data.get("created_at")),
            processed_at=_datetime(data.get("processed_at")),
            created=created,
            replayed=replayed,
            raw=data,
        )


@dataclass(frozen=True)
class RequestLogEntry:
    """A refused, duplicate or unattributed ingestion request, kept for debugging an integration."""

    id: int
    created_at: datetime | None
    channel: str
    method: str
    path: str
    reason: str
    message: str
    http_status: int
    payload: dict[str, Any]
    ip: str | None
    conversion_id: str | None
    replayed_at: datetime | None
    replay_result: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> RequestLogEntry:
        return cls(
            id=data["id"],
            created_at=_datetime(data.get("created_at")),
            channel=data.get("channel", ""),
            method=data.get("method", ""),
            path=data.get("path", ""),
            reason=data.get("reason", ""),
            message=data.get("message", ""),
            http_status=int(data.get("http_status") or 0),
            payload=data.get("payload") or {},
            ip=data.get("ip"),
            conversion_id=str(data["conversion_id"]) if data.get("conversion_id") else None,
            replayed_at=_datetime(data.get("replayed_at")),
            replay_result=data.get("replay_result") or "",
            raw=data,
        )


CONVERSION_FIELDS = tuple(f.name for f in fields(Conversion))
