"""Every refusal from the API is an AffitrackError carrying the server's status, code and fields.

The server answers errors in one shape, `{"error": {"code", "message", "fields"}}`;
the subclass says which HTTP status it was, so callers can catch what they handle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class AffitrackError(Exception):
    """Base of every error this client raises.

    `status` is the HTTP status (None when no answer arrived), `code` the
    server's stable error code (`invalid`, `not_found`, `throttled`, ...),
    `fields` maps each bad field to its messages.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        fields: Mapping[str, list[str]] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.fields: dict[str, list[str]] = dict(fields or {})
        self.body = body
        self.headers: dict[str, str] = dict(headers or {})

    def __str__(self) -> str:
        parts = [self.message]
        if self.status is not None:
            parts.insert(0, f"{self.status} {self.code or 'error'}:")
        if self.fields:
            parts.append("(" + "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in self.fields.items()) + ")")
        return " ".join(parts)


class APIConnectionError(AffitrackError):
    """No answer: the connection failed or timed out (after the retries allowed)."""


class InvalidRequest(AffitrackError):
    """400: bad input; `fields` names what is wrong."""


class AuthenticationError(AffitrackError):
    """401: a missing or wrong API key or postback token, or a bad, stale or replayed signature."""


class PermissionDenied(AffitrackError):
    """403: for example a postback from an address outside the advertiser's allowlist."""


class NotFound(AffitrackError):
    """404: no such object, or it belongs to another advertiser."""


class Conflict(AffitrackError):
    """409: a status change that is not allowed, or a request with the same Idempotency-Key still in flight."""


class IdempotencyMismatch(AffitrackError):
    """422: this Idempotency-Key was used before with a different request."""


class RateLimited(AffitrackError):
    """429: over the API key's rate; `retry_after` is how many seconds to wait (None if not said)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(AffitrackError):
    """5xx: the server failed; the request may be retried with the same Idempotency-Key."""


_BY_STATUS: dict[int, type[AffitrackError]] = {
    400: InvalidRequest,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    422: IdempotencyMismatch,
    429: RateLimited,
}


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date; the server sends seconds, so treat anything else as unknown


def error_for_response(status: int, body: Any, headers: Mapping[str, str]) -> AffitrackError:
    """The exception for an error answer, from the server's error shape (or whatever came back)."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code = error.get("code")
        message = error.get("message") or f"HTTP {status}"
        fields = error.get("fields") or {}
    else:
        code, fields = None, {}
        message = (body if isinstance(body, str) and body else f"HTTP {status}")[:500]
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else AffitrackError)
    kwargs: dict[str, Any] = {"status": status, "code": code, "fields": fields, "body": body, "headers": headers}
    if cls is RateLimited:
        return RateLimited(message, retry_after=retry_after_seconds(headers), **kwargs)
    return cls(message, **kwargs)
