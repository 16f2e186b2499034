"""A skewed, realistic data set for the report benchmarks (W4): clicks, conversions, rewards, ledger, rollups.

    DJANGO_SETTINGS_MODULE=bench.settings DATABASE_URL=postgres://postgres@127.0.0.1:5432/affitrack_bench \
        .venv/bin/python bench/datagen.py --clicks 10000000 --conversions 500000 --offers 500 --partners 2000 --days 30

What it makes, over the `--days` before `--end` (default: now):

- advertisers (one per 10 offers), offers (USD, EUR, GBP; validation terms of 7 to 60 days), one reward rule each;
- partners with a user each (`dg-partner-00001`, password "bench"), in a mix of time zones; partner 1 is the
  heaviest, then Zipf (weight 1/rank): at 2,000 partners the top one has ~12% of the clicks, the median one ~0.01%;
- links: heavy partners promote many offers (60 for the top one), small ones one or two; offer popularity is Zipf;
- clicks in time order, with a diurnal and weekly pattern; sub1 in each partner's style (none, a few traffic
  sources, a long tail of campaign ids, or a unique id per click), sub2 for campaign partners;
- conversions on exactly `--conversions` of those clicks (offers convert at different rates), minutes to days
  after the click: ~72% accepted, 12% pending, 13% rejected, 3% suspicious; amounts log-normal around each offer's
  basket;
- a reward for every accepted conversion (and a reversed one for a third of the rejected), approved once its
  validation term is over, with the ledger's accrual, approval and reversal transactions and their entries;
- the quarter-hour rollups of the generated partners, by set-based SQL that gives what
  `manage.py rollups_rebuild` gives (tests/test_datagen.py holds the two equal).

No status history, payouts, postbacks or request logs: the publisher reports do not read them.

Deterministic: the same --seed, sizes and --end give the same rows. Idempotent enough: it adds its own
advertisers, offers and partners (named dg-...) next to whatever the database holds, and does nothing if they
are already there (drop and recreate the database to change the sizes). All of it is one transaction.
Rows go in with COPY; on large loads the click and conversion tables' secondary indexes are dropped first and
created again afterwards with the very definitions they had (pg_indexes), which is several times faster.
"""

import argparse
import heapq
import json
import math
import os
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

MARKER = "DG00001"  # the referral code of the first generated partner: present means loaded
TIME_ZONES = [
    ("UTC", 30),
    ("Europe/Berlin", 20),
    ("America/New_York", 20),
    ("Europe/London", 10),
    ("Asia/Kolkata", 10),
    ("America/Los_Angeles", 5),
    ("Australia/Sydney", 5),
]
CURRENCIES = [("USD", 75), ("EUR", 20), ("GBP", 5)]
COUNTRIES = [("US", 40), ("DE", 15), ("GB", 12), ("FR", 8), ("IN", 8), ("CA", 6), ("AU", 5), ("BR", 6)]
# (user agent, device, browser, os), weighted like a consumer site's traffic.
AGENTS = [
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Safari/604.1", "mobile", "Mobile Safari", "iOS", 30),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/124.0 Mobile Safari/537.36",
        "mobile",
        "Chrome Mobile",
        "Android",
        25,
    ),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0 Safari/537.36", "desktop", "Chrome", "Windows", 25),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Version/17.4 Safari/605.1.15", "desktop", "Safari", "Mac OS X", 10),
    ("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) Safari/604.1", "tablet", "Mobile Safari", "iOS", 5),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot", "Googlebot", "Other", 5),
]
SOURCES = ["facebook", "google", "tiktok", "newsletter", "native", "instagram", "youtube"]
CATEGORIES = ["fashion", "electronics", "travel", "finance", "home", "beauty", "software"]
BUCKET_ORIGIN = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"  # a UTC quarter hour, as referrals.rollups.rollup_bucket
# The per-partner rollups and what they sum (conversions and referrals migrations 0010 and 0006).
PARTNER_ROLLUPS = [
    ("referrals_clickstat", "referrals_partnerclickstat", ["partner_id", "bucket"], ["clicks", "unique_clicks"]),
    (
        "conversions_conversionstat",
        "conversions_partnerconversionstat",
        ["partner_id", "bucket", "currency"],
        ["conversions", "earnings"],
    ),
]
DROP_INDEXES_FROM = 200_000  # clicks: below this, inserting into the indexes is as quick as rebuilding them


