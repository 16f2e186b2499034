"""The admin home's pointer to the review queue, so staff start where the work is."""

from django import template
from django.urls import reverse

from conversions.models import Conversion
from conversions.review.admin import may_see_conversions

register = template.Library()


@register.inclusion_tag("admin/conversions/review_queue_banner.html", takes_context=True)
def review_queue_banner(context) -> dict:
    if not may_see_conversions(context["request"].user):
        return {"show": False}
    return {
        "show": True,
        "waiting": Conversion.objects.filter(status=Conversion.Status.SUSPICIOUS).count(),
        "url": reverse("admin:conversions_suspiciousconversion_changelist"),
    }
