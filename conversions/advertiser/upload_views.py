"""The advertiser's CSV pages: templates, uploads with their progress and errors, reconciliation."""

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from conversions.advertiser.access import advertiser_view
from conversions.advertiser.forms import (
    UploadForm,
)
from conversions.advertiser.selectors import (
    uploads_of,
)
from conversions.models import ConversionUpload
from conversions.uploads.csv_files import CsvFileInvalid, csv_download
from conversions.uploads.reconciliation import reconciliation_lines
from conversions.uploads.rows import ADJUSTMENT_COLUMNS, CONVERSION_COLUMNS
from conversions.uploads.services import upload_create
from referrals.models import Offer


@require_GET
@advertiser_view
def offer_template(request, public_id: str):
    offer = get_object_or_404(Offer, advertiser=request.advertiser, public_id=public_id)
    example = {
        "click_id": "3f2a9c0d5e6b7a8c9d0e1f2a3b4c5d6e",
        "referral_code": "",
        "external_id": "order-1001",
        "type": "purchase",
        "amount": "120.00",
        "currency": offer.currency,
        "occurred_at": "2025-03-31T14:05:00+00:00",
        "product_id": "sku-1",
        "category": "shoes",
        "quantity": "1",
        "plan": "",
        "subscription_id": "",
        "source": "web",
    }
    header = [*CONVERSION_COLUMNS, "meta_coupon"]
    row = [*(example[name] for name in CONVERSION_COLUMNS), "SPRING10"]
    return csv_download(f"{offer.public_id}-conversions-template.csv", header, [row])


@require_GET
@advertiser_view
def adjustments_template(request):
    rows = [["order-1001", "approved", "", ""], ["order-1002", "rejected", "Order returned within 14 days", ""]]
    return csv_download("adjustments-template.csv", ADJUSTMENT_COLUMNS, rows)


@require_GET
@advertiser_view
def reconciliation_template(request):
    return csv_download("reconciliation-template.csv", ["external_id", "amount"], [["order-1001", "120.00"]])


# Uploads --------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@advertiser_view
def uploads(request):
    advertiser = request.advertiser
    initial = {"kind": request.GET.get("kind", ConversionUpload.Kind.CONVERSIONS)}
    if request.GET.get("offer"):
        initial["offer"] = Offer.objects.filter(advertiser=advertiser, public_id=request.GET["offer"]).first()
    form = UploadForm(request.POST or None, request.FILES or None, advertiser=advertiser, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            upload = upload_create(
                advertiser=advertiser,
                kind=data["kind"],
                name=data["file"].name,
                raw=data["file"].read(),
                offer=data["offer"],
                billing_month=data["billing_month"],
                user=request.user,
            )
        except CsvFileInvalid as error:
            form.add_error("file", error.message)
        else:
            return redirect("advertiser:upload", pk=upload.pk)
    page = Paginator(uploads_of(advertiser), 25).get_page(request.GET.get("page"))
    return render(
        request,
        "advertiser/uploads.html",
        {"advertiser": advertiser, "form": form, "page": page, "max_bytes": settings.CSV_UPLOAD_MAX_BYTES},
    )


def _upload(request, pk: int) -> ConversionUpload:
    return get_object_or_404(uploads_of(request.advertiser), pk=pk)


@require_GET
@advertiser_view
def upload_detail(request, pk: int):
    upload = _upload(request, pk)
    context = {
        "advertiser": request.advertiser,
        "upload": upload,
        "row_errors": upload.row_errors.all()[:200],
    }
    if upload.kind == ConversionUpload.Kind.RECONCILIATION and upload.status == ConversionUpload.Status.DONE:
        lines = reconciliation_lines(upload)
        context["differences"] = [line for line in lines if line.result != "matched"][:200]
    return render(request, "advertiser/upload_detail.html", context)


@require_GET
@advertiser_view
def upload_progress(request, pk: int):
    upload = _upload(request, pk)
    return JsonResponse(
        {
            "status": upload.status,
            "rows_total": upload.rows_total,
            "rows_done": upload.rows_done,
            "percent": upload.percent,
            "created": upload.created_count,
            "duplicates": upload.duplicate_count,
            "updated": upload.updated_count,
            "errors": upload.error_count,
            "finished": upload.is_finished,
        }
    )


@require_GET
@advertiser_view
def upload_errors_csv(request, pk: int):
    upload = _upload(request, pk)
    rows = upload.row_errors.values_list("row", "column", "value", "external_id", "reason")
    return csv_download(f"upload-{upload.pk}-errors.csv", ["row", "column", "value", "external_id", "reason"], rows)


@require_GET
@advertiser_view
def upload_reconciliation_csv(request, pk: int):
    upload = _upload(request, pk)
    if upload.kind != ConversionUpload.Kind.RECONCILIATION or upload.status != ConversionUpload.Status.DONE:
        raise Http404("No reconciliation result.")
    header = [
        "external_id",
        "result",
        "their_amount",
        "our_amount",
        "difference",
        "currency",
        "our_status",
        "offer",
        "occurred_at",
    ]
    rows = (
        [
            line.external_id,
            line.result,
            line.their_amount,
            line.our_amount,
            line.difference,
            line.currency,
            line.our_status,
            line.offer,
            line.occurred_at.isoformat() if line.occurred_at else "",
        ]
        for line in reconciliation_lines(upload)
    )
    return csv_download(f"reconciliation-{upload.billing_month:%Y-%m}-{upload.pk}.csv", header, rows)
