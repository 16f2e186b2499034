"""The publisher's missing-conversion claim form."""

from django import forms
from django.conf import settings

from conversions.models import MissingConversionClaim
from referrals.models import Partner
from referrals.partner_access import partner_offers


class ClaimForm(forms.ModelForm):
    amount = forms.DecimalField(min_value=0, max_digits=18, decimal_places=4)

    class Meta:
        model = MissingConversionClaim
        fields = ["offer", "order_id", "purchase_date", "amount", "sub1", "remarks"]
        labels = {"order_id": "Order id", "sub1": "Sub ID 1"}
        widgets = {
            "purchase_date": forms.DateInput(attrs={"type": "date"}),
            "remarks": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, partner: Partner, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["offer"].queryset = partner_offers(partner)
        self.fields["purchase_date"].help_text = f"Within the last {settings.CLAIM_MAX_AGE_DAYS} days."
