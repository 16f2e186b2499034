"""The month bench/datagen.py makes: its sizes, the mixes it draws from, its advertisers, offers and partners."""

import math
from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal
from itertools import accumulate

from bench.datagen_copy import ids_reserve, rows_copy, rows_copy_numbered


@dataclass
class Sizes:
    clicks: int = 10_000_000
    conversions: int = 500_000
    offers: int = 500
    partners: int = 2000
    days: int = 30

    @staticmethod
    def arguments_add(parser) -> None:
        for name, default in asdict(Sizes()).items():
            parser.add_argument(f"--{name}", type=int, default=default)

    @classmethod
    def from_arguments(cls, args) -> "Sizes":
        return cls(**{size.name: getattr(args, size.name) for size in fields(cls)})


@dataclass
class PartnerPlan:
    pk: int
    links: list  # [(link pk, offer index)]
    link_weights: list
    sub1_style: str
    vocabulary: int = 0
    sub1_weights: list = field(default_factory=list)


def mix(weights: dict):
    """One draw from the dict's keys, weighted by its values: `mix(weights)(rng)`."""
    values, cum_weights = list(weights), list(accumulate(weights.values()))
    return lambda rng: rng.choices(values, cum_weights=cum_weights)[0]


TIME_ZONE = mix(
    {
        "UTC": 30,
        "Europe/Berlin": 20,
        "America/New_York": 20,
        "Europe/London": 10,
        "Asia/Kolkata": 10,
        "America/Los_Angeles": 5,
        "Australia/Sydney": 5,
    }
)
CURRENCY = mix({"USD": 75, "EUR": 20, "GBP": 5})


def offers_write(cursor, rng, sizes: Sizes, created: str) -> list[dict]:
    """Advertisers (one per 10 offers), offers in USD, EUR and GBP and a reward rule each; the offers as dicts."""
    advertisers = max(1, sizes.offers // 10)
    zones = [rng.choice(["UTC", "Europe/Berlin", "America/New_York"]) for _ in range(advertisers)]
    first_advertiser = rows_copy_numbered(
        cursor,
        "referrals_advertiser",
        "name time_zone created_at postback_allowed_ips require_signed_postbacks signing_secret "
        "signing_secret_previous",
        [f"dg advertiser {n + 1}\t{zone}\t{created}\t\tf\t\t\n" for n, zone in enumerate(zones)],
    )
    offers = [
        {
            "advertiser": first_advertiser + n % advertisers,
            "time_zone": zones[n % advertisers],
            "currency": CURRENCY(rng),
            "term": rng.choice([7, 14, 30, 30, 60]),
            "basket": math.exp(rng.uniform(math.log(15), math.log(400))),
            "rate": rng.lognormvariate(0, 0.7),  # how well it converts, relative to the others
        }
        for n in range(sizes.offers)
    ]
    first_offer = rows_copy_numbered(
        cursor,
        "referrals_offer",
        "public_id name destination_url track_type cookie_window_days validation_term_days currency status "
        "created_at advertiser_id deep_link_hosts fallback_url auto_approve_links allowed_countries",
        [
            f"dg-{n + 1:04d}\tDG offer {n + 1:04d}\thttps://shop{n + 1}.example/?c={{click_id}}\trealtime\t30"
            f"\t{offer['term']}\t{offer['currency']}\tactive\t{created}\t{offer['advertiser']}\t\t\tt\t\n"
            for n, offer in enumerate(offers)
        ],
    )
    for n, offer in enumerate(offers):
        offer["pk"] = first_offer + n
        if rng.random() < 0.6:
            offer["reward"] = ("percentage", Decimal(rng.choice([4, 5, 6, 8, 10, 12, 15, 20])))
        else:
            offer["reward"] = ("fixed", Decimal(rng.choice(["1.50", "2", "5", "8", "12", "20", "35", "50"])))
    first_rule = rows_copy_numbered(
        cursor,
        "rewards_rewardrule",
        "name conversion_type conditions reward_type value currency priority is_active created_at offer_id "
        "recurring spend_limit_period",
        [
            f"default\t\t[]\t{offer['reward'][0]}\t{offer['reward'][1]}\t{offer['currency']}\t0\tt\t{created}"
            f"\t{offer['pk']}\t\t\n"
            for offer in offers
        ],
    )
    for n, offer in enumerate(offers):
        offer["rule"] = first_rule + n
    return offers


def partners_write(cursor, rng, sizes: Sizes, offers: list[dict], created: str) -> list[PartnerPlan]:
    """Partners with a user each, heaviest first, in a mix of time zones, and the links each promotes."""
    from django.contrib.auth.hashers import make_password

    password = make_password("bench")
    zones = ["Europe/Berlin"] + [TIME_ZONE(rng) for _ in range(sizes.partners - 1)]
    first_user = rows_copy_numbered(
        cursor,
        "auth_user",
        "password is_superuser username first_name last_name email is_staff is_active date_joined",
        [
            f"{password}\tf\tdg-partner-{n:05d}\t\t\tdg{n}@partners.example\tf\tt\t{created}\n"
            for n in range(1, len(zones) + 1)
        ],
    )
    first_partner = rows_copy_numbered(
        cursor,
        "referrals_partner",
        "referral_code time_zone created_at user_id payout_details payout_method status suspended_reason",
        [f"DG{n + 1:05d}\t{zone}\t{created}\t{first_user + n}\t\tpaypal\tactive\t\n" for n, zone in enumerate(zones)],
    )
    # Heavy partners promote many offers (60 for the top one), small ones one or two; offer popularity is Zipf.
    popularity = [1 / (n + 1) ** 0.8 for n in range(sizes.offers)]
    rng.shuffle(popularity)
    links, plans = [], []  # links: (partner pk, offer index)
    for rank in range(1, sizes.partners + 1):
        wanted = max(1, min(sizes.offers, round(60 / rank**0.5 * rng.uniform(0.5, 1.5)) if rank > 1 else 60))
        chosen: list[int] = []
        while len(chosen) < wanted:
            index = rng.choices(range(sizes.offers), weights=popularity)[0]
            if index not in chosen:
                chosen.append(index)
        style = (
            "campaigns" if rank == 1 else rng.choices(["none", "sources", "campaigns", "unique"], [35, 10, 45, 10])[0]
        )
        plan = PartnerPlan(
            pk=first_partner + rank - 1,
            links=[(len(links) + n, index) for n, index in enumerate(chosen)],
            link_weights=list(accumulate(popularity[index] / (n + 1) ** 1.2 for n, index in enumerate(chosen))),
            sub1_style=style,
        )
        links += [(plan.pk, index) for index in chosen]
        if style == "campaigns":
            plan.vocabulary = 2000 if rank == 1 else int(math.exp(rng.uniform(math.log(5), math.log(2000))))
            plan.sub1_weights = list(accumulate(1 / (n + 1) ** 1.1 for n in range(plan.vocabulary)))
        plans.append(plan)
    first_link = ids_reserve(cursor, "referrals_link", len(links))
    for plan in plans:
        plan.links = [(first_link + row, index) for row, index in plan.links]
    rows_copy(
        cursor,
        "referrals_link",
        "id code created_at offer_id partner_id",
        (
            f"{first_link + n}\tdg{first_link + n:x}\t{created}\t{offers[index]['pk']}\t{partner}\n"
            for n, (partner, index) in enumerate(links)
        ),
    )
    return plans
