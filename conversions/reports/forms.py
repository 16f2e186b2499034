"""Forms of the publisher dashboard. They parse and validate; services and selectors do the rest."""

import zoneinfo

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.utils import timezone

from conversions.models import Conversion
from conversions.reports.performance import GROUPINGS
from conversions.reports.periods import MAX_PERIOD_DAYS, PRESETS, Period, period_for_preset
from conversions.reports.selectors import DEFAULT_SORT, SORTS, ConversionFilters
from referrals.models import Offer, Partner
from referrals.partner_access import partner_offers, partner_today, partner_tz
from referrals.services import SUB_IDS, deep_link_allowed


class PeriodForm(forms.Form):
    """A preset or a custom range of local days."""

    preset = forms.ChoiceField(choices=list(PRESETS.items()), required=False, initial="last_7", label="Period")
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="From")
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="To")

    def __init__(self, data=None, *args, partner: Partner, **kwargs):
        today, tz = partner_today(partner, timezone.now()), partner_tz(partner)
        if data is not None:
            data = data.copy()
            if not data.get("preset"):
                # A link that names no period (a sorted column, a page) shows the period it applies, not the first.
                data["preset"] = "custom" if data.get("start") else "last_7"
            if data["preset"] == "custom" and data.get("start") and not data.get("end"):
                data["end"] = data["start"]  # a custom period of one day, as clean() reads it
            elif data["preset"] in PRESETS and data["preset"] != "custom":
                # A preset fills the date inputs with its days: what the form shows is what the rows cover.
                period = period_for_preset(data["preset"], today=today, tz=tz)
                data["start"], data["end"] = period.start.isoformat(), period.end.isoformat()
        else:
            period = period_for_preset("last_7", today=today, tz=tz)
            kwargs["initial"] = {"start": period.start, "end": period.end, **kwargs.get("initial", {})}
        super().__init__(data, *args, **kwargs)
        self.partner, self.today, self.tz = partner, today, tz
        if data is not None and data["preset"] not in PRESETS:
            # A select cannot show an unknown value and would show its first option: "Today", not what is applied.
            self.fields["preset"].choices = [("", "Choose a period"), *PRESETS.items()]
        if "offer" in self.fields:  # a report's offers are the partner's own
            self.fields["offer"].queryset = partner_offers(partner)

    def preset_days(self) -> dict[str, list[str]]:
        """Each preset's first and last day, for the page's script to fill the date inputs as a preset is chosen."""
        days = {}
        for preset in PRESETS:
            if preset != "custom":
                period = period_for_preset(preset, today=self.today, tz=self.tz)
                days[preset] = [period.start.isoformat(), period.end.isoformat()]
        return days

    def clean(self):
        cleaned = super().clean()
        preset = cleaned.get("preset") or ("custom" if cleaned.get("start") else "last_7")
        if preset == "custom":
            start, end = cleaned.get("start"), cleaned.get("end") or cleaned.get("start")
            if not start:
                raise forms.ValidationError("Choose the first day of a custom period.")
            if end < start:
                raise forms.ValidationError("The last day comes before the first.")
            if (end - start).days >= MAX_PERIOD_DAYS:
                raise forms.ValidationError(f"A period is at most {MAX_PERIOD_DAYS} days.")
            cleaned["period"] = Period(start, end, self.tz)
        else:
            cleaned["period"] = period_for_preset(preset, today=self.today, tz=self.tz)
        cleaned["preset"] = preset
        return cleaned

    def period(self) -> Period:
        """The chosen period, or the default when the input is invalid."""
        if self.is_valid():
            return self.cleaned_data["period"]
        return period_for_preset("last_7", today=self.today, tz=self.tz)


class SubIdsForm(forms.Form):
    sub1 = forms.CharField(required=False, max_length=255, label="Sub ID 1")
    sub2 = forms.CharField(required=False, max_length=255, label="Sub ID 2")
    sub3 = forms.CharField(required=False, max_length=255, label="Sub ID 3")
    sub4 = forms.CharField(required=False, max_length=255, label="Sub ID 4")
    sub5 = forms.CharField(required=False, max_length=255, label="Sub ID 5")


