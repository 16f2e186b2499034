from decimal import Decimal

from django import template

from core.money import MoneyError, money_quantize

register = template.Library()


@register.simple_tag
def money(amount, currency):
    """An amount quantized to its currency's minor unit, then its code: `12.50 USD`."""
    if amount is None or amount == "":
        return ""
    try:
        return f"{money_quantize(Decimal(amount), currency)} {currency}"
    except MoneyError:
        return f"{amount} {currency}"
