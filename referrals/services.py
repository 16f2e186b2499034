"""Writes for advertisers, keys, partners, links and clicks."""

import hashlib
import ipaddress
import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from redis.exceptions import RedisError

from core.postgres_text import without_nul
from core.redis_connection import redis_for_queue
from referrals import hot_cache
from referrals.click_buffer import click_buffer_enabled, click_buffer_push, click_write
from referrals.models import Advertiser, ApiKey, Click, Link, Offer, Partner
from referrals.request_metadata import RequestMetadata

_CODE_ALPHABET = string.ascii_letters + string.digits  # for link codes
SUB_IDS = ("sub1", "sub2", "sub3", "sub4", "sub5")


def secret_digest(secret: str) -> str:
    """SHA-256 of a high-entropy secret; enough for random keys (no password stretching needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(*, advertiser: Advertiser, name: str = "default") -> tuple[ApiKey, str]:
    """Create a key and return it with its plain text, which is never stored or shown again."""
    raw = f"ak_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(advertiser=advertiser, name=name, prefix=raw[:10], key_hash=secret_digest(raw))
    return key, raw


def api_key_revoke(*, api_key: ApiKey, now: datetime | None = None) -> None:
    """Revoke a key: at once in this process, within HOT_CACHE_TTL_SECONDS in the others (referrals/hot_cache.py)."""
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=now or timezone.now())
    hot_cache.advertisers_by_key.forget(api_key.key_hash)


def advertiser_for_api_key(raw_key: str) -> Advertiser | None:
    digest = secret_digest(raw_key)

    def load() -> Advertiser | None:
        key = ApiKey.objects.select_related("advertiser").filter(key_hash=digest, revoked_at__isnull=True).first()
        return key.advertiser if key else None

    return hot_cache.advertisers_by_key.get_or_load(digest, load)


def advertiser_for_postback_token(raw_token: str) -> Advertiser | None:
    digest = secret_digest(raw_token)
    return hot_cache.advertisers_by_postback_token.get_or_load(
        digest, lambda: Advertiser.objects.filter(postback_token_hash=digest).first()
    )


def signing_secret_rotate(*, advertiser: Advertiser) -> str:
    """A new postback signing secret; the previous one keeps verifying until the next rotation."""
    raw = f"whsec_{secrets.token_urlsafe(32)}"
    advertiser.signing_secret_previous, advertiser.signing_secret = advertiser.signing_secret, raw
    advertiser.save(update_fields=["signing_secret", "signing_secret_previous"])
    return raw


def address_allowed(*, allowlist: str, ip: str | None) -> bool:
    """True when `allowlist` (IPs/CIDRs, comma or line separated) is empty or contains `ip`."""
    entries = [item.strip() for item in allowlist.replace(",", "\n").splitlines() if item.strip()]
    if not entries:
        return True
    if not ip:
        return False
    address = ipaddress.ip_address(ip)
    return any(address in ipaddress.ip_network(entry, strict=False) for entry in entries)


def postback_token_rotate(*, advertiser: Advertiser) -> str:
    """A new postback token; the old one stops working (in other processes within HOT_CACHE_TTL_SECONDS)."""
    raw = f"pt_{secrets.token_urlsafe(24)}"
    advertiser.postback_token_hash = secret_digest(raw)
    advertiser.save(update_fields=["postback_token_hash"])  # its post_save signal empties this process's cache
    return raw


def link_create(*, partner: Partner, offer: Offer) -> Link:
    """The partner's link for the offer; an existing one is returned as it is."""
    if existing := Link.objects.filter(partner=partner, offer=offer).first():
        return existing
    for _ in range(5):
        try:
            with transaction.atomic():
                code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
                return Link.objects.create(partner=partner, offer=offer, code=code)
        except IntegrityError:
            # Either a code collision (try another) or a concurrent create (return it).
            if existing := Link.objects.filter(partner=partner, offer=offer).first():
                return existing
    raise RuntimeError("could not find a free link code")


@dataclass(frozen=True)
class ClickRequest:
    metadata: RequestMetadata
    referer: str
    sub_ids: dict[str, str]


