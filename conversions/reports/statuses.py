"""The publisher's status words. A sale has two statuses: the conversion's (does the sale count?) and its
commission's (where is the money?). Pages name both with the API's own words, "Conversion: accepted ·
Commission: pending", and explain them here, once, for the report, the conversion page and earnings."""

from conversions.models import Conversion
from rewards.models import Reward

CONVERSION_STATUSES = {
    Conversion.Status.PENDING: "Received and being checked; its commission is decided within a minute or so "
    "(longer only while an exchange rate it needs is missing).",
    Conversion.Status.ACCEPTED: "The sale counts. What it earns is its commission, pending until validation ends.",
    Conversion.Status.SUSPICIOUS: "Held for review by the network; it earns nothing unless staff accept it.",
    Conversion.Status.REJECTED: "The sale does not count (the remark says why); any commission it had is reversed.",
}

COMMISSION_STATUSES = {
    Reward.Status.PENDING: "In validation: the advertiser may still reject the sale until the offer's validation "
    "term ends.",
    Reward.Status.APPROVED: "Validation is over (or the advertiser confirmed the sale): it is in your available "
    "balance and goes into the next payout that reaches the minimum.",
    Reward.Status.PAID: "Included in a payout that was paid.",
    Reward.Status.REVERSED: "Taken back because the sale was rejected; a paid one is netted off your next payout.",
}


def status_legend() -> list[tuple[str, list[tuple[str, str]]]]:
    """The legend the pages show under "What the statuses mean": each kind, its statuses and their meaning."""
    return [
        ("Conversion", list(CONVERSION_STATUSES.items())),
        ("Commission", list(COMMISSION_STATUSES.items())),
    ]
