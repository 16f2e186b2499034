"""Home, the conversion report (and its CSV), a conversion's page and the performance report."""

import csv
from itertools import chain

from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from conversions.models import Conversion, PartnerPostback
from conversions.reports.forms import ConversionReportForm, PerformanceForm, PeriodForm
from conversions.reports.performance import daily_chart, performance_report
from conversions.reports.selectors import (
    SORTS,
    ConversionFilters,
    conversion_report,
    conversion_report_totals,
    conversion_rows,
    rewards_by_status,
)
from conversions.uploads.csv_files import csv_safe
from core.money import money_quantize
from referrals.partner_access import partner_required
from referrals.services import SUB_IDS

PAGE_SIZE = 50
BREAKDOWN_PAGE_SIZE = 100  # rows of the performance report by offer or sub1, busiest first
EXPORT_HEADER = [
    "local_time",
    "time_zone",
    "conversion_id",
    "offer_id",
    "offer",
    "external_id",
    "type",
    "amount",
    "currency",
    "reward",
    "reward_currency",
    "reward_status",
    "status",
    "status_remark",
    *SUB_IDS,
    "click_id",
]


@require_GET
@partner_required
def home(request):
    partner = request.partner
    form = PeriodForm(request.GET or None, partner=partner)
    period = form.period()
    days, total = performance_report(partner=partner, period=period, group_by="day")
    return render(
        request,
        "dashboard/home.html",
        {
            "form": form,
            "period": period,
            "total": total,
            "days": days,
            "chart": daily_chart(days),
            "rewards": rewards_by_status(partner=partner, period=period),
            "disabled_postbacks": PartnerPostback.objects.filter(partner=partner, is_active=False),
            "nav": "home",
        },
    )


def _report_form(request) -> tuple[ConversionReportForm, ConversionFilters]:
    form = ConversionReportForm(request.GET or None, partner=request.partner)
    if not form.is_valid():
        return form, ConversionFilters(period=form.period())
    data = form.cleaned_data
    filters = ConversionFilters(
        period=data["period"],
        offer=data["offer"],
        status=data["status"],
        type=data["type"],
        subs={name: data[name] for name in SUB_IDS},
        search=data["q"],
        sort=data["sort"] or "-time",
    )
    return form, filters


@require_GET
@partner_required
def conversion_list(request):
    form, filters = _report_form(request)
    totals = conversion_report_totals(partner=request.partner, filters=filters)
    paginator = Paginator(conversion_report(partner=request.partner, filters=filters), PAGE_SIZE)
    paginator.count = totals.conversions  # counted once, for the totals row
    page = paginator.get_page(request.GET.get("page"))
    page.object_list = conversion_rows(list(page.object_list))
    descending = filters.sort.startswith("-")
    columns = []
    for key, (_column, label) in SORTS.items():
        current = filters.sort.lstrip("-") == key
        columns.append(
            {
                "key": key,
                "label": label,
                "aria_sort": ("descending" if descending else "ascending") if current else "none",
                "next_sort": key if current and descending else f"-{key}",
            }
        )
    return render(
        request,
        "dashboard/conversions.html",
        {
            "form": form,
            "period": filters.period,
            "page": page,
            "totals": totals,
            "columns": columns,
            "nav": "conversions",
        },
    )


class _Echo:
    """A file whose write() hands the line back, for csv.writer to stream through."""

    def write(self, line: str) -> str:
        return line


@require_GET
@partner_required
def conversion_export(request):
    """The report as CSV, streamed row by row so that a large export never sits in memory."""
    _, filters = _report_form(request)
    rows = conversion_report(partner=request.partner, filters=filters)
    tz = filters.period.tz

    def conversions():
        ids = []
        for pk in rows.iterator(chunk_size=2000):
            ids.append(pk)
            if len(ids) == 1000:
                yield from conversion_rows(ids)
                ids = []
        yield from conversion_rows(ids)

    def values():
        for conversion in conversions():
            click = conversion.click
            reward = conversion.reward_amount
            yield [
                timezone.localtime(conversion.created_at, tz).strftime("%Y-%m-%d %H:%M:%S"),
                tz.key,
                conversion.pk,
                conversion.offer.public_id,
                conversion.offer.name,
                conversion.external_id,
                conversion.type,
                money_quantize(conversion.amount, conversion.currency),
                conversion.currency,
                "" if reward is None else money_quantize(reward, conversion.reward_currency),
                conversion.reward_currency,
                conversion.reward_status,
                conversion.status,
                conversion.status_remark,
                *[getattr(click, name) if click else "" for name in SUB_IDS],
                click.click_id if click else "",
            ]

    writer = csv.writer(_Echo())
    # Every cell formula-escaped; amounts are never negative, so the numbers need no escaping.
    lines = (writer.writerow([csv_safe(cell) for cell in row]) for row in chain([EXPORT_HEADER], values()))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    name = f"conversions-{filters.period.start:%Y%m%d}-{filters.period.end:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_GET
@partner_required
def conversion_detail(request, conversion_id):
    conversion = get_object_or_404(
        Conversion.objects.select_related("offer", "click"), pk=conversion_id, partner=request.partner
    )
    return render(
        request,
        "dashboard/conversion_detail.html",
        {
            "conversion": conversion,
            # What the publisher may see of the history: status, time, the remark; not who or the channel.
            "history": conversion.status_changes.values("to_status", "remark", "created_at"),
            "nav": "conversions",
        },
    )


@require_GET
@partner_required
def performance(request):
    partner = request.partner
    form = PerformanceForm(request.GET or None, partner=partner)
    period = form.period()
    group_by, offer = "day", None
    if form.is_valid():
        group_by, offer = form.cleaned_data["group_by"] or "day", form.cleaned_data["offer"]
    rows, total = performance_report(partner=partner, period=period, group_by=group_by, offer=offer)
    # A busy partner can have thousands of sub ids: drawing them all was most of the page's time
    # (W4, docs/performance.md). Days stay on one page; the total row always covers every row.
    page = Paginator(rows, BREAKDOWN_PAGE_SIZE if group_by != "day" else max(len(rows), 1))
    page = page.get_page(request.GET.get("page"))
    return render(
        request,
        "dashboard/performance.html",
        {
            "form": form,
            "period": period,
            "rows": page.object_list,
            "page": page,
            "total": total,
            "group_by": group_by,
            "nav": "performance",
        },
    )
