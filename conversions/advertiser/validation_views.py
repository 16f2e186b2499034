"""The advertiser's validation page: conversions still inside their validation term, approved or rejected one by
one or all that the filters match, with totals, commission and a CSV export."""

import uuid
from itertools import islice

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone

from conversions.advertiser import forms, selectors
from conversions.advertiser.validation_selectors import (
    HELD_BY_THE_NETWORK,
    conversions_decidable,
    validation_rows,
    validation_totals,
)
from conversions.advertiser.views import advertiser_page, advertiser_view
from conversions.lifecycle import conversions_decide, validation_term_ends
from conversions.models import Conversion
from conversions.uploads.csv_files import csv_stream
from core.database_routing import reads_from_replica
from core.errors import DomainError
from core.money import money_quantize

PER_PAGE = 50
EXPORT_HEADER = [
    "created_at", "external_id", "offer", "type", "amount", "currency", "commission", "commission_currency",
    "commission_status", "partner", "referral_code", "status", "remark", "term_ends",
]  # fmt: skip


def _filtered(request, query: QueryDict, now):
    """The filter form for `query` and the conversions it matches: none at all while the filters are invalid, so
    a filled form never sits above unfiltered rows."""
    filters = forms.ValidationFilterForm(query or None, advertiser=request.advertiser)
    if filters.is_bound and not filters.is_valid():
        return filters, Conversion.objects.none()
    data = filters.cleaned_data if filters.is_bound else {}
    return filters, selectors.conversions_in_validation(advertiser=request.advertiser, now=now, filters=data)


@advertiser_view("GET", "POST")
def validation(request):
    now = timezone.now()
    if request.method == "POST":
        return _validation_post(request, now)
    filters, conversions = _filtered(request, request.GET, now)
    return _validation_page(request, filters, conversions, query=request.GET, now=now)


def _validation_page(request, filters, conversions, *, query, now, action=None, selected=(), confirm=None):
    page = Paginator(conversions, PER_PAGE).get_page(query.get("page"))
    # Numbers around the current page and at both ends: 81 pages are not 81 links.
    page.numbers = list(page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1))
    rows = validation_rows(page)
    for conversion in rows:
        conversion.term_ends = validation_term_ends(conversion)
    return advertiser_page(
        request,
        "validation",
        filters=filters,
        page=page,
        rows=rows,
        totals=validation_totals(conversions),
        decidable=conversions_decidable(conversions).count(),
        query=query.urlencode(),
        pager_query=query,
        action=action or forms.ValidationActionForm(),
        selected=set(selected),
        confirm=confirm,
    )


def _validation_post(request, now):
    query = QueryDict(request.POST.get("query", "").removeprefix("?"))
    filters, conversions = _filtered(request, query, now)
    action = forms.ValidationActionForm(request.POST)
    selected = request.POST.getlist("conversion")
    back = f"{reverse('advertiser:validation')}?{query.urlencode()}"

    def again(error: str | None = None, **context):
        # A failed submit shows the page again as it was sent: the same rows, ticks, decision and reason.
        if error:
            messages.error(request, error)
        return _validation_page(
            request, filters, conversions, query=query, now=now, action=action, selected=selected, **context
        )

    if not action.is_valid():
        return again()
    data = action.cleaned_data
    if data["scope"] == "all":
        if filters.is_bound and not filters.is_valid():
            return again("Correct the filters first: they match nothing as they are.")
        chosen = conversions_decidable(conversions)
        count = chosen.count()
        if not count:
            return again("No conversion matching the filters can be decided.")
        if not data["confirmed"] or data["count"] != count:
            if data["confirmed"]:
                messages.error(request, f"The filters now match {count}, not {data['count']}: check and confirm.")
            return again(confirm={"count": count, "decision": data["decision"], "reason": data["reason"]})
        _decide(request, chosen.select_related("offer").iterator(chunk_size=500), data, now)
    else:
        if not selected:
            return again("Select at least one conversion, or all that match the filters.")
        posted = _posted(request, selected)
        for conversion in posted:
            if conversion.status == HELD_BY_THE_NETWORK:
                # Posted by hand, since the page offers no checkbox: the network's review decides these.
                messages.error(request, f"{conversion.external_id}: held by the network for review; it decides it.")
        _decide(request, [c for c in posted if c.status != HELD_BY_THE_NETWORK], data, now)
    return redirect(back)


def _posted(request, selected: list[str]) -> list[Conversion]:
    # Only the advertiser's conversions: an id of another's is simply not found (404).
    try:
        ids = {str(uuid.UUID(value)) for value in selected}
    except ValueError:
        raise Http404("No such conversion.") from None
    conversions = list(Conversion.objects.filter(advertiser=request.advertiser, pk__in=ids).select_related("offer"))
    if len(conversions) != len(ids):
        raise Http404("No such conversion.")
    return conversions


def _decide(request, conversions, data: dict, now) -> None:
    """Decide the conversions through the lifecycle's one service, and say what happened, in counts."""
    try:
        decided = conversions_decide(
            conversions=conversions, decision=data["decision"], remark=data["reason"], actor=request.user, now=now
        )
    except DomainError as error:
        messages.error(request, error.message)
        return
    verb = "approved" if data["decision"] == "approve" else "rejected"
    messages.success(request, f"{len(decided.changed)} conversion(s) {verb}; {len(decided.unchanged)} already were.")
    # One line per reason, not per conversion: a select-all may refuse thousands for the same one.
    by_reason: dict[str, list[str]] = {}
    for conversion, error in decided.refused:
        by_reason.setdefault(error.message, []).append(conversion.external_id)
    for reason, external_ids in by_reason.items():
        shown = ", ".join(external_ids[:3]) + (f" and {len(external_ids) - 3} more" if len(external_ids) > 3 else "")
        messages.error(request, f"{shown}: {reason}")


@advertiser_view("GET")
@reads_from_replica
def validation_export(request):
    """The filtered set as CSV, streamed in chunks; amounts as plain decimals for spreadsheets."""
    now = timezone.now()
    _, conversions = _filtered(request, request.GET, now)
    matching = conversions.iterator(chunk_size=1000)

    def rows():
        while chunk := list(islice(matching, 1000)):
            for conversion in validation_rows(chunk):
                reward = conversion.reward
                yield [
                    conversion.created_at.isoformat(),
                    conversion.external_id,
                    conversion.offer.public_id,
                    conversion.type,
                    money_quantize(conversion.amount, conversion.currency),
                    conversion.currency,
                    money_quantize(reward.amount, reward.currency) if reward else "",
                    reward.currency if reward else "",
                    reward.status if reward else "",
                    conversion.partner.display_name if conversion.partner else "",
                    conversion.partner.referral_code if conversion.partner else "",
                    "held by the network" if conversion.held else conversion.status,
                    conversion.status_remark,
                    validation_term_ends(conversion).date().isoformat(),
                ]

    return csv_stream(f"validation-{now:%Y%m%d}.csv", EXPORT_HEADER, rows())
