"""The client's address behind our trusted proxies (settings.TRUSTED_PROXIES)."""

import ipaddress
from functools import cache

from django.conf import settings


@cache
def _trusted_proxies() -> tuple:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in settings.TRUSTED_PROXIES if cidr.strip())


def _is_trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _trusted_proxies())


def client_ip(meta: dict) -> str | None:
    """The client's address. X-Forwarded-For counts only when the peer is a trusted proxy;
    then we walk it from the right and take the first address that is not a trusted proxy."""
    peer = meta.get("REMOTE_ADDR") or None
    if peer is None or not _is_trusted(peer):
        return peer
    forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    for address in reversed(forwarded):
        try:
            ipaddress.ip_address(address)
        except ValueError:
            return peer  # a malformed chain is not evidence of anything
        if not _is_trusted(address):
            return address
    return forwarded[0] if forwarded else peer