@dataclass
class Sizes:
    clicks: int = 10_000_000
    conversions: int = 500_000
    offers: int = 500
    partners: int = 2000
    days: int = 30


@dataclass
class PartnerPlan:
    pk: int
    links: list  # [(link pk, offer index)]
    link_weights: list
    sub1_style: str
    vocabulary: int = 0
    sub1_weights: list = field(default_factory=list)


def _cumulative(weights):
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


def _weighted(rng, pairs):
    values = [value for value, _ in pairs]
    return values, _cumulative(weight for _, weight in pairs)


def _apportion(total: int, weights: list[float]) -> list[int]:
    """Split `total` in proportion to `weights`, exactly (cumulative rounding)."""
    whole, out, done, running = sum(weights), [], 0, 0.0
    for weight in weights:
        running += weight
        upto = round(total * running / whole)
        out.append(upto - done)
        done = upto
    return out


def _reserve_ids(cursor, table: str, count: int) -> int:
    """Take `count` consecutive ids from the table's identity sequence; returns the first."""
    cursor.execute(
        "SELECT setval(pg_get_serial_sequence(%s, 'id'), nextval(pg_get_serial_sequence(%s, 'id')) + %s)",
        [table, table, max(count, 1) - 1],
    )
    return cursor.fetchone()[0] - max(count, 1) + 1


def _copy(cursor, table: str, columns: list[str], lines) -> int:
    """COPY pre-formatted text lines (tab-separated, \\N for null) into the table, in blocks of ~1 MB."""
    count, block, size = 0, [], 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for line in lines:
            block.append(line)
            size += len(line)
            count += 1
            if size > 1_000_000:
                copy.write("".join(block))
                block, size = [], 0
        if block:
            copy.write("".join(block))
    return count


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f+00")


def _secondary_indexes(cursor, table: str) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of the table's indexes that back no constraint."""
    cursor.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND i.schemaname = current_schema() "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname) ORDER BY i.indexname",
        [table],
    )
    return cursor.fetchall()


