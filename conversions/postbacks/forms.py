"""The publisher's postback form."""

from django import forms

from conversions.models import PartnerPostback
from conversions.postbacks.services import PostbackRefused, PostbackUnresolved, url_checked


class PostbackForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https", label="URL", widget=forms.URLInput(attrs={"size": 60}))

    class Meta:
        model = PartnerPostback
        fields = ["url", "on_created", "on_status_changed"]
        labels = {
            "on_created": "Send when a conversion is created",
            "on_status_changed": "Send when a conversion's status changes",
        }

    def clean_url(self):
        """Refused on save where every delivery would be (a loopback or private address), not first when tested."""
        url = self.cleaned_data["url"]
        try:
            url_checked(url)
        except PostbackUnresolved:
            pass  # not resolvable now; each delivery checks again
        except PostbackRefused as refused:
            raise forms.ValidationError(f"Postbacks to this address are refused: {refused}.") from None
        return url

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("on_created") and not cleaned.get("on_status_changed"):
            raise forms.ValidationError("Choose at least one event.")
        return cleaned
