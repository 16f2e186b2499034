import copy

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from conversions.intake.request_log import REQUEST_FIELDS
from conversions.intake.validation import (
    QUANTITY_MAX,
    FieldInvalid,
    amount_validate,
    currency_validate,
    meta_validate,
    report_fields_check,
)
from conversions.models import Conversion, RequestLogEntry
from core.input_limits import StrictDateTimeField, meta_depth_check
from core.money import money_quantize
from referrals.models import Click
from referrals.services import SUB_IDS
from rewards.selectors import reward_for_conversion


def _field_rule(rule):
    """A rule of conversions/intake/validation.py (shared with the CSV importer) as a DRF field check."""

    def check(self, value):
        try:
            return rule(value)
        except FieldInvalid as error:
            raise serializers.ValidationError(str(error)) from None

    return check


@extend_schema_field(
    {"oneOf": [{"type": "string", "format": "decimal"}, {"type": "number", "minimum": 0}], "example": "120.00"}
)
class AmountField(serializers.Field):
    """A decimal string or JSON number, >= 0, kept as a Decimal (never a float)."""

    to_internal_value = _field_rule(amount_validate)

    def to_representation(self, value):
        return str(value)


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": True,
        "description": "Your own keys and values: a JSON object of at most 10 KB, nested at most 8 deep.",
    }
)
class MetaField(serializers.JSONField):
    """`meta`: a JSON object. Plain JSONField would be documented as any value, null included, which we refuse."""


class ConvertInputSerializer(serializers.Serializer):
    """The body of `POST /v1/convert` (and the postback's parameters)."""

    type = serializers.ChoiceField(choices=Conversion.Type.choices)
    external_id = serializers.CharField(max_length=128)
    click_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    referral_code = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    coupon = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    offer = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    occurred_at = StrictDateTimeField(required=False, allow_null=True, default=None)
    amount = AmountField()
    currency = serializers.CharField(max_length=3, required=False, allow_blank=True, default="")
    product_id = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    category = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    quantity = serializers.IntegerField(min_value=1, max_value=QUANTITY_MAX, required=False, default=1)
    plan = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    subscription_id = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    source = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    user_agent = serializers.CharField(
        max_length=1000, required=False, allow_blank=True, default="", help_text="The visitor's user agent."
    )
    ip = serializers.IPAddressField(
        required=False, allow_null=True, default=None, help_text="The visitor's IP, when a server reports."
    )
    meta = MetaField(required=False, default=dict)

    def get_fields(self):
        # Shallow copies of the declared fields: nothing changes a field per instance here, and DRF's
        # deep copy of all nineteen was three quarters of validating a report (W2, docs/performance.md).
        return {name: copy.copy(field) for name, field in self._declared_fields.items()}

    validate_currency = _field_rule(currency_validate)
    validate_meta = _field_rule(lambda value: meta_validate(meta_depth_check(value)))

    def validate(self, attrs):
        if errors := report_fields_check(attrs):
            raise serializers.ValidationError(errors)
        return attrs


class ConversionRewardSerializer(serializers.Serializer):
    """What the conversion earned (amount null when nothing), and why."""

    amount = serializers.CharField(allow_null=True, help_text="A decimal string in the reward's currency.")
    currency = serializers.CharField(allow_null=True)
    status = serializers.CharField(allow_null=True, help_text="pending, approved, paid or reversed.")
    explanation = serializers.JSONField(help_text="The rules considered and why, the inputs, the rate, the caps.")


# DRF's own date-time rendering (ISO 8601, current time zone, "Z" for UTC), used unbound.
_DATETIME = serializers.DateTimeField()
_DATETIMES = ("occurred_at", "created_at", "processed_at")


class ConversionSerializer(serializers.ModelSerializer):
    offer = serializers.SlugRelatedField(slug_field="public_id", read_only=True)
    click_id = serializers.SerializerMethodField()
    amount = serializers.SerializerMethodField(help_text="A decimal string in the currency's minor unit.")
    reward = serializers.SerializerMethodField()

    class Meta:
        model = Conversion
        fields = (
            "id status status_reason status_remark external_id offer type amount currency click_id product_id category"
            " quantity plan subscription_id source meta attribution channel occurred_at created_at processed_at reward"
        ).split()
        read_only_fields = fields

    def to_representation(self, conversion):
        # The fields above, written out: DRF's field-by-field path (copying and binding ~25 fields per instance)
        # cost more than the rest of `POST /v1/convert` (docs/performance.md, W2). The OpenAPI schema still
        # comes from the fields; tests/conversions/test_convert_api.py checks both agree.
        values = {
            "id": str(conversion.pk),
            "offer": conversion.offer.public_id,
            "amount": self.get_amount(conversion),
            "click_id": self.get_click_id(conversion),
            "quantity": int(conversion.quantity),
            "reward": self.get_reward(conversion),
            **{name: _DATETIME.to_representation(getattr(conversion, name)) for name in _DATETIMES},
        }
        return {name: values[name] if name in values else getattr(conversion, name) for name in self.Meta.fields}

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
        # The click is None (read with select_related) when retention has dropped its month.
        return conversion.click.click_id if conversion.click_id and conversion.click else None


class PartnerConversionSerializer(ConversionSerializer):
    """What a partner sees of a conversion: not the advertiser's own `meta`."""

    class Meta(ConversionSerializer.Meta):
        fields = [name for name in ConversionSerializer.Meta.fields if name != "meta"]
        read_only_fields = fields


class ClickSerializer(serializers.ModelSerializer):
    offer = serializers.SlugRelatedField(slug_field="public_id", read_only=True)

    class Meta:
        model = Click
        fields = [
            "click_id",
            "offer",
            "created_at",
            *SUB_IDS,
            "country",
            "device",
            "browser",
            "os",
            "is_unique",
            "is_bot",
        ]
        read_only_fields = fields


class StatusUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=[Conversion.Status.ACCEPTED, Conversion.Status.REJECTED])
    reason = serializers.SlugField(max_length=64, required=False, default="rejected_by_advertiser")
    remark = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        if attrs["status"] == Conversion.Status.REJECTED and not attrs["remark"].strip():
            raise serializers.ValidationError({"remark": ["Say why: the publisher sees this remark."]})
        return attrs


# What the OpenAPI schema says of a status update: one shape per status, so that a rejection's remark is
# required there as it is here (StatusUpdateSerializer stays the one that validates).
class StatusAcceptSerializer(StatusUpdateSerializer):
    status = serializers.ChoiceField(choices=[Conversion.Status.ACCEPTED])
    reason = None


class StatusRejectSerializer(StatusUpdateSerializer):
    status = serializers.ChoiceField(choices=[Conversion.Status.REJECTED])
    remark = serializers.RegexField(r"\S", max_length=500, help_text="Why: the publisher sees it.")


STATUS_UPDATE_SCHEMA = PolymorphicProxySerializer(
    component_name="StatusUpdate",
    serializers={"accepted": StatusAcceptSerializer, "rejected": StatusRejectSerializer},
    resource_type_field_name="status",
    many=False,
)


class RequestLogEntrySerializer(serializers.ModelSerializer):
    conversion_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = RequestLogEntry
        fields = ["id", "created_at", *REQUEST_FIELDS, "payload", "ip", "conversion_id", "replayed_at", "replay_result"]
        read_only_fields = fields
