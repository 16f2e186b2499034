"""Staff upload CSVs on behalf of an advertiser, with the advertisers' own importer."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from conversions.models import ConversionUpload
from conversions.uploads.csv_files import CsvFileInvalid, csv_download
from conversions.uploads.services import upload_create, upload_file_check, upload_requeue
from referrals.admin_read_only import NoDelete


class UploadAddForm(forms.ModelForm):
    upload_file = forms.FileField(label="CSV file")

    class Meta:
        model = ConversionUpload
        fields = ["advertiser", "kind", "offer", "billing_month"]

    def clean(self):
        data = super().clean()
        upload = data.get("upload_file")
        kind, offer, advertiser = data.get("kind"), data.get("offer"), data.get("advertiser")
        if offer and advertiser and offer.advertiser_id != advertiser.pk:
            self.add_error("offer", "This offer belongs to another advertiser.")
        if kind == ConversionUpload.Kind.CONVERSIONS and not offer:
            self.add_error("offer", "New conversions need the offer they belong to.")
        if kind == ConversionUpload.Kind.RECONCILIATION and not data.get("billing_month"):
            self.add_error("billing_month", "A reconciliation needs its billing month.")
        if upload is not None and kind:
            if upload.size > settings.CSV_UPLOAD_MAX_BYTES:
                self.add_error("upload_file", f"The file is larger than {settings.CSV_UPLOAD_MAX_BYTES} bytes.")
                return data
            raw = upload.read()
            try:
                upload_file_check(raw, kind)
            except CsvFileInvalid as error:
                self.add_error("upload_file", error.message)
            data["raw"] = raw
        return data


# How far an import got and what it did, as the list shows it.
_PROGRESS = ["rows_total", "rows_done", "created_count", "duplicate_count", "updated_count", "error_count"]


@admin.register(ConversionUpload)
class ConversionUploadAdmin(NoDelete, admin.ModelAdmin):  # the record of what a file did stays
    list_display = ["id", "original_name", "advertiser", "kind", "offer", "status", *_PROGRESS, "created_at"]
    list_filter = ["status", "kind", "advertiser"]
    search_fields = ["original_name", "sha256", "advertiser__name"]
    list_select_related = ["advertiser", "offer"]
    raw_id_fields = ["offer", "identical_to"]
    actions = ["requeue"]
    # Once uploaded all is read-only: the add form's fields first, then every other stored field but the file.
    readonly_fields = [
        *UploadAddForm.Meta.fields,
        *(f.name for f in ConversionUpload._meta.fields if f.name not in {"id", "file", *UploadAddForm.Meta.fields}),
        "first_errors",
    ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = UploadAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    def get_fields(self, request, obj=None):
        return self.readonly_fields if obj else [*UploadAddForm.Meta.fields, "upload_file"]

    def save_model(self, request, obj, form, change):
        if change:
            return
        data = form.cleaned_data
        fields = {name: data.get(name) for name in UploadAddForm.Meta.fields}
        created = upload_create(**fields, name=data["upload_file"].name, raw=data["raw"], user=request.user)
        obj.__dict__.update(created.__dict__)
        messages.info(request, f"Upload #{created.pk} is queued for import ({created.rows_total} rows).")

    @admin.display(description="Errors (first 50)")
    def first_errors(self, obj):
        if not obj.error_count:
            return "none"
        errors = ((error.row, error.column or "row", error.reason) for error in obj.row_errors.all()[:50])
        rows = format_html_join("", "<li>row {}, {}: {}</li>", errors)
        url = reverse("admin:conversions_conversionupload_errors", args=[obj.pk])
        return format_html('<ul>{}</ul><a href="{}">Download all errors (CSV)</a>', rows, url)

    @admin.action(description="Run the import again (resumes where it stopped)")
    def requeue(self, request, queryset):
        count = sum(upload_requeue(upload=upload) for upload in queryset)
        self.message_user(request, f"{count} upload(s) queued again; finished ones were left alone.")

    def get_urls(self):
        view = self.admin_site.admin_view(self.errors_csv)
        return [path("<int:pk>/errors.csv", view, name="conversions_conversionupload_errors"), *super().get_urls()]

    def errors_csv(self, request, pk: int) -> HttpResponse:
        upload = get_object_or_404(ConversionUpload, pk=pk)
        columns = ["row", "column", "value", "external_id", "reason"]
        return csv_download(f"upload-{upload.pk}-errors.csv", columns, upload.row_errors.values_list(*columns))
