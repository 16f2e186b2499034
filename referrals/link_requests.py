"""Partners asking to promote an offer, and staff deciding."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from referrals.models import Link, LinkRequest, Offer, Partner
from referrals.services import link_create


class LinkRequestNotAllowed(ValueError):
    pass


def link_request_create(
    *, partner: Partner, offer: Offer, message: str = "", now: datetime | None = None
) -> tuple[LinkRequest | None, Link | None]:
    """Ask to join an offer (one that auto-approves answers with a link at once); asking again returns the first
    request, and a partner who already has a link gets it back."""
    now = now or timezone.now()
    if offer.status != Offer.Status.ACTIVE:
        raise LinkRequestNotAllowed("This offer is paused.")
    if existing_link := Link.objects.filter(partner=partner, offer=offer).first():
        return None, existing_link
    auto = offer.auto_approve_links
    request, _created = LinkRequest.objects.get_or_create(
        partner=partner,
        offer=offer,
        defaults={
            "message": message[:500],
            "status": LinkRequest.Status.APPROVED if auto else LinkRequest.Status.PENDING,
            "decided_at": now if auto else None,
            "decision_reason": "auto-approved by the offer" if auto else "",
            "created_at": now,
        },
    )
    link = link_create(partner=partner, offer=offer) if request.status == LinkRequest.Status.APPROVED else None
    return request, link


def link_request_approve(*, request_id: int, actor=None, now: datetime | None = None) -> Link:
    """Approve a pending request and create the partner's link; approving twice returns the same link."""
    now = now or timezone.now()
    with transaction.atomic():
        request = LinkRequest.objects.select_for_update().select_related("partner", "offer").get(pk=request_id)
        if request.status == LinkRequest.Status.PENDING:
            request.status, request.decided_by, request.decided_at = LinkRequest.Status.APPROVED, actor, now
            request.save(update_fields=["status", "decided_by", "decided_at"])
        elif request.status != LinkRequest.Status.APPROVED:
            raise LinkRequestNotAllowed(f"A {request.status} request cannot be approved.")
        return link_create(partner=request.partner, offer=request.offer)


def link_request_decline(*, request_id: int, reason: str, actor=None, now: datetime | None = None) -> LinkRequest:
    now = now or timezone.now()
    with transaction.atomic():
        request = LinkRequest.objects.select_for_update().get(pk=request_id)
        if request.status == LinkRequest.Status.DECLINED:
            return request
        if request.status != LinkRequest.Status.PENDING:
            raise LinkRequestNotAllowed(f"A {request.status} request cannot be declined.")
        request.status, request.decision_reason = LinkRequest.Status.DECLINED, reason[:500]
        request.decided_by, request.decided_at = actor, now
        request.save(update_fields=["status", "decision_reason", "decided_by", "decided_at"])
        return request
