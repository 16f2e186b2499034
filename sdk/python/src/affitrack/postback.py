"""Postback URLs: what an advertiser's server (or tracker) calls, `GET /v1/postback?token=...&...`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        raise TypeError("Pass money as a Decimal or a string, not a float.")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("Pass an aware datetime (with a time zone).")
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def postback_url(base_url: str, token: str, meta: Mapping[str, Any] | None = None, **params: Any) -> str:
    """`<base_url>/v1/postback?token=<token>&<params>`, with `meta` as `meta_<key>` parameters.

    Parameters that are None are left out. To sign a GET postback, sign the
    part after `?` exactly as it is here: `sign(secret, urlsplit(url).query)`.
    """
    if not token:
        raise ValueError("A postback token is required.")
    query: list[tuple[str, str]] = [("token", token)]
    query += [(name, _text(value)) for name, value in params.items() if value is not None]
    query += [(f"meta_{key}", _text(value)) for key, value in (meta or {}).items() if value is not None]
    return f"{base_url.rstrip('/')}/v1/postback?{urlencode(query)}"