class ConversionReportForm(PeriodForm, SubIdsForm):
    offer = forms.ModelChoiceField(queryset=Offer.objects.none(), required=False, empty_label="All offers")
    status = forms.ChoiceField(
        choices=[("", "All statuses"), *Conversion.Status.choices], required=False, label="Conversion status"
    )
    type = forms.ChoiceField(choices=[("", "All types"), *Conversion.Type.choices], required=False)
    q = forms.CharField(required=False, max_length=128, label="Conversion or external id")
    FILTERS = ("offer", "status", "type", *SUB_IDS, "q")  # the filters besides the period, in the form's order
    # Free text, so that an old link's unknown column still shows rows: it falls back to newest first.
    sort = forms.CharField(required=False, max_length=32)

    def clean_sort(self) -> str:
        sort = self.cleaned_data.get("sort") or ""
        return sort if sort.lstrip("-") in SORTS else DEFAULT_SORT

    def filters(self) -> ConversionFilters:
        """The one state of the report: period, filters and sort. Invalid input matches nothing: rows under a form
        that looks applied are the rows it asks for, never the unfiltered ones."""
        if not self.is_bound:
            return ConversionFilters(period=self.period())
        if not self.is_valid():
            return ConversionFilters(period=self.period(), matches_nothing=True)
        data = self.cleaned_data
        return ConversionFilters(
            period=data["period"],
            offer=data["offer"],
            status=data["status"],
            type=data["type"],
            subs={name: data[name] for name in SUB_IDS},
            search=data["q"],
            sort=data["sort"],
        )

    def errors_in_words(self) -> list[str]:
        """Each error, named by its field's label: the page says why it shows no rows."""
        return [
            (f"{self[name].label}: " if name != NON_FIELD_ERRORS else "") + " ".join(errors)
            for name, errors in self.errors.items()
        ]

    def applied(self) -> list[str]:
        """The filters in force besides the period, in words, for the summary of the collapsed filters."""
        if not self.is_bound or not self.is_valid():
            return []
        data = self.cleaned_data
        return [f"{self[name].label}: {data[name]}" for name in self.FILTERS if data[name]]


class PerformanceForm(PeriodForm):
    group_by = forms.ChoiceField(choices=list(GROUPINGS.items()), required=False, label="Group by")
    offer = forms.ModelChoiceField(queryset=Offer.objects.none(), required=False, empty_label="All offers")


TIME_ZONE_CHOICES = [(name, name) for name in sorted(zoneinfo.available_timezones()) if "/" in name or name == "UTC"]


class ProfileForm(forms.ModelForm):
    time_zone = forms.ChoiceField(choices=TIME_ZONE_CHOICES, help_text="Your reports' days follow this time zone.")

    class Meta:
        model = Partner
        fields = ["time_zone", "payout_method", "payout_details"]
        widgets = {"payout_details": forms.Textarea(attrs={"rows": 3})}


class LinkBuilderForm(SubIdsForm):
    url = forms.URLField(
        required=False, max_length=2000, assume_scheme="https", label="Deep link (a page on the offer's site)"
    )

    def __init__(self, *args, offer: Offer, **kwargs):
        super().__init__(*args, **kwargs)
        self.offer = offer
        if not offer.deep_link_hosts.strip():
            del self.fields["url"]

    def clean_url(self) -> str:
        url = self.cleaned_data.get("url", "")
        if url and not deep_link_allowed(offer=self.offer, url=url):
            hosts = (host.strip() for host in self.offer.deep_link_hosts.replace(",", "\n").splitlines())
            raise forms.ValidationError("This offer allows deep links only to: " + ", ".join(filter(None, hosts)))
        return url


class JoinOfferForm(forms.Form):
    message = forms.CharField(
        required=False, max_length=500, label="About your traffic (optional)", widget=forms.Textarea(attrs={"rows": 2})
    )
