from decimal import Decimal

from django import template

from core.money import MoneyError, money_quantize

register = template.Library()


@register.simple_tag
def money(amount, currency):
    """How every page shows an amount: quantized to its currency's minor unit, thousands separated, then its
    code: `1,234.50 USD`, `1,200 JPY`. (CSV exports keep plain decimals, for spreadsheets.)"""
    if amount is None or amount == "":
        return ""
    try:
        return f"{money_quantize(Decimal(amount), currency):,} {currency}"
    except MoneyError:
        return f"{amount} {currency}"
