"""The partner's pages: home, the conversion report (and its CSV), a conversion, performance, offers and links
(with the link builder), earnings, profile and API token."""

from decimal import Decimal
from itertools import islice
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from conversions.models import Conversion, PartnerPostback
from conversions.reports import selectors
from conversions.reports.commission import conversion_commission
from conversions.reports.forms import (
    ConversionReportForm,
    JoinOfferForm,
    LinkBuilderForm,
    PerformanceForm,
    PeriodForm,
    ProfileForm,
)
from conversions.reports.performance import PerformanceRow, daily_chart, performance_compare, performance_report
from conversions.reports.periods import Period
from conversions.reports.statuses import status_legend
from conversions.uploads.csv_files import csv_stream
from core.database_routing import reads_from_replica
from core.garbage_collection import cyclic_gc_paused
from core.money import money_quantize
from referrals.link_requests import LinkRequestNotAllowed, link_request_create
from referrals.models import Link, LinkRequest, Offer
from referrals.partner_access import partner_required, partner_tz
from referrals.partner_tokens import partner_token_live, partner_token_revoke, partner_token_rotate
from referrals.services import SUB_IDS
from rewards.models import PayoutItem, Reward
from rewards.payouts import payout_minimum

PAGE_SIZE = 50
BREAKDOWN_PAGE_SIZE = 100  # rows of the performance report by offer or sub1, busiest first
EXPORT_HEADER = ["local_time", "time_zone", "conversion_id", "offer_id", "offer", "external_id", "type", "amount"]
EXPORT_HEADER += ["currency", "reward", "reward_currency", "reward_status", "status", "status_remark"]
EXPORT_HEADER += [*SUB_IDS, "click_id"]


def _page(request, template: str, nav: str = "", **context):
    """A dashboard page; the menu marks `nav`, by default the page itself."""
    return render(request, f"dashboard/{template}.html", {"nav": nav or template, **context})


def _period_form(request, form_class) -> tuple:
    form = form_class(request.GET or None, partner=request.partner)
    return form, form.period()


@require_GET
@partner_required
@reads_from_replica
@cyclic_gc_paused()
def home(request):
    partner = request.partner
    form, period = _period_form(request, PeriodForm)
    context = {"form": form, "period": period, "comparison": None}
    context["disabled_postbacks"] = PartnerPostback.objects.filter(partner=partner, is_active=False)
    if form.is_bound and not form.is_valid():  # the error, and no figures of a period the form did not ask for
        return _page(request, "home", **context)
    days, total = performance_report(partner=partner, period=period, group_by="day")
    context |= {"total": total, "days": days, "chart": daily_chart(days)}
    context["comparison"] = performance_compare(partner=partner, period=period, total=total)
    context["rewards"] = selectors.rewards_by_status(partner=partner, period=period)
    return _page(request, "home", **context)


def _report_form(request) -> tuple[ConversionReportForm, selectors.ConversionFilters]:
    form = ConversionReportForm(request.GET or None, partner=request.partner)
    return form, form.filters()


@require_GET
@partner_required
@reads_from_replica
@cyclic_gc_paused()
def conversion_list(request):
    form, filters = _report_form(request)
    totals = selectors.conversion_report_totals(partner=request.partner, filters=filters)
    paginator = Paginator(selectors.conversion_report(partner=request.partner, filters=filters), PAGE_SIZE)
    paginator.count = totals.conversions  # counted once, for the totals row
    page = paginator.get_page(request.GET.get("page"))
    # The Next and Previous links carry the edge row's id: from it the page seeks in the index (no OFFSET scan
    # of every row before it). A typed page number, or a sort that cannot seek, pages by number.
    ids = selectors.conversion_keyset_page(
        paginator.object_list,
        partner=request.partner,
        filters=filters,
        after=request.GET.get("after", ""),
        before=request.GET.get("before", ""),
        size=PAGE_SIZE,
    )
    page.object_list = selectors.conversion_rows(list(page.object_list) if ids is None else ids)
    page.after = page.before = None  # the pager's links leave them out
    if page.object_list and filters.sort.lstrip("-") in selectors.KEYSET_SORTS:
        page.after, page.before = page.object_list[-1].pk, page.object_list[0].pk
    sort, descending = filters.sort.lstrip("-"), filters.sort.startswith("-")
    columns = [
        {
            "key": key,
            "label": label,
            "aria_sort": ("descending" if descending else "ascending") if key == sort else "none",
            "next_sort": key if key == sort and descending else f"-{key}",
        }
        for key, (_column, label) in selectors.SORTS.items()
    ]
    context = {"form": form, "filters": filters, "period": filters.period, "page": page, "totals": totals}
    return _page(request, "conversions", columns=columns, statuses=status_legend(), **context)


