"""Reads for the advertiser pages; every one is scoped to one advertiser."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet

from conversions.models import Conversion, ConversionUpload, MissingConversionClaim, RequestLogEntry
from referrals.models import Advertiser, Offer

CLAIM_OPEN = (MissingConversionClaim.Status.SUBMITTED, MissingConversionClaim.Status.UNDER_REVIEW)


def _matching(filters: dict, *names: str) -> dict:
    return {name: filters[name] for name in names if filters.get(name)}


def advertiser_for_user(user, advertiser_id: int | None = None) -> Advertiser | None:
    """The advertiser the user acts for: the chosen one if they are a member of it, else their first."""
    memberships = Advertiser.objects.filter(members=user).order_by("name", "pk")
    chosen = memberships.filter(pk=advertiser_id).first() if advertiser_id is not None else None
    return chosen or memberships.first()


def conversions_in_validation(*, advertiser: Advertiser, now: datetime, filters: dict) -> QuerySet:
    """The advertiser's conversions whose offer's validation term has not ended, newest first."""
    # Few offers per advertiser: one range per offer keeps this a plain indexed filter on created_at.
    inside = Q(pk__in=[])
    for offer in Offer.objects.filter(advertiser=advertiser).only("pk", "validation_term_days"):
        inside |= Q(offer_id=offer.pk, created_at__gt=now - timedelta(days=offer.validation_term_days))
    queryset = (
        Conversion.objects.filter(inside, advertiser=advertiser, **_matching(filters, "offer", "status", "type"))
        .select_related("offer", "partner__user")
        .order_by("-created_at", "pk")
    )
    tz = ZoneInfo(advertiser.time_zone)
    if filters.get("q"):
        queryset = queryset.filter(external_id__icontains=filters["q"].strip())
    if filters.get("created_from"):
        queryset = queryset.filter(created_at__gte=datetime.combine(filters["created_from"], time.min, tzinfo=tz))
    if filters.get("created_to"):
        end = datetime.combine(filters["created_to"] + timedelta(days=1), time.min, tzinfo=tz)
        queryset = queryset.filter(created_at__lt=end)
    return queryset


def uploads_of(advertiser: Advertiser) -> QuerySet:
    return ConversionUpload.objects.filter(advertiser=advertiser).select_related("offer", "uploaded_by")


def request_log_of(*, advertiser: Advertiser, filters: dict) -> QuerySet:
    """The advertiser's refused or duplicate ingestion requests, newest first (the index is on both)."""
    return RequestLogEntry.objects.filter(advertiser=advertiser, **_matching(filters, "reason", "channel")).order_by(
        "-created_at", "-pk"
    )


def claims_of(*, advertiser: Advertiser, status: str = "open") -> QuerySet:
    """Missing-conversion claims on the advertiser's offers: "open" (still to decide), one status, or "all"."""
    queryset = (
        MissingConversionClaim.objects.filter(offer__advertiser=advertiser)
        .select_related("offer", "partner", "conversion", "reviewed_by")
        .order_by("-created_at", "-pk")
    )
    if status == "open":
        return queryset.filter(status__in=CLAIM_OPEN)
    if status in MissingConversionClaim.Status.values:
        return queryset.filter(status=status)
    return queryset
