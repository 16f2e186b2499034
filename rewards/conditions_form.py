"""A rule's conditions as rows of field, operator and value in the admin form, instead of raw JSON.

The rows become the list the engine reads; `RewardRule.clean` checks it with the engine's own rules.
"""

from itertools import zip_longest

from django import forms

from rewards.engine import FACT_FIELDS, OPERATORS

OPERATOR_LABELS = {
    "eq": "is",
    "ne": "is not",
    "in": "is one of",
    "not_in": "is none of",
    "gt": "is more than",
    "gte": "is at least",
    "lt": "is less than",
    "lte": "is at most",
    "contains": "contains",
}
LIST_OPERATORS = ("in", "not_in")


def _value_text(condition: dict) -> str:
    value = condition.get("value", "")
    return ", ".join(str(item) for item in value) if isinstance(value, list) else str(value)


def _value_typed(operator: str, text: str):
    text = text.strip()
    if operator in LIST_OPERATORS:
        return [item.strip() for item in text.split(",") if item.strip()]
    return text


def _column(data, key: str) -> list[str]:
    """Every value of `key`, from a request's QueryDict or a plain dict of lists (a form built in code)."""
    if hasattr(data, "getlist"):
        return data.getlist(key)
    values = data.get(key, [])
    return [values] if isinstance(values, str) else list(values)


class ConditionsWidget(forms.Widget):
    """A row per condition and blank rows to add more; a blank field drops its row."""

    template_name = "admin/rewards/conditions_widget.html"
    blank_rows = 3

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        conditions = (
            [condition for condition in value if isinstance(condition, dict)] if isinstance(value, list) else []
        )
        rows = [
            {"field": c.get("field", ""), "operator": c.get("operator"), "value": _value_text(c)} for c in conditions
        ]
        context["widget"].update(
            rows=rows + [{}] * self.blank_rows,
            operators=[(operator, OPERATOR_LABELS[operator]) for operator in OPERATORS],
            fact_fields=FACT_FIELDS,
        )
        return context

    def value_from_datadict(self, data, files, name):
        columns = (_column(data, f"{name}-field"), _column(data, f"{name}-operator"), _column(data, f"{name}-value"))
        return [
            {"field": field.strip(), "operator": operator, "value": _value_typed(operator, value)}
            for field, operator, value in zip_longest(*columns, fillvalue="")
            if field.strip()
        ]

    def value_omitted_from_data(self, data, files, name):
        return f"{name}-field" not in data


class ConditionsField(forms.Field):
    widget = ConditionsWidget

    def __init__(self, **kwargs):
        help_text = (
            f"Every condition must hold. A field is one of {', '.join(FACT_FIELDS)}, or meta. and a key of the "
            'conversion\'s meta (meta.coupon). "is one of" and "is none of" take values separated by commas; '
            "the comparisons take a number. Clear a row's field to remove it; save to get more blank rows."
        )
        super().__init__(required=False, help_text=help_text, **kwargs)

    def to_python(self, value):
        return value or []
