"""The columns of each kind of upload file, defined once: the importer's header check, the upload page's
instructions and the downloadable templates all read them, so the three cannot say different things.

Which fields a conversion type requires comes from the API's own rules (intake.validation.TYPE_REQUIRED_FIELDS).
"""

from dataclasses import dataclass, field

from conversions.intake.validation import TYPE_REQUIRED_FIELDS
from conversions.models import Conversion, ConversionUpload

REQUIRED = "required"
OPTIONAL = "optional"
PARTNER = "one of click_id or referral_code"  # a file's row names its partner itself: there is no cookie
META_PREFIX = "meta_"


@dataclass(frozen=True)
class FileColumn:
    name: str
    holds: str  # what goes in it, as the upload page says
    need: str = OPTIONAL  # REQUIRED, OPTIONAL, PARTNER or the condition in words ("required to reject")
    examples: dict[str, str] = field(default_factory=dict)  # the template's value, by the row's type ("" any)

    @property
    def required_for(self) -> tuple[str, ...]:
        """The conversion types that require this column (the API's rule)."""
        return tuple(kind for kind, names in TYPE_REQUIRED_FIELDS.items() if self.name in names)

    @property
    def need_words(self) -> str:
        if self.need == OPTIONAL and (types := self.required_for):
            return f"required for a {' or '.join(types)}"
        return self.need

    def example(self, kind: str = "") -> str:
        return self.examples.get(kind, self.examples.get("", ""))


_PURCHASE, _SUBSCRIPTION = Conversion.Type.PURCHASE, Conversion.Type.SUBSCRIPTION

# The template's example values, by row (see _TEMPLATE_ROWS).
_CLICK_IDS = {_PURCHASE: "3f2a9c0d5e6b7a8c9d0e1f2a3b4c5d6e"}
_REFERRAL_CODES = {_SUBSCRIPTION: "ALICE"}
_ORDER_IDS = {_PURCHASE: "order-1001", _SUBSCRIPTION: "invoice-2001"}
_OCCURRED_AT = "When it happened, ISO 8601; without an offset, in your time zone; blank is the time of the import."
_META = f"Anything else to keep with the conversion, one column each, named {META_PREFIX} and a name."

CONVERSION_FILE = (
    FileColumn("click_id", "The click id your site kept from our link ({click_id}).", PARTNER, _CLICK_IDS),
    FileColumn("referral_code", "A partner's referral code, if there was no click.", PARTNER, _REFERRAL_CODES),
    FileColumn("external_id", "Your order or invoice id; a repeat is skipped.", REQUIRED, _ORDER_IDS),
    FileColumn("type", "purchase or subscription.", REQUIRED, {_PURCHASE: _PURCHASE, _SUBSCRIPTION: _SUBSCRIPTION}),
    FileColumn("amount", "A plain decimal such as 120.00, zero or more.", REQUIRED, {_PURCHASE: "120.00", "": "9.90"}),
    FileColumn("currency", "ISO 4217 code such as USD; blank is the offer's currency."),
    FileColumn("occurred_at", _OCCURRED_AT, examples={"": "2025-03-31T14:05:00+00:00"}),
    FileColumn("product_id", "Your SKU; reward rules can match on it.", examples={_PURCHASE: "sku-1"}),
    FileColumn("category", "The product's category; reward rules can match on it.", examples={_PURCHASE: "shoes"}),
    FileColumn("quantity", "A whole number from 1; blank is 1.", examples={_PURCHASE: "1"}),
    FileColumn("plan", "The subscription's plan.", examples={_SUBSCRIPTION: "monthly"}),
    FileColumn("subscription_id", "Your subscription id.", examples={_SUBSCRIPTION: "sub-77"}),
    FileColumn("source", "Where the sale came from, such as web or app.", examples={"": "web"}),
    FileColumn(f"{META_PREFIX}…", _META),
)  # fmt: skip
META_EXAMPLE = FileColumn(f"{META_PREFIX}coupon", "", examples={_PURCHASE: "SPRING10"})

_APPROVED, _REJECTED = "approved", "rejected"
_ADJUSTED_IDS = {_APPROVED: "order-1001", _REJECTED: "order-1002"}
_REASONS = {_REJECTED: "Order returned within 14 days"}
ADJUSTMENT_FILE = (
    FileColumn("external_id", "The external_id of a conversion you sent.", REQUIRED, _ADJUSTED_IDS),
    FileColumn("status", "approved or rejected.", REQUIRED, {_APPROVED: _APPROVED, _REJECTED: _REJECTED}),
    FileColumn("reason", "Why you reject it; the publisher sees it.", "required to reject", _REASONS),
    FileColumn("amount", "A new order amount within the validation term; the reward is recomputed."),
)  # fmt: skip

RECONCILIATION_FILE = (
    FileColumn("external_id", "Your order or invoice id.", REQUIRED, {"": "order-1001"}),
    FileColumn("amount", "The amount you have for it.", REQUIRED, {"": "120.00"}),
)

FILE_COLUMNS = {
    ConversionUpload.Kind.CONVERSIONS: CONVERSION_FILE,
    ConversionUpload.Kind.ADJUSTMENTS: ADJUSTMENT_FILE,
    ConversionUpload.Kind.RECONCILIATION: RECONCILIATION_FILE,
}


def column_names(kind: str) -> list[str]:
    """The named columns of a kind of file, in the template's order (without the meta_ family)."""
    return [column.name for column in FILE_COLUMNS[kind] if not column.name.startswith(META_PREFIX)]


def required_columns(kind: str) -> list[str]:
    """The header must name these; for a new-conversions file also one of the PARTNER columns."""
    return [column.name for column in FILE_COLUMNS[kind] if column.need == REQUIRED]


def partner_columns(kind: str) -> list[str]:
    return [column.name for column in FILE_COLUMNS[kind] if column.need == PARTNER]


# The template's example rows, by the key each column's examples use.
_TEMPLATE_ROWS = {
    ConversionUpload.Kind.CONVERSIONS: tuple(Conversion.Type.values),
    ConversionUpload.Kind.ADJUSTMENTS: (_APPROVED, _REJECTED),
    ConversionUpload.Kind.RECONCILIATION: ("",),
}


def template_rows(kind: str) -> tuple[list[str], list[list[str]]]:
    """The template's header and example rows (a new-conversions file: one row per conversion type)."""
    columns = [column for column in FILE_COLUMNS[kind] if not column.name.startswith(META_PREFIX)]
    if kind == ConversionUpload.Kind.CONVERSIONS:
        columns.append(META_EXAMPLE)
    return [c.name for c in columns], [[c.example(row) for c in columns] for row in _TEMPLATE_ROWS[kind]]
