"""Postbacks out: partners told of their conversions by signed HTTP calls.

An event is one `PostbackDispatch` per active postback, written with the change and delivered by a job after
commit (retries; each attempt logged; POSTBACK_FAILURE_LIMIT failures in a row disable it). Signed as
`X-Affitrack-Signature: t=<unix>,v1=<hex>` (a second `v1=` by the previous secret until it expires). Only global
addresses are called (unless POSTBACKS_ALLOW_PRIVATE): every resolved address checked, the connection pinned to
one, redirects not followed.
"""

import http.client
import ipaddress
import json
import secrets
import socket
import ssl
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from rq import Retry

from conversions.intake.signatures import signature_compute, signature_header
from conversions.models import Conversion, PartnerPostback, PostbackDelivery, PostbackDispatch
from core.jobs import job_enqueue_on_commit
from core.money import money_quantize
from referrals import hot_cache
from referrals.models import Partner
from referrals.services import SUB_IDS, url_macros_fill
from rewards.models import Reward

SIGNATURE_HEADER = "X-Affitrack-Signature"
MACROS = ("click_id", *SUB_IDS, "conversion_id", "external_id", "offer_id", "status", "payout", "currency", "event")
EXCERPT_CHARS = 500


class PostbackRefused(Exception):
    """The URL may not be called (scheme, or an address that is not public)."""


class PostbackUnresolved(PostbackRefused):
    """The host does not resolve (now): the delivery is refused, but a URL saved today may resolve tomorrow."""


class PostbackDeliveryFailed(Exception):
    """An attempt failed; raised from the job so RQ retries it."""


def postback_create(
    *, partner: Partner, url: str, on_created: bool = True, on_status_changed: bool = True, now: datetime | None = None
) -> PartnerPostback:
    return PartnerPostback.objects.create(
        partner=partner,
        url=url,
        on_created=on_created,
        on_status_changed=on_status_changed,
        secret=_new_secret(),
        created_at=now or timezone.now(),
    )


def postback_update(*, postback: PartnerPostback, url: str, on_created: bool, on_status_changed: bool) -> None:
    postback.url, postback.on_created, postback.on_status_changed = url, on_created, on_status_changed
    postback.save(update_fields=["url", "on_created", "on_status_changed"])


def postback_enable(*, postback: PartnerPostback) -> None:
    """Turn a postback back on (after the partner fixed it); the failure count starts again."""
    PartnerPostback.objects.filter(pk=postback.pk).update(
        is_active=True, consecutive_failures=0, disabled_at=None, disabled_reason=""
    )


def postback_secret_rotate(*, postback: PartnerPostback, now: datetime | None = None) -> str:
    """A new secret; the old one keeps signing alongside it for POSTBACK_SECRET_OVERLAP_HOURS."""
    now = now or timezone.now()
    with transaction.atomic():
        postback.previous_secret = PartnerPostback.objects.select_for_update().get(pk=postback.pk).secret
        postback.previous_secret_expires_at = now + timedelta(hours=settings.POSTBACK_SECRET_OVERLAP_HOURS)
        postback.secret = _new_secret()
        postback.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    return postback.secret


def _new_secret() -> str:
    return f"whsec_{secrets.token_hex(24)}"


def postback_signature_header(*, postback: PartnerPostback, timestamp: int, body: bytes, now: datetime) -> str:
    header = signature_header(secret=postback.secret, timestamp=timestamp, body=body)
    if postback.previous_secret and postback.previous_secret_expires_at and postback.previous_secret_expires_at > now:
        header += f",v1={signature_compute(secret=postback.previous_secret, timestamp=timestamp, body=body)}"
    return header


def postback_payload(conversion: Conversion, event: str) -> dict:
    reward = Reward.objects.filter(conversion_id=conversion.pk).first()
    click = conversion.click
    return {
        "event": event,
        "conversion_id": str(conversion.pk),
        "external_id": conversion.external_id,
        "offer_id": conversion.offer.public_id,
        "type": conversion.type,
        "status": conversion.status,
        "status_remark": conversion.status_remark,
        "amount": str(money_quantize(conversion.amount, conversion.currency)),
        "payout": str(money_quantize(reward.amount, reward.currency))
        if reward and reward.status != Reward.Status.REVERSED
        else "0",
        "currency": reward.currency if reward else conversion.currency,
        "click_id": click.click_id if click else "",
        **{name: getattr(click, name) if click else "" for name in SUB_IDS},
        "created_at": conversion.created_at.isoformat(),
    }


