"""Money: Decimals in an ISO 4217 currency. The one rounding rule: ROUND_HALF_UP at the currency's minor unit
(USD 2, JPY 0, KWD 3), applied once where an amount enters or is computed."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# ISO 4217 minor units of the currencies we accept.
CURRENCY_MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(
        "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD "
        "CAD CDF CHF CNY COP CRC CUP CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ "
        "GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL "
        "MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR "
        "PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT "
        "TOP TRY TTD TWD TZS UAH USD UYU UZS VES WST XCD YER ZAR ZMW ZWL".split(),
        2,
    ),
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
}

MAX_AMOUNT = Decimal("1000000000000")  # 10^12 in any currency is a typo, not a sale


class MoneyError(ValueError):
    pass


def currency_is_known(code: str) -> bool:
    return code in CURRENCY_MINOR_UNITS


def money_quantize(amount: Decimal, currency: str) -> Decimal:
    """Round `amount` to `currency`'s minor unit with ROUND_HALF_UP."""
    try:
        places = CURRENCY_MINOR_UNITS[currency]
    except KeyError:
        raise MoneyError(f"Unknown currency {currency!r}.") from None
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def money_display(amount, currency: str) -> str:
    """How every page shows an amount: quantized to its currency's minor unit, thousands separated, then its
    code: `1,234.50 USD`, `1,200 JPY`; "" for none. (CSV exports keep plain decimals, for spreadsheets.)"""
    if amount is None or amount == "":
        return ""
    try:
        return f"{money_quantize(Decimal(amount), currency):,} {currency}"
    except (MoneyError, ArithmeticError):  # not a number, or an unknown currency: shown as it came
        return f"{amount} {currency}"


def decimal_parse(value) -> Decimal:
    """A Decimal from a string or a JSON number; never through binary float arithmetic."""
    if isinstance(value, bool) or value is None:
        raise MoneyError("A number is required.")
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise MoneyError("A valid number is required.") from None
    if not amount.is_finite():
        raise MoneyError("A valid number is required.")
    return amount
