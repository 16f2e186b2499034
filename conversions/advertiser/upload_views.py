"""The advertiser's CSV uploads: the form and list, an upload's page, progress and downloads, and each kind's
template. Every view reads through `request.advertiser`, so another advertiser's ids answer 404."""

from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect

from conversions.advertiser import forms, selectors
from conversions.advertiser.views import _page, advertiser_page, advertiser_view
from conversions.models import ConversionUpload
from conversions.uploads.csv_files import CsvFileInvalid, csv_download
from conversions.uploads.reconciliation import reconciliation_lines
from conversions.uploads.rows import ADJUSTMENT_COLUMNS, CONVERSION_COLUMNS
from conversions.uploads.services import upload_create
from referrals.models import Offer


@advertiser_view("GET")
def offer_template(request, public_id: str):
    offer = get_object_or_404(Offer, advertiser=request.advertiser, public_id=public_id)
    # An example row by column name, so that it follows CONVERSION_COLUMNS whatever their order; then a meta column.
    example = {
        "click_id": "3f2a9c0d5e6b7a8c9d0e1f2a3b4c5d6e",
        "external_id": "order-1001",
        "type": "purchase",
        "amount": "120.00",
        "currency": offer.currency,
        "occurred_at": "2025-03-31T14:05:00+00:00",
        "product_id": "sku-1",
        "category": "shoes",
        "quantity": "1",
        "source": "web",
        "meta_coupon": "SPRING10",
    }
    header = [*CONVERSION_COLUMNS, "meta_coupon"]
    row = [example.get(name, "") for name in header]
    return csv_download(f"{offer.public_id}-conversions-template.csv", header, [row])


@advertiser_view("GET")
def adjustments_template(request):
    rows = [["order-1001", "approved", "", ""], ["order-1002", "rejected", "Order returned within 14 days", ""]]
    return csv_download("adjustments-template.csv", ADJUSTMENT_COLUMNS, rows)


@advertiser_view("GET")
def reconciliation_template(request):
    return csv_download("reconciliation-template.csv", ["external_id", "amount"], [["order-1001", "120.00"]])


@advertiser_view("GET", "POST")
def uploads(request):
    advertiser = request.advertiser
    initial = {"kind": request.GET.get("kind", ConversionUpload.Kind.CONVERSIONS)}
    if request.GET.get("offer"):
        initial["offer"] = Offer.objects.filter(advertiser=advertiser, public_id=request.GET["offer"]).first()
    form = forms.UploadForm(request.POST or None, request.FILES or None, advertiser=advertiser, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        fields = {name: data[name] for name in ("kind", "offer", "billing_month")}
        try:
            upload = upload_create(
                advertiser=advertiser, user=request.user, name=data["file"].name, raw=data["file"].read(), **fields
            )
        except CsvFileInvalid as error:
            form.add_error("file", error.message)
        else:
            return redirect("advertiser:upload", pk=upload.pk)
    return advertiser_page(request, "uploads", form=form, page=_page(request, selectors.uploads_of(advertiser), 25))


def _upload(request, pk: int) -> ConversionUpload:
    return get_object_or_404(selectors.uploads_of(request.advertiser), pk=pk)


def _reconciled(upload: ConversionUpload) -> bool:
    return upload.kind == ConversionUpload.Kind.RECONCILIATION and upload.status == ConversionUpload.Status.DONE


@advertiser_view("GET")
def upload_detail(request, pk: int):
    upload = _upload(request, pk)
    differences = None
    if _reconciled(upload):
        differences = [line for line in reconciliation_lines(upload) if line.result != "matched"][:200]
    return advertiser_page(request, "upload_detail", upload=upload, differences=differences)


@advertiser_view("GET")
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


@advertiser_view("GET")
def upload_errors_csv(request, pk: int):
    upload = _upload(request, pk)
    header = ["row", "column", "value", "external_id", "reason"]
    return csv_download(f"upload-{upload.pk}-errors.csv", header, upload.row_errors.values_list(*header))


@advertiser_view("GET")
def upload_reconciliation_csv(request, pk: int):
    upload = _upload(request, pk)
    if not _reconciled(upload):
        raise Http404("No reconciliation result.")
    header = "external_id result their_amount our_amount difference currency our_status offer occurred_at".split()
    rows = (
        [*(getattr(line, name) for name in header[:-1]), line.occurred_at.isoformat() if line.occurred_at else ""]
        for line in reconciliation_lines(upload)
    )
    return csv_download(f"reconciliation-{upload.billing_month:%Y-%m}-{upload.pk}.csv", header, rows)
