"""The rules of a reported conversion's fields, for the API serializer and the CSV importer alike."""

import json
from decimal import Decimal

from conversions.models import Conversion
from core.money import MAX_AMOUNT, MoneyError, currency_is_known, decimal_parse
from core.postgres_text import contains_nul

META_MAX_BYTES = 10 * 1024
QUANTITY_MAX = 1_000_000

# Longest accepted text per field (the columns are at least this long).
TEXT_MAX_LENGTHS = {
    "external_id": 128,
    "click_id": 64,
    "referral_code": 32,
    "coupon": 64,
    "offer": 64,
    "currency": 3,
    **dict.fromkeys(("product_id", "category", "plan", "subscription_id", "source"), 128),
    "user_agent": 1000,
}


class FieldInvalid(ValueError):
    """One field's value breaks a rule; the message is the user's."""


def amount_validate(value) -> Decimal:
    """A decimal string or number, >= 0 and below MAX_AMOUNT, as a Decimal (never a float)."""
    try:
        amount = decimal_parse(value)
    except MoneyError as error:
        raise FieldInvalid(str(error)) from None
    if amount < 0:
        raise FieldInvalid("Must be zero or more.")
    if amount >= MAX_AMOUNT:
        raise FieldInvalid("Is too large.")
    return amount


def currency_validate(value: str) -> str:
    """An ISO 4217 code we know, upper-cased; blank means the offer's currency."""
    value = value.strip().upper()
    if value and not currency_is_known(value):
        raise FieldInvalid("Not an ISO 4217 currency we know.")
    return value


def meta_validate(value) -> dict:
    if not isinstance(value, dict):
        raise FieldInvalid("Must be a JSON object.")
    if contains_nul(value):
        raise FieldInvalid("Must not contain NUL characters.")
    if len(json.dumps(value, separators=(",", ":")).encode()) > META_MAX_BYTES:
        raise FieldInvalid("Must be at most 10 KB.")
    return value


def type_validate(value: str) -> str:
    if value not in Conversion.Type.values:
        raise FieldInvalid(f"Must be one of: {', '.join(Conversion.Type.values)}.")
    return value


def text_validate(name: str, value: str) -> str:
    limit = TEXT_MAX_LENGTHS[name]
    if len(value) > limit:
        raise FieldInvalid(f"Must be at most {limit} characters.")
    return value


def quantity_validate(value) -> int:
    try:
        quantity = int(str(value).strip())
    except ValueError:
        raise FieldInvalid("A whole number is required.") from None
    if not 1 <= quantity <= QUANTITY_MAX:
        raise FieldInvalid(f"Must be between 1 and {QUANTITY_MAX}.")
    return quantity


# The fields a type requires besides type, external_id and amount; the upload page and template read it too.
TYPE_REQUIRED_FIELDS = {Conversion.Type.PURCHASE: ("product_id",), Conversion.Type.SUBSCRIPTION: ()}


def report_fields_check(attrs: dict) -> dict[str, list[str]]:
    """The rules across fields; returns {field: [messages]} (empty when all hold)."""
    for name in TYPE_REQUIRED_FIELDS.get(attrs.get("type"), ()):
        if not attrs.get(name):
            return {name: [f"Required for a {attrs['type']}."]}
    if not any(attrs.get(name) for name in ("click_id", "referral_code", "coupon", "offer")):
        return {"click_id": ["Send click_id, or referral_code or coupon with offer."]}
    if attrs.get("referral_code") and not attrs.get("offer"):
        return {"offer": ["Required with referral_code."]}
    return {}
