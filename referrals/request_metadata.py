"""Fraud metadata read off a request: address, user agent, some headers, country, device; no network calls
(ua-parser, and geoip2fast's bundled database or the MaxMind file at GEOIP_MMDB_PATH)."""

import ipaddress
import logging
import re
from dataclasses import dataclass, field
from functools import cache, lru_cache

from django.conf import settings

log = logging.getLogger(__name__)


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
    """The client's address: X-Forwarded-For, walked from the right past trusted proxies, only from a trusted peer."""
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


# Request headers kept as evidence: their WSGI names, and the names they are kept under.
EVIDENCE_HEADERS = {
    "HTTP_" + name.upper().replace("-", "_"): name
    for name in (
        "accept-language referer origin x-forwarded-for x-requested-with sec-ch-ua sec-ch-ua-mobile "
        "sec-ch-ua-platform dnt via"
    ).split()
}
# ua-parser knows crawlers as device "Spider"; these catch headless browsers and HTTP libraries too.
_BOT_PATTERN = re.compile(
    r"bot|crawl|spider|slurp|headless|phantomjs|puppeteer|playwright|selenium|python-requests|curl/|wget/"
    r"|go-http-client|java/|okhttp|httpclient|scrapy|facebookexternalhit|preview",
    re.IGNORECASE,
)
# The first that matches decides; neither: a desktop.
_DEVICE_PATTERNS = (
    ("tablet", re.compile(r"ipad|tablet|kindle|silk|playbook|(android(?!.*mobile))", re.IGNORECASE)),
    ("mobile", re.compile(r"mobi|iphone|ipod|android|blackberry|windows phone|opera mini", re.IGNORECASE)),
)


@dataclass(frozen=True)
class UserAgentFacts:
    browser: str = ""
    os: str = ""
    device_type: str = ""  # desktop, mobile, tablet, bot, or "" when unknown
    is_bot: bool = False


@lru_cache(maxsize=20_000)
def user_agent_describe(user_agent: str) -> UserAgentFacts:
    """Parse a user agent; cached, since real traffic repeats a small set of them."""
    if not user_agent:
        return UserAgentFacts()
    from ua_parser import parse

    parsed = parse(user_agent[:1000])
    is_bot = (parsed.device and parsed.device.family) == "Spider" or bool(_BOT_PATTERN.search(user_agent))
    devices = (device for device, pattern in _DEVICE_PATTERNS if pattern.search(user_agent))
    device_type = "bot" if is_bot else next(devices, "desktop")

    def family(part) -> str:
        return part.family if part and part.family != "Other" else ""

    return UserAgentFacts(
        browser=family(parsed.user_agent), os=family(parsed.os), device_type=device_type, is_bot=is_bot
    )


@cache
def _geo_reader():
    if path := settings.GEOIP_MMDB_PATH:
        import maxminddb

        return ("mmdb", maxminddb.open_database(path))
    from geoip2fast import GeoIP2Fast

    return ("geoip2fast", GeoIP2Fast(verbose=False))


@lru_cache(maxsize=50_000)
def country_for_ip(ip: str | None) -> str:
    """ISO 3166 alpha-2 country of an IP, or "" when private, unknown or not an address."""
    if not ip:
        return ""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    if not address.is_global:
        return ""
    kind, reader = _geo_reader()
    try:
        if kind == "mmdb":
            record = reader.get(ip) or {}
            return ((record.get("country") or {}).get("iso_code") or "").upper()[:2]
        code = reader.lookup(ip).country_code
    except Exception:  # a broken database must not break tracking
        log.exception("country lookup failed for %s", ip)
        return ""
    return code if code and len(code) == 2 and code.isalpha() else ""


@dataclass(frozen=True)
class RequestMetadata:
    ip: str | None = None
    user_agent: str = ""
    country: str = ""
    agent: UserAgentFacts = field(default_factory=UserAgentFacts)
    headers: dict = field(default_factory=dict)


def request_metadata(meta: dict, *, user_agent: str | None = None) -> RequestMetadata:
    """What we keep of a request as fraud evidence; `user_agent` (from a server-to-server body) overrides the header."""
    ip = client_ip(meta)
    agent_string = (user_agent if user_agent else meta.get("HTTP_USER_AGENT", ""))[:1000]
    return RequestMetadata(
        ip=ip,
        user_agent=agent_string,
        country=country_for_ip(ip),
        agent=user_agent_describe(agent_string),
        headers={name: meta[key][:500] for key, name in EVIDENCE_HEADERS.items() if meta.get(key)},
    )