def generate(
    connection, sizes: Sizes, *, seed: int = 8, end: datetime | None = None, rebuild_indexes=None, log=print
) -> dict:
    """Fill the database through `connection` (a Django connection) in its transaction; returns counts and timings.

    `rebuild_indexes`: drop the click and conversion tables' secondary indexes for the load and create them
    again after it; by default for loads of DROP_INDEXES_FROM clicks or more.
    """
    from django.contrib.auth.hashers import make_password

    from core.money import money_quantize
    from rewards.periods import validation_term_end

    rng = random.Random(seed)
    if rebuild_indexes is None:
        rebuild_indexes = sizes.clicks >= DROP_INDEXES_FROM
    end = (end or datetime.now(UTC)).replace(second=0, microsecond=0)
    start = end - timedelta(days=sizes.days)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 1)
        clock = now
        log(f"{name}: {timings[name]} s")

    connection.ensure_connection()
    raw = connection.connection  # the psycopg connection: its cursors COPY
    with connection.cursor() as django_cursor:
        django_cursor.execute("SELECT 1 FROM referrals_partner WHERE referral_code = %s", [MARKER])
        if django_cursor.fetchone():
            log("the generated data is already there; nothing to do")
            return {"loaded": False}
    cursor = raw.cursor()
    cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
    created = _ts(start - timedelta(days=30))

    # --- advertisers, offers, rules -------------------------------------------------------------
    advertiser_count = max(1, sizes.offers // 10)
    first_advertiser = _reserve_ids(cursor, "referrals_advertiser", advertiser_count)
    _copy(
        cursor,
        "referrals_advertiser",
        (
            "id name time_zone created_at postback_allowed_ips require_signed_postbacks signing_secret "
            "signing_secret_previous"
        ).split(),
        (
            f"{first_advertiser + n}\tdg advertiser {n + 1}\t{rng.choice(['UTC', 'Europe/Berlin', 'America/New_York'])}"
            f"\t{created}\t\tf\t\t\n"
            for n in range(advertiser_count)
        ),
    )
    currencies, currency_cw = _weighted(rng, CURRENCIES)
    offers = []  # (pk, advertiser pk, currency, term days, advertiser tz placeholder, basket, conversion factor)
    first_offer = _reserve_ids(cursor, "referrals_offer", sizes.offers)
    cursor.execute("SELECT id, time_zone FROM referrals_advertiser WHERE id >= %s", [first_advertiser])
    advertiser_tz = dict(cursor.fetchall())
    for n in range(sizes.offers):
        offers.append(
            {
                "pk": first_offer + n,
                "advertiser": first_advertiser + n % advertiser_count,
                "currency": rng.choices(currencies, cum_weights=currency_cw)[0],
                "term": rng.choice([7, 14, 30, 30, 60]),
                "basket": math.exp(rng.uniform(math.log(15), math.log(400))),
                "rate": rng.lognormvariate(0, 0.7),  # how well it converts, relative to the others
            }
        )
    _copy(
        cursor,
        "referrals_offer",
        (
            "id public_id name destination_url track_type cookie_window_days validation_term_days currency "
            "status created_at advertiser_id deep_link_hosts fallback_url auto_approve_links "
            "allowed_countries"
        ).split(),
        (
            f"{o['pk']}\tdg-{n + 1:04d}\tDG offer {n + 1:04d}\thttps://shop{n + 1}.example/?c={{click_id}}\trealtime"
            f"\t30\t{o['term']}\t{o['currency']}\tactive\t{created}\t{o['advertiser']}\t\t\tt\t\n"
            for n, o in enumerate(offers)
        ),
    )
    first_rule = _reserve_ids(cursor, "rewards_rewardrule", sizes.offers)
    for n, offer in enumerate(offers):
        offer["rule"] = first_rule + n
        if rng.random() < 0.6:
            offer["reward"] = ("percentage", Decimal(rng.choice([4, 5, 6, 8, 10, 12, 15, 20])))
        else:
            offer["reward"] = ("fixed", Decimal(rng.choice(["1.50", "2", "5", "8", "12", "20", "35", "50"])))
    _copy(
        cursor,
        "rewards_rewardrule",
        (
            "id name conversion_type conditions reward_type value currency priority is_active created_at "
            "offer_id recurring spend_limit_period"
        ).split(),
        (
            f"{o['rule']}\tdefault\t\t[]\t{o['reward'][0]}\t{o['reward'][1]}\t{o['currency']}\t0\tt\t{created}"
            f"\t{o['pk']}\t\t\n"
            for o in offers
        ),
    )
    lap("offers")

    # --- partners, users, links -----------------------------------------------------------------
    first_user = _reserve_ids(cursor, "auth_user", sizes.partners)
    first_partner = _reserve_ids(cursor, "referrals_partner", sizes.partners)
    password = make_password("bench")
    zones, zone_cw = _weighted(rng, TIME_ZONES)
    partner_zone = ["Europe/Berlin"] + [rng.choices(zones, cum_weights=zone_cw)[0] for _ in range(sizes.partners - 1)]
    _copy(
        cursor,
        "auth_user",
        ("id password is_superuser username first_name last_name email is_staff is_active date_joined").split(),
        (
            f"{first_user + n}\t{password}\tf\tdg-partner-{n + 1:05d}\t\t\tdg{n + 1}@partners.example\tf\tt"
            f"\t{created}\n"
            for n in range(sizes.partners)
        ),
    )
    _copy(
        cursor,
        "referrals_partner",
        ("id referral_code time_zone created_at user_id payout_details payout_method status suspended_reason").split(),
        (
            f"{first_partner + n}\tDG{n + 1:05d}\t{partner_zone[n]}\t{created}\t{first_user + n}\t\tpaypal\tactive\t\n"
            for n in range(sizes.partners)
        ),
    )
    offer_popularity = [1 / (n + 1) ** 0.8 for n in range(sizes.offers)]
    rng.shuffle(offer_popularity)
    link_rows, plans = [], []
    for rank in range(1, sizes.partners + 1):
        wanted = max(1, min(sizes.offers, round(60 / rank**0.5 * rng.uniform(0.5, 1.5)) if rank > 1 else 60))
        chosen: list[int] = []
        seen = set()
        while len(chosen) < wanted:
            index = rng.choices(range(sizes.offers), weights=offer_popularity)[0]
            if index not in seen:
                seen.add(index)
                chosen.append(index)
        links = []
        for index in chosen:
            links.append((len(link_rows), index))
            link_rows.append((first_partner + rank - 1, index))
        style = (
            "campaigns" if rank == 1 else rng.choices(["none", "sources", "campaigns", "unique"], [35, 10, 45, 10])[0]
        )
        plan = PartnerPlan(
            pk=first_partner + rank - 1,
            links=links,
            link_weights=_cumulative(offer_popularity[index] / (i + 1) ** 1.2 for i, index in enumerate(chosen)),
            sub1_style=style,
        )
        if style == "campaigns":
            plan.vocabulary = 2000 if rank == 1 else int(math.exp(rng.uniform(math.log(5), math.log(2000))))
            plan.sub1_weights = _cumulative(1 / (n + 1) ** 1.1 for n in range(plan.vocabulary))
        plans.append(plan)
    first_link = _reserve_ids(cursor, "referrals_link", len(link_rows))
    for plan in plans:
        plan.links = [(first_link + row, index) for row, index in plan.links]
    _copy(
        cursor,
        "referrals_link",
        ["id", "code", "created_at", "offer_id", "partner_id"],
        (
            f"{first_link + n}\tdg{first_link + n:x}\t{created}\t{offers[index]['pk']}\t{partner}\n"
            for n, (partner, index) in enumerate(link_rows)
        ),
    )
    lap("partners and links")

    # --- clicks, and which of them convert --------------------------------------------------------
    hours = sizes.days * 24
    hour_weights = []
    for hour in range(hours):
        moment = start + timedelta(hours=hour)
        weekend = 0.85 if moment.weekday() >= 5 else 1.0
        hour_weights.append(weekend * (1 + 0.8 * math.cos(2 * math.pi * (moment.hour - 19) / 24)))
    clicks_per_hour = _apportion(sizes.clicks, hour_weights)
    conversions_per_hour = _apportion(sizes.conversions, [float(n) for n in clicks_per_hour])
    partner_cw = _cumulative(1 / rank for rank in range(1, sizes.partners + 1))
    countries, country_cw = _weighted(rng, COUNTRIES)
    agents, agent_cw = _weighted(rng, [(agent[:4], agent[4]) for agent in AGENTS])
    first_click = _reserve_ids(cursor, "referrals_click", sizes.clicks)
    converting: list[tuple] = []  # (click pk, created_at, partner plan, offer index, sub1, sub2, country, agent, ip)
    click_indexes = _secondary_indexes(cursor, "referrals_click") if rebuild_indexes else []
    for name, _ in click_indexes:
        cursor.execute(f'DROP INDEX "{name}"')

    def clicks():
        pk = first_click
        for hour, count in enumerate(clicks_per_hour):
            if not count:
                continue
            hour_start = start + timedelta(hours=hour)
            prefix = hour_start.strftime("%Y-%m-%d %H:")
            per_partner = Counter(rng.choices(range(sizes.partners), cum_weights=partner_cw, k=count))
            batch = []
            for partner_index, n in per_partner.items():
                plan = plans[partner_index]
                links = rng.choices(plan.links, cum_weights=plan.link_weights, k=n)
                if plan.sub1_style == "campaigns":
                    subs = [f"c{k}" for k in rng.choices(range(plan.vocabulary), cum_weights=plan.sub1_weights, k=n)]
                elif plan.sub1_style == "sources":
                    subs = rng.choices(SOURCES, k=n)
                elif plan.sub1_style == "unique":
                    subs = [f"u{rng.getrandbits(48):012x}" for _ in range(n)]
                else:
                    subs = [""] * n
                for link, sub1 in zip(links, subs, strict=True):
                    batch.append((rng.random() * 3600, plan, link, sub1))
            batch.sort(key=lambda row: row[0])
            # Exactly this hour's conversions, drawn without replacement, weighted by how well the offer converts.
            wanted = conversions_per_hour[hour]
            keys = [rng.random() ** (1 / offers[row[2][1]]["rate"]) for row in batch]
            converts = set(heapq.nlargest(wanted, range(len(batch)), key=keys.__getitem__)) if wanted else set()
            for position, (second, plan, (link_pk, offer_index), sub1) in enumerate(batch):
                whole = int(second)
                created_at = f"{prefix}{whole // 60:02d}:{whole % 60:02d}.{int((second - whole) * 1e6):06d}+00"
                agent = rng.choices(agents, cum_weights=agent_cw)[0]
                country = rng.choices(countries, cum_weights=country_cw)[0]
                ip = rng.getrandbits(32)
                ip_text = f"{ip >> 24 & 255 or 1}.{ip >> 16 & 255}.{ip >> 8 & 255}.{ip & 255}"
                sub2 = f"ad{rng.randrange(40)}" if plan.sub1_style == "campaigns" and ip & 1 else ""
                is_bot = agent[1] == "bot"
                yield (
                    f"{pk}\t{rng.getrandbits(128):032x}\t{created_at}\t{ip_text}\t{agent[0]}\t\t{sub1}\t{sub2}\t\t\t"
                    f"\t{country}\t{agent[1]}\t{'f' if ip % 7 == 0 else 't'}\t{'t' if is_bot else 'f'}\t{link_pk}"
                    f"\t{offers[offer_index]['pk']}\t{plan.pk}\ten-US,en;q=0.9\t{agent[2]}\t{agent[3]}\n"
                )
                if position in converts:
                    click_at = hour_start + timedelta(seconds=second)
                    converting.append((pk, click_at, plan, offer_index, sub1, sub2, country, agent, ip_text))
                pk += 1

    _copy(
        cursor,
        "referrals_click",
        (
            "id click_id created_at ip user_agent referer sub1 sub2 sub3 sub4 sub5 country device is_unique "
            "is_bot link_id offer_id partner_id accept_language browser os"
        ).split(),
        clicks(),
    )
    lap("clicks")

    # --- conversions, in the order they were made ------------------------------------------------
    latest = end - timedelta(seconds=1)
    made = []
    for click_pk, click_at, plan, offer_index, sub1, sub2, country, agent, ip in converting:
        delay = timedelta(minutes=min(rng.lognormvariate(math.log(40), 1.6), 60 * 24 * 14))
        created_at = min(click_at + delay, latest)
        if created_at <= click_at:
            created_at = click_at + (latest - click_at) / 2
        made.append((created_at, click_pk, plan, offer_index, sub1, sub2, country, agent, ip))
    made.sort(key=lambda row: row[0])
    conversion_indexes = _secondary_indexes(cursor, "conversions_conversion") if rebuild_indexes else []
    for name, _ in conversion_indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    rewards = []  # (conversion id, created_at, partner pk, offer, amount, status, approved_at, reversed_from, at)
    statuses, status_cw = _weighted(rng, [("accepted", 72), ("pending", 12), ("rejected", 13), ("suspicious", 3)])
    channels, channel_cw = _weighted(rng, [("api", 60), ("postback", 30), ("pixel", 5), ("csv", 5)])

    def conversion_lines():
        for n, (created_at, click_pk, plan, offer_index, _, _, country, agent, ip) in enumerate(made):
            offer = offers[offer_index]
            conversion_id = uuid.UUID(int=rng.getrandbits(128), version=4)
            age = end - created_at
            status = "pending" if age < timedelta(hours=2) else rng.choices(statuses, cum_weights=status_cw)[0]
            reason, remark = "", ""
            if status == "rejected":
                reason, remark = "advertiser_rejected", rng.choice(["Order cancelled", "Returned", "Duplicate order"])
            elif status == "suspicious":
                reason, remark = "fraud_review", "Held for review."
            amount = f"{rng.lognormvariate(math.log(offer['basket']), 0.6):.2f}"
            kind = "subscription" if rng.random() < 0.1 else "purchase"
            at = _ts(created_at)
            occurred = _ts(created_at - timedelta(seconds=rng.randint(1, 120)))
            processed = r"\N" if status == "pending" else _ts(created_at + timedelta(seconds=rng.randint(1, 30)))
            rewarded = status == "accepted" or (status == "rejected" and rng.random() < 0.33)
            if rewarded:
                rewards.append((conversion_id, created_at, plan.pk, offer, Decimal(amount), status))
            yield (
                f"{conversion_id}\tdg-{n + 1:08d}\t{kind}\t{status}\t{reason}\t{remark}"
                f"\t{rng.choices(channels, cum_weights=channel_cw)[0]}\t{amount}\t{offer['currency']}"
                f"\tsku-{rng.randrange(1000)}\t{rng.choice(CATEGORIES)}\t1\t\t"
                f'{f"sub-{n}" if kind == "subscription" else ""}\t\t{agent[0]}\t{{}}\t{{"method": "click_id"}}'
                f"\t{ip}\t{country}\t{agent[1]}\t{{}}\t{occurred}\t{at}\t{processed}\t{offer['advertiser']}"
                f"\t{click_pk}\t{offer['pk']}\t{plan.pk}\t{agent[2]}\t{'t' if agent[1] == 'bot' else 'f'}\t{agent[3]}"
                f'\t{{"outcome": "{"rewarded" if rewarded else "none"}"}}\t{rng.randrange(0, 30)}\t[]'
                f"\tf\t{processed}\tf\n"
            )

    _copy(
        cursor,
        "conversions_conversion",
        (
            "id external_id type status status_reason status_remark channel amount currency product_id "
            "category quantity plan subscription_id source user_agent meta attribution ip country device "
            "headers occurred_at created_at processed_at advertiser_id click_id offer_id partner_id browser "
            "is_bot os reward_explanation fraud_score fraud_signals ip_from_visitor screened_at "
            "user_agent_from_visitor"
        ).split(),
        conversion_lines(),
    )
    lap("conversions")

    # --- rewards and the ledger ------------------------------------------------------------------
    first_reward = _reserve_ids(cursor, "rewards_reward", len(rewards))
    accounts: dict[tuple, int] = {}

    def account(kind: str, currency: str, *, partner=None, advertiser=None) -> int:
        key = (kind, currency, partner, advertiser)
        if key not in accounts:
            accounts[key] = len(accounts)
        return accounts[key]

    transactions, entries = [], []  # (kind, reward pk, at); (transaction index, account index, amount, currency)

    def post(kind, reward_pk, at, legs):
        transactions.append((kind, reward_pk, at))
        for account_index, amount, currency in legs:
            entries.append((len(transactions) - 1, account_index, amount, currency))

    def reward_lines():
        for n, (conversion_id, created_at, partner_pk, offer, amount, status) in enumerate(rewards):
            pk = first_reward + n
            currency = offer["currency"]
            reward_type, value = offer["reward"]
            reward = money_quantize(amount * value / 100 if reward_type == "percentage" else value, currency)
            at = created_at + timedelta(seconds=5)
            tz = advertiser_tz[offer["advertiser"]]
            approve_after = validation_term_end(created_at, term_days=offer["term"], time_zone=tz)
            approved_at = approve_after + timedelta(minutes=10) if approve_after + timedelta(minutes=10) < end else None
            pending = account("partner_pending", currency, partner=partner_pk)
            payable = account("advertiser_payable", currency, advertiser=offer["advertiser"])
            post("accrual", pk, at, [(payable, -reward, currency), (pending, reward, currency)])
            reward_status, reversed_from, reversed_at = "pending", "", None
            if approved_at is not None:
                available = account("partner_available", currency, partner=partner_pk)
                post("approval", pk, approved_at, [(pending, -reward, currency), (available, reward, currency)])
                reward_status = "approved"
            if status == "rejected":
                reversed_at = min(at + timedelta(days=rng.uniform(0.5, 10)), end - timedelta(seconds=1))
                if approved_at is not None and approved_at > reversed_at:  # rejected within the term
                    transactions.pop()
                    del entries[-2:]
                    reward_status, approved_at = "pending", None
                held = account(
                    "partner_available" if reward_status == "approved" else "partner_pending",
                    currency,
                    partner=partner_pk,
                )
                post("reversal", pk, reversed_at, [(held, -reward, currency), (payable, reward, currency)])
                reversed_from, reward_status = reward_status, "reversed"
            yield (
                f"{pk}\t{conversion_id}\t{reward}\t{currency}\t{reward_status}\t{{}}\t{_ts(at)}\t{offer['pk']}"
                f"\t{partner_pk}\t{offer['rule']}\t{_ts(approve_after)}"
                f"\t{_ts(approved_at) if approved_at else chr(92) + 'N'}\t{_ts(created_at)}"
                f"\t{_ts(reversed_at) if reversed_at else chr(92) + 'N'}\t{reversed_from}\n"
            )

    _copy(
        cursor,
        "rewards_reward",
        (
            "id conversion_id amount currency status explanation created_at offer_id partner_id rule_id "
            "approve_after approved_at occurred_at reversed_at reversed_from"
        ).split(),
        reward_lines(),
    )
    first_account = _reserve_ids(cursor, "rewards_account", len(accounts))
    _copy(
        cursor,
        "rewards_account",
        ["id", "kind", "currency", "advertiser_id", "partner_id"],
        (
            f"{first_account + n}\t{kind}\t{currency}\t{advertiser or chr(92) + 'N'}\t{partner or chr(92) + 'N'}\n"
            for n, (kind, currency, partner, advertiser) in enumerate(accounts)
        ),
    )
    first_transaction = _reserve_ids(cursor, "rewards_transaction", len(transactions))
    _copy(
        cursor,
        "rewards_transaction",
        ["id", "kind", "memo", "created_at", "reward_id", "reference"],
        (
            f"{first_transaction + n}\t{kind}\t{kind} of reward {reward_pk}\t{_ts(at)}\t{reward_pk}\t\n"
            for n, (kind, reward_pk, at) in enumerate(transactions)
        ),
    )
    first_entry = _reserve_ids(cursor, "rewards_entry", len(entries))
    _copy(
        cursor,
        "rewards_entry",
        ["id", "amount", "currency", "account_id", "transaction_id"],
        (
            f"{first_entry + n}\t{amount}\t{currency}\t{first_account + account_index}\t{first_transaction + index}\n"
            for n, (index, account_index, amount, currency) in enumerate(entries)
        ),
    )
    lap("rewards and ledger")

    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred foreign-key checks, before CREATE INDEX
    lap("foreign keys checked")
    for _, statement in click_indexes + conversion_indexes:
        cursor.execute(statement)
    lap("indexes")
    partners = (first_partner, first_partner + sizes.partners - 1)
    rollups_fill(cursor, partners)
    lap("rollups")
    cursor.execute("ANALYZE")
    lap("analyze")
    return {
        "loaded": True,
        "seed": seed,
        "end": end.isoformat(),
        "clicks": sizes.clicks,
        "conversions": len(made),
        "rewards": len(rewards),
        "ledger_entries": len(entries),
        "offers": sizes.offers,
        "partners": sizes.partners,
        "links": len(link_rows),
        "days": sizes.days,
        "seconds": timings,
    }


def rollups_fill(cursor, partners: tuple[int, int]) -> None:
    """The quarter-hour rollups of partners first..last, counted from their rows in set-based SQL.

    The same rows as `rollup_clicks_rebuild` and `rollup_conversions_rebuild` make (a bucket is the UTC
    quarter hour; counts on the conversion rows with an empty currency, earnings of the rewards not
    reversed on a row per reward currency), without reading every row into Python.
    """
    from referrals.rollups import partner_rollup_fill_sql, partner_rollup_trigger

    bucket = f"date_bin('15 minutes', {{}}.created_at, {BUCKET_ORIGIN})"
    click_bucket, conversion_bucket = bucket.format("k"), bucket.format("c")
    in_range = "BETWEEN %s AND %s"
    # The per-partner sums follow the rollups by a trigger per row; for millions of rows, one INSERT ... SELECT
    # after them is much quicker (the trigger is off for this transaction's inserts only).
    for source, target, _, _ in PARTNER_ROLLUPS:
        cursor.execute(f'ALTER TABLE {source} DISABLE TRIGGER "{partner_rollup_trigger(source=source, target=target)}"')
    for table, sub1 in (("referrals_clickstat", False), ("referrals_clicksub1stat", True)):
        cursor.execute(
            f"INSERT INTO {table} (partner_id, bucket, offer_id, {'sub1, ' if sub1 else ''}clicks, unique_clicks) "
            f"SELECT k.partner_id, {click_bucket}, k.offer_id, {'k.sub1, ' if sub1 else ''}count(*), "
            f"count(*) FILTER (WHERE k.is_unique) FROM referrals_click k WHERE k.partner_id {in_range} "
            f"GROUP BY 1, 2, 3{', 4' if sub1 else ''}",
            partners,
        )
    for table, sub1 in (("conversions_conversionstat", ""), ("conversions_conversionsub1stat", "sub1")):
        key = f"c.partner_id, {conversion_bucket}, c.offer_id" + (", coalesce(k.sub1, '')" if sub1 else "")
        group = "1, 2, 3" + (", 4" if sub1 else "")
        cursor.execute(
            f"INSERT INTO {table} (partner_id, bucket, offer_id, {sub1 + ', ' if sub1 else ''}currency, conversions, "
            f"earnings) SELECT {key}, '', count(*), 0 FROM conversions_conversion c "
            f"LEFT JOIN referrals_click k ON k.id = c.click_id WHERE c.partner_id {in_range} GROUP BY {group} "
            f"UNION ALL SELECT {key}, r.currency, 0, sum(r.amount) FROM conversions_conversion c "
            "JOIN rewards_reward r ON r.conversion_id = c.id LEFT JOIN referrals_click k ON k.id = c.click_id "
            f"WHERE c.partner_id {in_range} AND r.status <> 'reversed' GROUP BY {group}, {len(group.split(',')) + 1}",
            partners * 2,
        )
    for source, target, keys, counters in PARTNER_ROLLUPS:
        where = f"partner_id BETWEEN {int(partners[0])} AND {int(partners[1])}"
        cursor.execute(
            partner_rollup_fill_sql(source=source, target=target, keys=keys, counters=counters, where=where, add=True)
        )
        cursor.execute(f'ALTER TABLE {source} ENABLE TRIGGER "{partner_rollup_trigger(source=source, target=target)}"')


def load(sizes: Sizes, *, seed: int = 8, end: datetime | None = None, log=print) -> dict:
    """`generate` in a transaction of its own, then VACUUM ANALYZE; with the database's size."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic():
        result = generate(connection, sizes, seed=seed, end=end, log=log)
    if result["loaded"]:
        # What autovacuum does to a freshly loaded table, done now: the visibility map lets the report
        # queries use index-only scans, as they would on a database in service.
        vacuum_started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        result["seconds"]["vacuum"] = round(time.perf_counter() - vacuum_started, 1)
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        result["database_size"] = cursor.fetchone()[0]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = Sizes()
    for name in ("clicks", "conversions", "offers", "partners", "days"):
        parser.add_argument(f"--{name}", type=int, default=getattr(defaults, name))
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--end", type=datetime.fromisoformat, help="the end of the data (default: now), ISO 8601")
    args = parser.parse_args()
    import django

    django.setup()

    sizes = Sizes(args.clicks, args.conversions, args.offers, args.partners, args.days)
    result = load(sizes, seed=args.seed, end=args.end, log=lambda line: print(line, flush=True))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