SAMPLE_PAYLOAD = {
    "event": "test",
    "conversion_id": "00000000-0000-0000-0000-000000000000",
    "external_id": "test-order",
    "offer_id": "test-offer",
    "type": "purchase",
    "status": "accepted",
    "status_remark": "",
    "amount": "100.00",
    "payout": "10.00",
    "currency": "USD",
    "click_id": "0" * 32,
    **dict.fromkeys(SUB_IDS, ""),
    "created_at": "2026-01-01T00:00:00+00:00",
}


def partners_with_postbacks(partner_ids: set) -> set:
    """Which of these partners have an active postback (a batch asks once, not per conversion)."""
    active = PartnerPostback.objects.filter(is_active=True, partner_id__in=partner_ids)
    return set(active.values_list("partner_id", flat=True))


def partner_postback_events(partner_id: int | None) -> frozenset:
    """The events the partner's active postbacks subscribe to, cached per process (most partners have none)."""
    if partner_id is None:
        return frozenset()

    def load() -> frozenset:
        active = PartnerPostback.objects.filter(partner_id=partner_id, is_active=True)
        columns = zip(*active.values_list("on_created", "on_status_changed"), strict=True)  # nothing when none
        return frozenset(event for event, flags in zip(PartnerPostback.Event, columns, strict=False) if any(flags))

    return hot_cache.partner_postback_events.get_or_load(partner_id, load)


def partner_postbacks_enqueue(*, conversion_id: str | UUID, event: str, now: datetime | None = None) -> int:
    """Record the event for each of the partner's active postbacks (delivered after commit, each event and status
    once); how many. Call inside the transaction that changed the conversion."""
    subscribed = Q(on_created=True) if event == PartnerPostback.Event.CREATED else Q(on_status_changed=True)
    active = PartnerPostback.objects.filter(subscribed, is_active=True, partner__conversions__pk=conversion_id)
    postbacks = list(active.distinct())
    if not postbacks:
        return 0
    now = now or timezone.now()
    conversion = Conversion.objects.select_related("offer", "click").get(pk=conversion_id)
    payload = postback_payload(conversion, event)
    made = 0
    for postback in postbacks:
        dispatch, created = PostbackDispatch.objects.get_or_create(
            postback=postback,
            conversion=conversion,
            event=event,
            # A conversion is created once, but may reach several statuses: one status_changed for each.
            status=conversion.status if event == PartnerPostback.Event.STATUS_CHANGED else "",
            defaults={"payload": payload, "created_at": now},
        )
        if created:
            made += 1
            # The job is the delivery service itself: it takes the dispatch's id and is safe to run twice.
            job_enqueue_on_commit(
                postback_dispatch_deliver, dispatch_id=dispatch.pk, retry=postback_retry_policy(), job_timeout=60
            )
    return made


def postback_retry_policy() -> Retry:
    intervals = settings.POSTBACK_RETRY_INTERVALS
    return Retry(max=len(intervals), interval=intervals)


def postback_dispatch_deliver(*, dispatch_id: int, now: datetime | None = None) -> str:
    """Make one attempt at a dispatch; a delivered one is left alone. Raises PostbackDeliveryFailed on failure."""
    with transaction.atomic():
        # The row lock makes a second run of the same job wait, then see the delivery and stop.
        dispatch = PostbackDispatch.objects.select_for_update().filter(pk=dispatch_id).first()
        if dispatch is None:
            return "missing"
        if dispatch.delivered_at is not None:
            return "delivered"
        postback = PartnerPostback.objects.get(pk=dispatch.postback_id)
        if not postback.is_active:
            dispatch.given_up_at = now or timezone.now()
            dispatch.save(update_fields=["given_up_at"])
            return "disabled"
        delivery = _attempt(postback, dispatch.payload, dispatch=dispatch)
        dispatch.attempts += 1
        if delivery.ok:
            dispatch.delivered_at = delivery.created_at
        dispatch.save(update_fields=["attempts", "delivered_at"])
        _count_outcome(postback, ok=delivery.ok, now=delivery.created_at)
    if not delivery.ok:
        raise PostbackDeliveryFailed(f"postback {postback.pk}: {delivery.status_code or delivery.error}")
    return "delivered"


