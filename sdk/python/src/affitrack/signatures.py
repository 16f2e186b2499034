"""Signed postbacks: `Affitrack-Signature: t=<unix seconds>,v1=<hex>`.

The digest is HMAC-SHA256, keyed with the advertiser's signing secret, over
`<t>.<body>`: the raw request body for a POST, the raw query string (exactly
as sent, `token` included) for a GET. The server refuses a timestamp more
than 300 seconds from its clock and a signature it has seen before.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

SIGNATURE_HEADER = "Affitrack-Signature"
DEFAULT_TOLERANCE = 300


def _bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes | str, timestamp: int | None = None) -> str:
    """The `Affitrack-Signature` header value for `body`, signed now (or at `timestamp`, unix seconds)."""
    if not secret:
        raise ValueError("A signing secret is required.")
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={timestamp},v1={_digest(secret, timestamp, _bytes(body))}"


def _parse(header: str) -> tuple[int, list[str]] | None:
    timestamp: int | None = None
    digests: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            digests.append(value.strip().lower())
    if timestamp is None or not digests:
        return None
    return timestamp, digests


def verify_signature(
    secrets: str | Iterable[str],
    header: str | None,
    body: bytes | str,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """True when `header` signs `body` with one of `secrets` and its timestamp is within `tolerance` seconds.

    Pass the current and the previous secret while rotating. Every candidate
    digest is compared in constant time, so timing tells nothing about which
    byte differed. Replay protection (each signature accepted once) is the
    receiver's job: remember the digests you accepted for `tolerance` seconds.
    """
    if not header:
        return False
    parsed = _parse(header)
    if parsed is None:
        return False
    timestamp, digests = parsed
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    candidates = [secrets] if isinstance(secrets, str) else list(secrets)
    raw = _bytes(body)
    matched = False
    for secret in candidates:
        if not secret:
            continue
        expected = _digest(secret, timestamp, raw)
        for digest in digests:
            # No early exit: run every comparison whatever matched first.
            matched |= hmac.compare_digest(expected, digest)
    return matched
