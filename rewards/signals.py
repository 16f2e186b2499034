"""Signals for the apps above rewards, which it must not import."""

from django.dispatch import Signal

exchange_rates_changed = Signal()  # after commit; conversions processes those that waited for a rate
