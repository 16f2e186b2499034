from datetime import UTC

import django_filters
from rest_framework.exceptions import ValidationError

from conversions.models import Conversion, RequestLogEntry
from referrals.models import Click


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 bound, compared in UTC: PostgreSQL refuses offsets beyond ±15:59, which ISO allows."""

    def filter(self, qs, value):
        if value is not None:
            try:
                value = value.astimezone(UTC)
            except (OverflowError, ValueError):
                raise ValidationError({self.field_name: ["Date and time out of range."]}) from None
        return super().filter(qs, value)


class ConversionFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Conversion.Status.choices)
    type = django_filters.ChoiceFilter(choices=Conversion.Type.choices)
    offer = django_filters.CharFilter(field_name="offer__public_id")
    external_id = django_filters.CharFilter()
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")
    occurred_after = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = UtcDateTimeFilter(field_name="occurred_at", lookup_expr="lt")
    sub1 = django_filters.CharFilter(field_name="click__sub1")
    sub2 = django_filters.CharFilter(field_name="click__sub2")
    sub3 = django_filters.CharFilter(field_name="click__sub3")
    sub4 = django_filters.CharFilter(field_name="click__sub4")
    sub5 = django_filters.CharFilter(field_name="click__sub5")

    class Meta:
        model = Conversion
        fields = []


class ClickFilter(django_filters.FilterSet):
    offer = django_filters.CharFilter(field_name="offer__public_id")
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")
    is_unique = django_filters.BooleanFilter()
    is_bot = django_filters.BooleanFilter()
    sub1 = django_filters.CharFilter()
    sub2 = django_filters.CharFilter()
    sub3 = django_filters.CharFilter()
    sub4 = django_filters.CharFilter()
    sub5 = django_filters.CharFilter()

    class Meta:
        model = Click
        fields = []


class RequestLogFilter(django_filters.FilterSet):
    reason = django_filters.MultipleChoiceFilter(choices=RequestLogEntry.Reason.choices)
    channel = django_filters.CharFilter()
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = RequestLogEntry
        fields = []