def click_record(*, link: Link, request: ClickRequest, now: datetime | None = None) -> Click:
    """Record a click into the Redis click buffer, else straight into the table; a buffered click has no pk yet."""
    metadata = request.metadata
    # What the visitor sent is stored as sent, but PostgreSQL text cannot hold NUL.
    click = Click(
        click_id=secrets.token_hex(16),
        link_id=link.pk,
        offer_id=link.offer_id,
        partner_id=link.partner_id,
        created_at=now or timezone.now(),
        ip=metadata.ip,
        user_agent=without_nul(metadata.user_agent),
        referer=without_nul(request.referer[:2000]),
        country=metadata.country,
        device=metadata.agent.device_type,
        browser=without_nul(metadata.agent.browser[:64]),
        os=without_nul(metadata.agent.os[:64]),
        accept_language=without_nul(metadata.headers.get("accept-language", "")[:255]),
        is_bot=metadata.agent.is_bot,
        **without_nul(request.sub_ids),
    )
    fingerprint = secret_digest(f"{metadata.ip}|{metadata.user_agent}")[:24]
    unique_key = f"uclick:{link.pk}:{fingerprint}"
    if click_buffer_enabled() and click_buffer_push(click=click, unique_key=unique_key):
        return click
    # No buffer, or Redis failed: the flusher's writer, now. Unique unless the same IP and user agent clicked the
    # link within the window; without Redis we cannot tell, so count it unique and keep redirecting.
    try:
        is_unique = bool(
            redis_for_queue("default").set(unique_key, 1, nx=True, ex=settings.CLICK_UNIQUE_WINDOW_SECONDS)
        )
    except RedisError:
        is_unique = True
    click_write(click=click, is_unique=is_unique)
    return click


def deep_link_allowed(*, offer: Offer, url: str) -> bool:
    """A deep link may only go, over http(s), to a host the offer lists (no open redirect). Browsers read a
    backslash as a slash and urlsplit does not (`https://evil.example\\@shop.example`): those are refused."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if "\\" in url or "@" in parts.netloc:
        return False
    allowed = {host.strip().lower() for host in offer.deep_link_hosts.replace(",", "\n").splitlines() if host.strip()}
    return parts.hostname.lower() in allowed


def click_destination_url(*, offer: Offer, link: Link, click: Click, deep_link: str = "") -> str:
    """The offer's URL (or an allowed deep link) with its macros filled in."""
    values = {
        "click_id": click.click_id,
        "offer_id": offer.public_id,
        "partner_id": str(link.partner_id),
        "link_code": link.code,
        **{name: getattr(click, name) for name in SUB_IDS},
    }
    url = deep_link if deep_link and deep_link_allowed(offer=offer, url=deep_link) else offer.destination_url
    return url_macros_fill(url, values)


def url_macros_fill(template: str, values: dict) -> str:
    """Each `{name}` of the URL replaced by its value, URL-encoded so that it cannot add parameters of its own."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", quote(str(value), safe=""))
    return template


def click_cookie_name(offer: Offer) -> str:
    return f"{settings.CLICK_COOKIE_PREFIX}{offer.public_id}"


def partner_suspend(*, partner: Partner, reason: str, now: datetime | None = None) -> bool:
    """Suspend an active partner (its links keep working, new conversions are held); False if it was not active."""
    if not reason.strip():
        raise ValueError("A suspension needs a reason.")
    active = Partner.objects.filter(pk=partner.pk, status=Partner.Status.ACTIVE)
    now = now or timezone.now()
    return bool(active.update(status=Partner.Status.SUSPENDED, suspended_reason=reason.strip()[:500], suspended_at=now))


def partner_reinstate(*, partner: Partner) -> bool:
    suspended = Partner.objects.filter(pk=partner.pk, status=Partner.Status.SUSPENDED)
    return bool(suspended.update(status=Partner.Status.ACTIVE, suspended_reason="", suspended_at=None))


def partner_login_record(*, user, ip: str | None) -> None:
    """Remember the address a partner last logged in from; fraud screening compares conversions with it."""
    if ip:
        Partner.objects.filter(user=user).exclude(last_login_ip=ip).update(last_login_ip=ip)
