"""The advertiser's CSV uploads: the form and list, an upload's page, progress and downloads, and each kind's
template. Every view reads through `request.advertiser`, so another advertiser's ids answer 404."""

from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect

from conversions.advertiser import forms, selectors
from conversions.advertiser.views import _page, advertiser_page, advertiser_view
from conversions.models import ConversionUpload
from conversions.uploads.columns import FILE_COLUMNS, template_rows
from conversions.uploads.csv_files import CsvFileInvalid, csv_download
from conversions.uploads.progress import upload_progress_of, uploads_with_progress
from conversions.uploads.reconciliation import reconciliation_lines
from conversions.uploads.services import upload_create
from referrals.models import Offer


@advertiser_view("GET")
def offer_template(request, public_id: str):
    offer = get_object_or_404(Offer, advertiser=request.advertiser, public_id=public_id)
    header, rows = template_rows(ConversionUpload.Kind.CONVERSIONS)
    return csv_download(f"{offer.public_id}-conversions-template.csv", header, rows)


@advertiser_view("GET")
def adjustments_template(request):
    return csv_download("adjustments-template.csv", *template_rows(ConversionUpload.Kind.ADJUSTMENTS))


@advertiser_view("GET")
def reconciliation_template(request):
    return csv_download("reconciliation-template.csv", *template_rows(ConversionUpload.Kind.RECONCILIATION))


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
    page = _page(request, selectors.uploads_of(advertiser), 25)
    page.object_list = uploads_with_progress(page.object_list)
    return advertiser_page(request, "uploads", form=form, page=page, file_columns=FILE_COLUMNS)


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
    return advertiser_page(
        request, "upload_detail", upload=upload, progress=upload_progress_of(upload), differences=differences
    )


@advertiser_view("GET")
def upload_progress(request, pk: int):
    return JsonResponse(upload_progress_of(_upload(request, pk)).as_json())


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
