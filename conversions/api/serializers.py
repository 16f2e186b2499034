import json

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from conversions.ingestion import ConversionReport
from conversions.models import Conversion
from referrals.money import MAX_AMOUNT, MoneyError, currency_is_known, decimal_parse, money_quantize
from rewards.selectors import reward_for_conversion

META_MAX_BYTES = 10 * 1024


class AmountField(serializers.Field):
    """A decimal string or JSON number, >= 0, kept as a Decimal (never a float)."""

    def to_internal_value(self, data):
        try:
            amount = decimal_parse(data)
        except MoneyError as error:
            raise serializers.ValidationError(str(error)) from None
        if amount < 0:
            raise serializers.ValidationError("Must be zero or more.")
        if amount >= MAX_AMOUNT:
            raise serializers.ValidationError("Is too large.")
        return amount

    def to_representation(self, value):
        return str(value)


class ConvertInputSerializer(serializers.Serializer):
    """The body of `POST /v1/convert` (and the postback's parameters)."""

    type = serializers.ChoiceField(choices=Conversion.Type.choices)
    external_id = serializers.CharField(max_length=128)
    click_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    referral_code = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    offer = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    occurred_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    amount = AmountField()
    currency = serializers.CharField(max_length=3, required=False, allow_blank=True, default="")
    product_id = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    category = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False, default=1)
    plan = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    subscription_id = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    source = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    user_agent = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
    meta = serializers.JSONField(required=False, default=dict)

    def validate_currency(self, value: str) -> str:
        value = value.strip().upper()
        if value and not currency_is_known(value):
            raise serializers.ValidationError("Not an ISO 4217 currency we know.")
        return value

    def validate_meta(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        if len(json.dumps(value, separators=(",", ":")).encode()) > META_MAX_BYTES:
            raise serializers.ValidationError("Must be at most 10 KB.")
        return value

    def validate(self, attrs):
        if attrs["type"] == Conversion.Type.PURCHASE and not attrs.get("product_id"):
            raise serializers.ValidationError({"product_id": ["Required for a purchase."]})
        if not attrs.get("click_id") and not attrs.get("referral_code"):
            raise serializers.ValidationError({"click_id": ["Send click_id, or referral_code with offer."]})
        if attrs.get("referral_code") and not attrs.get("offer"):
            raise serializers.ValidationError({"offer": ["Required with referral_code."]})
        return attrs

    def report(self) -> ConversionReport:
        return ConversionReport(**self.validated_data)


class ConversionRewardSerializer(serializers.Serializer):
    """What the conversion earned (amount null when nothing), and why."""

    amount = serializers.CharField(allow_null=True, help_text="A decimal string in the reward's currency.")
    currency = serializers.CharField(allow_null=True)
    status = serializers.CharField(allow_null=True, help_text="pending, approved, paid or reversed.")
    explanation = serializers.JSONField(help_text="The rules considered and why, the inputs, the rate, the caps.")


class ConversionSerializer(serializers.ModelSerializer):
    offer = serializers.SlugRelatedField(slug_field="public_id", read_only=True)
    click_id = serializers.SerializerMethodField()
    amount = serializers.SerializerMethodField(help_text="A decimal string in the currency's minor unit.")
    reward = serializers.SerializerMethodField()

    class Meta:
        model = Conversion
        fields = [
            "id",
            "status",
            "status_reason",
            "status_remark",
            "external_id",
            "offer",
            "type",
            "amount",
            "currency",
            "click_id",
            "product_id",
            "category",
            "quantity",
            "plan",
            "subscription_id",
            "source",
            "meta",
            "attribution",
            "channel",
            "occurred_at",
            "created_at",
            "processed_at",
            "reward",
        ]
        read_only_fields = fields

    def get_amount(self, conversion) -> str:
        return str(money_quantize(conversion.amount, conversion.currency))

    @extend_schema_field(ConversionRewardSerializer(allow_null=True))
    def get_reward(self, conversion) -> dict | None:
        # A list view passes `rewards_by_conversion` (rewards.selectors) in the context: one query, not one per row.
        rewards = self.context.get("rewards_by_conversion")
        reward = rewards.get(conversion.pk) if rewards is not None else reward_for_conversion(conversion.pk)
        if reward is None:
            if not conversion.reward_explanation:
                return None
            return {"amount": None, "currency": None, "status": None, "explanation": conversion.reward_explanation}
        return {
            "amount": str(money_quantize(reward.amount, reward.currency)),
            "currency": reward.currency,
            "status": reward.status,
            "explanation": reward.explanation,
        }

    def get_click_id(self, conversion) -> str | None:
        return conversion.click.click_id if conversion.click_id else None
