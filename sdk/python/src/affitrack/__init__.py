"""Affitrack's Python client: report conversions, read them back, build and sign postbacks."""

from affitrack.client import DEFAULT_TIMEOUT, Client
from affitrack.errors import (
    AffitrackError,
    APIConnectionError,
    AuthenticationError,
    Conflict,
    IdempotencyMismatch,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
)
from affitrack.models import Conversion, RequestLogEntry
from affitrack.postback import postback_url
from affitrack.signatures import SIGNATURE_HEADER, sign, verify_signature

__all__ = [
    "DEFAULT_TIMEOUT",
    "SIGNATURE_HEADER",
    "APIConnectionError",
    "AffitrackError",
    "AuthenticationError",
    "Client",
    "Conflict",
    "Conversion",
    "IdempotencyMismatch",
    "InvalidRequest",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "RequestLogEntry",
    "ServerError",
    "postback_url",
    "sign",
    "verify_signature",
]
__version__ = "1.0.0"