@require_GET
@partner_required
@reads_from_replica
def conversion_export(request):
    """The report as CSV, streamed row by row so that a large export never sits in memory."""
    _, filters = _report_form(request)
    ids = selectors.conversion_report(partner=request.partner, filters=filters).iterator(chunk_size=2000)
    tz = filters.period.tz

    def values():
        while chunk := list(islice(ids, 1000)):
            for conversion in selectors.conversion_rows(chunk):
                click, reward = conversion.click, conversion.reward_amount
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

    return csv_stream(
        f"conversions-{filters.period.start:%Y%m%d}-{filters.period.end:%Y%m%d}.csv", EXPORT_HEADER, values()
    )


@require_GET
@partner_required
def conversion_detail(request, conversion_id):
    conversion = get_object_or_404(
        Conversion.objects.select_related("offer", "click"), pk=conversion_id, partner=request.partner
    )
    # What the publisher may see of the history: status, time, the remark; not who or the channel.
    history = conversion.status_changes.values("to_status", "remark", "created_at")
    tz = partner_tz(request.partner)
    context = {"conversion": conversion, "history": history, "statuses": status_legend()}
    context["commission"] = conversion_commission(conversion=conversion, tz=tz)
    return _page(request, "conversion_detail", "conversions", **context)


def _performance_form(request) -> tuple[PerformanceForm, Period, dict | None]:
    """The performance form, its period and what it asks for (group_by, offer); None when the input is invalid."""
    form, period = _period_form(request, PerformanceForm)
    if form.is_bound and not form.is_valid():
        return form, period, None
    chosen = form.cleaned_data if form.is_bound else {}
    return form, period, {"group_by": chosen.get("group_by") or "day", "offer": chosen.get("offer")}


@require_GET
@partner_required
@reads_from_replica
@cyclic_gc_paused()
def performance(request):
    partner = request.partner
    form, period, chosen = _performance_form(request)
    context = {"form": form, "period": period, "comparison": None, "chart": None}
    if chosen is None:  # the error, and no figures that the form did not ask for
        group_by, rows, total = "day", [], PerformanceRow(key=None, label="Total")
    else:
        group_by = chosen["group_by"]
        rows, total = performance_report(partner=partner, period=period, **chosen)
        context["comparison"] = performance_compare(partner=partner, period=period, total=total, offer=chosen["offer"])
        query = request.GET.copy()
        query.pop("page", None)  # the export has every row
        context["export_query"] = query.urlencode()
        if group_by == "day":
            context["chart"] = daily_chart(rows)
    # A busy partner can have thousands of sub ids: drawing them all was most of the page's time
    # (W4, docs/performance.md). Days stay on one page; the total row always covers every row.
    page = Paginator(rows, BREAKDOWN_PAGE_SIZE if group_by != "day" else max(len(rows), 1))
    page = page.get_page(request.GET.get("page"))
    context |= {"page": page, "rows": page.object_list, "total": total}
    return _page(request, "performance", group_by=group_by, **context)


@require_GET
@partner_required
@reads_from_replica
def performance_export(request):
    """The performance report as CSV: the grouping, period and offer the page shows, every row (not one page),
    amounts as plain decimals, a pair of columns per currency."""
    form, period, chosen = _performance_form(request)
    if chosen is None:
        errors = [str(error) for errors in form.errors.values() for error in errors]
        return HttpResponseBadRequest(" ".join(errors), content_type="text/plain; charset=utf-8")
    group_by = chosen["group_by"]
    rows, _ = performance_report(partner=request.partner, period=period, **chosen)
    # Every currency any row earned in, even one whose total nets to nothing.
    currencies = sorted({currency for row in rows for currency, _ in row.earnings_list})
    first = {"day": ["day", "time_zone"], "offer": ["offer_id", "offer"], "sub1": ["sub1"]}[group_by]
    header = [*first, "clicks", "unique_clicks", "conversions", "conversion_rate"]
    header += [name for currency in currencies for name in (f"earnings_{currency}", f"epc_{currency}")]
    public_ids = {}
    if group_by == "offer":  # the rows are the partner's own offers
        public_ids = dict(Offer.objects.filter(pk__in=[row.key for row in rows]).values_list("pk", "public_id"))

    def values():
        for row in rows:
            named = {"day": [row.label, period.tz.key], "offer": [public_ids.get(row.key, ""), row.label]}
            earned, epc = dict(row.earnings_list), dict(row.epc)
            yield [
                *named.get(group_by, [row.key or ""]),
                row.clicks,
                row.unique_clicks,
                row.conversions,
                "" if row.conversion_rate is None else row.conversion_rate,
                *[
                    cell
                    for currency in currencies
                    for cell in (earned.get(currency, money_quantize(Decimal(0), currency)), epc.get(currency, ""))
                ],
            ]

    offer = f"-{chosen['offer'].public_id}" if chosen["offer"] else ""
    name = f"performance-by-{group_by}{offer}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    return csv_stream(name, header, values())


def link_url(link: Link, sub_ids: dict | None = None) -> str:
    query = urlencode({name: value for name, value in (sub_ids or {}).items() if value})
    return f"{settings.SITE_URL}/c/{link.code}" + (f"?{query}" if query else "")


