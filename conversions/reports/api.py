"""Read endpoints: each caller sees only its own rows, and another tenant's object is a 404."""

from datetime import UTC

import django_filters
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import authentication, exceptions, generics
from rest_framework.filters import OrderingFilter
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import IsAuthenticated

from conversions.intake.authentication import AdvertiserKeyAuthentication, SecurityScheme, bearer_credential
from conversions.intake.serializers import (
    ClickSerializer,
    ConversionSerializer,
    PartnerConversionSerializer,
    RequestLogEntrySerializer,
)
from conversions.models import Conversion, RequestLogEntry
from core.database_routing import ReplicaReadsView
from core.input_limits import page_size_parse
from referrals.models import Click, Partner, PartnerApiToken
from referrals.partner_tokens import TOKEN_PREFIX, partner_for_api_token
from referrals.services import secret_digest
from rewards.selectors import rewards_by_conversion


class PartnerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <partner API token>`: the partner's user, with `request.auth` the Partner."""

    def authenticate(self, request):
        token = bearer_credential(request)
        # Other schemes and advertiser keys are someone else's to check.
        if not token.startswith(TOKEN_PREFIX):
            return None
        partner = partner_for_api_token(token)
        if partner is None:
            raise exceptions.AuthenticationFailed("Invalid partner API token.")
        PartnerApiToken.objects.filter(token_hash=secret_digest(token)).update(last_used_at=timezone.now())
        return partner.user, partner

    authenticate_header = AdvertiserKeyAuthentication.authenticate_header  # the same Bearer challenge on a 401


class PartnerTokenScheme(SecurityScheme):
    target_class = PartnerTokenAuthentication
    name = "PartnerToken"
    definition = {"type": "http", "scheme": "bearer", "description": "A partner API token (pk_…)."}


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 bound, compared in UTC: PostgreSQL refuses offsets beyond ±15:59, which ISO allows."""

    def filter(self, qs, value):
        if value is not None:
            try:
                value = value.astimezone(UTC)
            except (OverflowError, ValueError):
                raise exceptions.ValidationError({self.field_name: ["Date and time out of range."]}) from None
        return super().filter(qs, value)


class CreatedBetweenFilter(django_filters.FilterSet):
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")


class ConversionFilter(CreatedBetweenFilter):
    status = django_filters.MultipleChoiceFilter(choices=Conversion.Status.choices)
    offer = django_filters.CharFilter(field_name="offer__public_id")
    occurred_after = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="lt")
    sub1 = django_filters.CharFilter(field_name="click__sub1")
    sub2 = django_filters.CharFilter(field_name="click__sub2")
    sub3 = django_filters.CharFilter(field_name="click__sub3")
    sub4 = django_filters.CharFilter(field_name="click__sub4")
    sub5 = django_filters.CharFilter(field_name="click__sub5")

    class Meta:
        model = Conversion
        fields = ["type", "external_id"]


class ClickFilter(CreatedBetweenFilter):
    offer = django_filters.CharFilter(field_name="offer__public_id")

    class Meta:
        model = Click
        fields = ["is_unique", "is_bot", "sub1", "sub2", "sub3", "sub4", "sub5"]


class RequestLogFilter(CreatedBetweenFilter):
    reason = django_filters.MultipleChoiceFilter(choices=RequestLogEntry.Reason.choices)
    channel = django_filters.CharFilter()

    class Meta:
        model = RequestLogEntry
        fields = []


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


class ReadView(ReplicaReadsView):
    permission_classes = [IsAuthenticated]
    throttle_scope = "read"
    pagination_class = NewestFirst
    filter_backends = [DjangoFilterBackend]


class EitherSideReadView(ReadView):
    """Read by an advertiser (its offers' conversions) or a partner (their own), each with its own credential."""

    # The partner token first: it claims only `pk_` tokens, and an advertiser key check would refuse them.
    authentication_classes = [PartnerTokenAuthentication, AdvertiserKeyAuthentication]

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
    lookup_url_kwarg = "conversion_id"


class ClickList(ReadView, generics.ListAPIView):
    """A partner's own clicks, newest first, filterable (no visitor IPs or user agents)."""

    authentication_classes = [PartnerTokenAuthentication]
    serializer_class = ClickSerializer
    filterset_class = ClickFilter

    def get_queryset(self):
        return Click.objects.filter(partner=self.request.auth).select_related("offer")


class RequestLogList(ReadView, generics.ListAPIView):
    """The advertiser's refused or duplicate ingestion requests, for debugging an integration."""

    authentication_classes = [AdvertiserKeyAuthentication]
    serializer_class = RequestLogEntrySerializer
    filterset_class = RequestLogFilter

    def get_queryset(self):
        return RequestLogEntry.objects.filter(advertiser=self.request.auth)