def postback_test_send(*, postback: PartnerPostback) -> PostbackDelivery:
    """Send a sample event now, and log it; a test does not count toward disabling."""
    return _attempt(postback, SAMPLE_PAYLOAD, dispatch=None)


def _count_outcome(postback: PartnerPostback, *, ok: bool, now: datetime) -> None:
    this = PartnerPostback.objects.filter(pk=postback.pk)
    if ok:
        this.update(consecutive_failures=0)
        return
    this.update(consecutive_failures=F("consecutive_failures") + 1)
    limit = settings.POSTBACK_FAILURE_LIMIT
    this.filter(is_active=True, consecutive_failures__gte=limit).update(
        is_active=False, disabled_at=now, disabled_reason=f"Disabled after {limit} failed deliveries in a row."
    )


def _attempt(postback: PartnerPostback, payload: dict, *, dispatch: PostbackDispatch | None) -> PostbackDelivery:
    now = timezone.now()
    url = url_macros_fill(postback.url, {name: payload.get(name, "") for name in MACROS})
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    signature = postback_signature_header(postback=postback, timestamp=int(now.timestamp()), body=body, now=now)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Affitrack-Postback/1",
        "X-Affitrack-Event": payload["event"],
        SIGNATURE_HEADER: signature,
    }
    started = time.monotonic()
    status_code, excerpt, error = None, "", ""
    try:
        status_code, excerpt = http_post(url, body=body, headers=headers, timeout=settings.POSTBACK_TIMEOUT_SECONDS)
    except PostbackRefused as refused:
        error = f"refused: {refused}"
    except (OSError, http.client.HTTPException) as failure:
        error = f"{type(failure).__name__}: {failure}"
    return PostbackDelivery.objects.create(
        postback=postback,
        dispatch=dispatch,
        event=payload["event"],
        url=url,
        status_code=status_code,
        latency_ms=int((time.monotonic() - started) * 1000),
        ok=status_code is not None and 200 <= status_code < 300,
        error=error[:255],
        response_excerpt=excerpt[:EXCERPT_CHARS],
        created_at=now,
    )


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve_checked(host: str, port: int) -> list[str]:
    """Every address the host resolves to; refused if any of them is not public (unless allowed)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise PostbackUnresolved(f"cannot resolve {host}: {error}") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not settings.POSTBACKS_ALLOW_PRIVATE:
        blocked = [address for address in addresses if not address_is_public(address)]
        if blocked:
            raise PostbackRefused(f"{host} resolves to a non-public address ({blocked[0]})")
    return addresses


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to an address we checked, with the certificate checked for the host name."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def url_checked(url: str) -> tuple[int, str]:
    """The URL's port and first address, as a delivery will call it; refused as a delivery would be."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PostbackRefused("only http and https URLs")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return port, resolve_checked(parts.hostname, port)[0]


def http_post(url: str, *, body: bytes, headers: dict, timeout: float) -> tuple[int, str]:
    """POST to the URL's checked address; a redirect is an answer like any other, never followed."""
    parts = urlsplit(url)
    port, address = url_checked(url)
    if parts.scheme == "https":
        connection = _PinnedHTTPSConnection(parts.hostname, port, address=address, timeout=timeout)
    else:
        connection = http.client.HTTPConnection(address, port, timeout=timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", path, body=body, headers={"Host": parts.netloc.rpartition("@")[2], **headers})
        response = connection.getresponse()
        return response.status, response.read(EXCERPT_CHARS * 4).decode("utf-8", "replace")
    finally:
        connection.close()
