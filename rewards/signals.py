"""Signals rewards sends for the apps above it, which it must not import.

`exchange_rates_changed`: rates were created or corrected (sent after commit).
`conversions` listens and processes the conversions that waited for a rate.
"""

from django.dispatch import Signal

exchange_rates_changed = Signal()