@require_GET
@partner_required
def links(request):
    partner = request.partner
    joined = list(Link.objects.filter(partner=partner).select_related("offer").order_by("offer__name"))
    for link in joined:
        link.url = link_url(link)
    requested = Prefetch("link_requests", queryset=LinkRequest.objects.filter(partner=partner), to_attr="my_requests")
    others = (
        Offer.objects.filter(status=Offer.Status.ACTIVE).exclude(links__partner=partner).prefetch_related(requested)
    )
    return _page(request, "links", joined=joined, others=others.order_by("name"), join_form=JoinOfferForm())


@require_POST
@partner_required
def offer_join(request, public_id: str):
    offer = get_object_or_404(Offer, public_id=public_id, status=Offer.Status.ACTIVE)
    form = JoinOfferForm(request.POST)
    message = form.cleaned_data["message"] if form.is_valid() else ""
    try:
        _, link = link_request_create(partner=request.partner, offer=offer, message=message)
    except LinkRequestNotAllowed as error:
        messages.error(request, str(error))
        return redirect("dashboard:links")
    if link is not None:
        messages.success(request, f"You have joined {offer.name}; your link is ready.")
        return redirect("dashboard:link_builder", link_id=link.pk)
    messages.success(request, f"Request to join {offer.name} sent; staff will review it.")
    return redirect("dashboard:links")


@require_GET
@partner_required
def link_builder(request, link_id: int):
    link = get_object_or_404(Link.objects.select_related("offer"), pk=link_id, partner=request.partner)
    form = LinkBuilderForm(request.GET or None, offer=link.offer)
    sub_ids = {}
    if form.is_valid():
        sub_ids = {name: form.cleaned_data[name] for name in SUB_IDS}
        sub_ids["url"] = form.cleaned_data.get("url", "")
    return _page(request, "link_builder", "links", link=link, form=form, built_url=link_url(link, sub_ids))


def _commissions(request) -> tuple[str, object]:
    """The partner's commissions, newest first, of the status the page asks for (all for none or an unknown one)."""
    status = request.GET.get("status", "")
    history = Reward.objects.filter(partner=request.partner).select_related("offer").order_by("-created_at", "-pk")
    if status in Reward.Status.values:
        return status, history.filter(status=status)
    return "", history


@require_GET
@partner_required
@reads_from_replica
@cyclic_gc_paused()
def earnings(request):
    partner = request.partner
    balances = selectors.ledger_balances(partner=partner)
    minimum_currency = balances[0]["currency"] if balances else "USD"
    minimum = balances[0]["minimum"] if balances else payout_minimum(partner=partner, currency=minimum_currency)
    status, history = _commissions(request)
    context = {"balances": balances, "minimum": minimum, "minimum_currency": minimum_currency, "status": status}
    context["payouts"] = (
        PayoutItem.objects.filter(partner=partner).select_related("batch").order_by("-batch__created_at")
    )
    context["by_status"] = selectors.rewards_by_status(partner=partner)
    context["page"] = Paginator(history, 50).get_page(request.GET.get("page"))
    return _page(request, "earnings", statuses=Reward.Status.choices, **context)


EARNINGS_EXPORT_HEADER = ["local_time", "time_zone", "conversion_id", "offer_id", "offer", "commission", "currency"]
EARNINGS_EXPORT_HEADER += ["status", "approved_at", "paid_at", "reversed_at"]


@require_GET
@partner_required
@reads_from_replica
def earnings_export(request):
    """The commissions list as CSV (the status filter applied), streamed, amounts as plain decimals."""
    status, history = _commissions(request)
    tz = partner_tz(request.partner)

    def local(moment) -> str:
        return timezone.localtime(moment, tz).strftime("%Y-%m-%d %H:%M:%S") if moment else ""

    rows = (
        [
            local(reward.created_at),
            tz.key,
            reward.conversion_id,
            reward.offer.public_id,
            reward.offer.name,
            money_quantize(reward.amount, reward.currency),
            reward.currency,
            reward.status,
            local(reward.approved_at),
            local(reward.paid_at),
            local(reward.reversed_at),
        ]
        for reward in history.iterator(chunk_size=2000)
    )
    return csv_stream(f"commissions{'-' + status if status else ''}.csv", EARNINGS_EXPORT_HEADER, rows)


@require_http_methods(["GET", "POST"])
@partner_required
def profile(request):
    form = ProfileForm(request.POST or None, instance=request.partner)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Profile saved.")
        return redirect("dashboard:profile")
    return _page(request, "profile", form=form, token=partner_token_live(partner=request.partner))


@require_POST
@partner_required
def api_token_rotate(request):
    """Make a new token (the old one stops working) and show it, this once."""
    token, raw = partner_token_rotate(partner=request.partner)
    return _page(request, "profile", form=ProfileForm(instance=request.partner), token=token, new_token=raw)


@require_POST
@partner_required
def api_token_revoke(request):
    if partner_token_revoke(partner=request.partner):
        messages.success(request, "API token revoked.")
    return redirect("dashboard:profile")
