"""Read endpoints: each caller sees only its own rows, and another tenant's object is a 404."""

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, generics
from rest_framework.filters import OrderingFilter
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import IsAuthenticated

from conversions.intake.authentication import AdvertiserKeyAuthentication
from conversions.intake.serializers import (
    ClickSerializer,
    ConversionSerializer,
    PartnerConversionSerializer,
    RequestLogEntrySerializer,
)
from conversions.models import Conversion, RequestLogEntry
from conversions.reports.filters import ClickFilter, ConversionFilter, RequestLogFilter
from conversions.reports.partner_auth import PartnerTokenAuthentication
from core.input_limits import page_size_parse
from referrals.models import Click, Partner
from rewards.selectors import rewards_by_conversion


class NewestFirst(CursorPagination):
    """Cursor pagination: stable under inserts, and no OFFSET scans on deep pages."""

    ordering = "-created_at"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        # DRF falls back to the default on page_size=-1 or null; that is bad input, answered 400.
        return page_size_parse(
            request.query_params, name=self.page_size_query_param, default=self.page_size, maximum=self.max_page_size
        )

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size, default=self.page_size)
        return parameters

    def decode_cursor(self, request):
        # A cursor the client mangled is bad input, not a missing page.
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            raise exceptions.ValidationError({"cursor": ["Invalid cursor: use the next or previous link."]}) from None


class AdvertiserReadView:
    authentication_classes = [AdvertiserKeyAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_scope = "read"


class EitherSideReadView:
    """Read by an advertiser (its offers' conversions) or a partner (their own), each with its own credential."""

    # The partner token first: it claims only `pk_` tokens, and an advertiser key check would refuse them.
    authentication_classes = [PartnerTokenAuthentication, AdvertiserKeyAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_scope = "read"

    def get_queryset(self):
        scope = {"partner": self.request.auth} if self.is_partner else {"advertiser": self.request.auth}
        return Conversion.objects.filter(**scope).select_related("offer", "click")

    @property
    def is_partner(self) -> bool:
        return isinstance(self.request.auth, Partner)

    def get_serializer_class(self):
        return PartnerConversionSerializer if self.is_partner else ConversionSerializer


class ConversionList(EitherSideReadView, generics.ListAPIView):
    """Conversions, newest first, filterable: an advertiser's offers' or a partner's own."""

    serializer_class = ConversionSerializer
    pagination_class = NewestFirst
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    filterset_class = ConversionFilter
    ordering_fields = ["created_at", "occurred_at", "amount"]

    def get_serializer(self, *args, **kwargs):
        # One query for the page's rewards, not one per row.
        if args and isinstance(args[0], list):
            kwargs["context"] = {
                **self.get_serializer_context(),
                "rewards_by_conversion": rewards_by_conversion(conversion.pk for conversion in args[0]),
            }
        return super().get_serializer(*args, **kwargs)


class ConversionDetail(EitherSideReadView, generics.RetrieveAPIView):
    serializer_class = ConversionSerializer
    lookup_url_kwarg = "conversion_id"


class ClickList(generics.ListAPIView):
    """A partner's own clicks, newest first, filterable (no visitor IPs or user agents)."""

    authentication_classes = [PartnerTokenAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_scope = "read"
    serializer_class = ClickSerializer
    pagination_class = NewestFirst
    filter_backends = [DjangoFilterBackend]
    filterset_class = ClickFilter

    def get_queryset(self):
        return Click.objects.filter(partner=self.request.auth).select_related("offer")


class RequestLogList(AdvertiserReadView, generics.ListAPIView):
    """The advertiser's refused or duplicate ingestion requests, for debugging an integration."""

    serializer_class = RequestLogEntrySerializer
    pagination_class = NewestFirst
    filter_backends = [DjangoFilterBackend]
    filterset_class = RequestLogFilter

    def get_queryset(self):
        return RequestLogEntry.objects.filter(advertiser=self.request.auth)
