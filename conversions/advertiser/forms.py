from django import forms
from django.conf import settings

from conversions.models import Conversion, ConversionUpload, RequestLogEntry
from conversions.reports.forms import TIME_ZONE_CHOICES, PeriodForm
from referrals.models import Advertiser, Offer


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


class AdvertiserOffersForm(forms.Form):
    """A form whose offer choice lists only the advertiser's own offers: another's id fails validation."""

    def __init__(self, *args, advertiser, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["offer"].queryset = Offer.objects.filter(advertiser=advertiser)


class UploadForm(AdvertiserOffersForm):
    kind = forms.ChoiceField(choices=ConversionUpload.Kind.choices, label="What the file holds")
    offer = forms.ModelChoiceField(
        queryset=Offer.objects.none(),
        required=False,
        help_text="New conversions go to this offer. For a reconciliation, blank compares all your offers.",
    )
    billing_month = forms.DateField(  # a month's first day; upload_create makes any day the first
        required=False,
        input_formats=["%Y-%m", "%Y-%m-%d"],
        label="Billing month (reconciliation only)",
        widget=forms.DateInput(attrs={"type": "month", "placeholder": "2025-03"}),
        error_messages={"invalid": "Give the month as YYYY-MM."},
    )
    file = forms.FileField(label="CSV file")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["offer"].queryset = self.fields["offer"].queryset.order_by("-track_type", "name")
        self.fields["file"].help_text = f"At most {_megabytes(settings.CSV_UPLOAD_MAX_BYTES)}."

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.CSV_UPLOAD_MAX_BYTES:
            raise forms.ValidationError(
                f"The file is {_megabytes(upload.size)}; the limit is {_megabytes(settings.CSV_UPLOAD_MAX_BYTES)}. "
                "Split it into smaller files."
            )
        return upload

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind == ConversionUpload.Kind.CONVERSIONS and not data.get("offer"):
            self.add_error("offer", "Choose the offer these conversions belong to.")
        if kind == ConversionUpload.Kind.RECONCILIATION and not data.get("billing_month"):
            self.add_error("billing_month", "Choose the billing month to compare.")
        return data


class ValidationFilterForm(AdvertiserOffersForm):
    offer = forms.ModelChoiceField(queryset=Offer.objects.none(), required=False, empty_label="All offers")
    status = forms.ChoiceField(choices=[("", "Any status"), *Conversion.Status.choices], required=False)
    type = forms.ChoiceField(choices=[("", "Any type"), *Conversion.Type.choices], required=False)
    q = forms.CharField(required=False, label="External id", max_length=128)
    created_from = forms.DateField(required=False, label="Created from", widget=forms.DateInput(attrs={"type": "date"}))
    created_to = forms.DateField(required=False, label="Created to", widget=forms.DateInput(attrs={"type": "date"}))


class ValidationActionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    reason = forms.CharField(required=False, max_length=500, label="Reason (the publisher sees it; required to reject)")
    # "all": every conversion the filters match, on every page (the server reads the filters, not the ids).
    scope = forms.ChoiceField(choices=[("selected", "selected"), ("all", "all matching")], required=False)
    # The count the user confirmed: applied only while the filters still match exactly that many.
    count = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        if data.get("decision") == "reject" and not data.get("reason"):
            self.add_error("reason", "Say why you reject: the publisher is told.")
        return data


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, label="Key name", help_text="Where the key is used, e.g. “shop backend”.")


class PostbackBuilderForm(AdvertiserOffersForm):
    offer = forms.ModelChoiceField(queryset=Offer.objects.none(), required=False, empty_label="By click id (any offer)")
    type = forms.ChoiceField(choices=Conversion.Type.choices, initial=Conversion.Type.PURCHASE, required=False)
    click_id_macro = forms.CharField(
        max_length=64, initial="{click_id}", required=False, label="Your platform's click id macro"
    )
    external_id_macro = forms.CharField(
        max_length=64, initial="{order_id}", required=False, label="Your order id macro"
    )
    amount_macro = forms.CharField(max_length=64, initial="{amount}", required=False, label="Your amount macro")
    currency = forms.CharField(max_length=3, required=False, label="Currency (blank: the offer's)")


class RequestLogFilterForm(forms.Form):
    reason = forms.ChoiceField(choices=[("", "Any reason"), *RequestLogEntry.Reason.choices], required=False)
    channel = forms.ChoiceField(
        choices=[("", "Any channel"), ("api", "API"), ("postback", "Postback"), ("pixel", "Pixel")], required=False
    )


class ClaimDeclineForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        label="Reason (the partner sees it)",
        error_messages={"required": "Say why you decline the claim: the partner is told."},
    )


class AdvertiserPeriodForm(PeriodForm):
    """The publisher's period form (the same presets and limits), its days in the advertiser's time zone."""

    def __init__(self, data=None, *args, advertiser: Advertiser, **kwargs):
        # The form reads only the time zone of whom it reports for, and an advertiser has one as a partner does.
        super().__init__(data, *args, partner=advertiser, **kwargs)


class AdvertiserSettingsForm(forms.ModelForm):
    time_zone = forms.ChoiceField(
        choices=TIME_ZONE_CHOICES,
        help_text="Your pages show times in this zone, and reports' days follow it; "
        "dates without an offset in your CSV files are read in it too.",
    )

    class Meta:
        model = Advertiser
        fields = ["time_zone"]
