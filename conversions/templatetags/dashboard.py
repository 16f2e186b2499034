from django import template

from core.money import money_display

register = template.Library()


@register.simple_tag
def money(amount, currency):
    """`{% money amount currency %}`: the pages' one money format (core.money.money_display)."""
    return money_display(amount, currency)
