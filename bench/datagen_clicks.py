"""The clicks of bench/datagen.py's month, in time order, and which of them convert."""

import heapq
import math
from collections import Counter
from datetime import timedelta
from itertools import accumulate

from bench.datagen_copy import ids_reserve, rows_copy
from bench.datagen_month import mix

COUNTRY = mix({"US": 40, "DE": 15, "GB": 12, "FR": 8, "IN": 8, "CA": 6, "AU": 5, "BR": 6})
# (user agent, device, browser, os, weight), weighted like a consumer site's traffic.
AGENTS = [
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Safari/604.1", "mobile", "Mobile Safari", "iOS", 30),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/124.0 Mobile Safari/537.36", "mobile", "Chrome Mobile",
     "Android", 25),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0 Safari/537.36", "desktop", "Chrome", "Windows", 25),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Version/17.4 Safari/605.1.15", "desktop", "Safari", "Mac OS X", 10),
    ("Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) Safari/604.1", "tablet", "Mobile Safari", "iOS", 5),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot", "Googlebot", "Other", 5),
]  # fmt: skip
AGENT = mix({agent[:4]: agent[4] for agent in AGENTS})
SOURCES = ["facebook", "google", "tiktok", "newsletter", "native", "instagram", "youtube"]
COLUMNS = (
    "id click_id created_at ip user_agent referer sub1 sub2 sub3 sub4 sub5 country device is_unique is_bot link_id "
    "offer_id partner_id accept_language browser os"
)


def apportion(total: int, weights: list[float]) -> list[int]:
    """Split `total` in proportion to `weights`, exactly (cumulative rounding)."""
    whole, out, done, running = sum(weights), [], 0, 0.0
    for weight in weights:
        running += weight
        upto = round(total * running / whole)
        out.append(upto - done)
        done = upto
    return out


def sub1s(rng, plan, n: int) -> list[str]:
    """n sub1 values in the partner's style: a long tail of campaign ids, a few traffic sources, unique ids or none."""
    if plan.sub1_style == "campaigns":
        return [f"c{k}" for k in rng.choices(range(plan.vocabulary), cum_weights=plan.sub1_weights, k=n)]
    if plan.sub1_style == "sources":
        return rng.choices(SOURCES, k=n)
    if plan.sub1_style == "unique":
        return [f"u{rng.getrandbits(48):012x}" for _ in range(n)]
    return [""] * n


def clicks_write(cursor, rng, sizes, start, offers: list[dict], plans: list) -> list[tuple]:
    """COPY the clicks, with a diurnal and weekly pattern; returns the converting ones, in click order, as
    (click pk, time, partner plan, offer index, country, agent, ip)."""
    hours = [start + timedelta(hours=hour) for hour in range(sizes.days * 24)]
    clicks_per_hour = apportion(
        sizes.clicks,
        [
            (0.85 if moment.weekday() >= 5 else 1.0) * (1 + 0.8 * math.cos(2 * math.pi * (moment.hour - 19) / 24))
            for moment in hours
        ],
    )
    conversions_per_hour = apportion(sizes.conversions, clicks_per_hour)
    partner_cw = list(accumulate(1 / rank for rank in range(1, sizes.partners + 1)))
    first_click = ids_reserve(cursor, "referrals_click", sizes.clicks)
    converting: list[tuple] = []

    def lines():
        pk = first_click
        for hour_start, count, wanted in zip(hours, clicks_per_hour, conversions_per_hour, strict=True):
            if not count:
                continue
            prefix = hour_start.strftime("%Y-%m-%d %H:")
            per_partner = Counter(rng.choices(range(sizes.partners), cum_weights=partner_cw, k=count))
            batch = []
            for partner_index, n in per_partner.items():
                plan = plans[partner_index]
                links = rng.choices(plan.links, cum_weights=plan.link_weights, k=n)
                for link, sub1 in zip(links, sub1s(rng, plan, n), strict=True):
                    batch.append((rng.random() * 3600, plan, link, sub1))
            batch.sort(key=lambda row: row[0])
            # Exactly this hour's conversions, drawn without replacement, weighted by how well the offer converts.
            keys = [rng.random() ** (1 / offers[row[2][1]]["rate"]) for row in batch]
            converts = set(heapq.nlargest(wanted, range(len(batch)), key=keys.__getitem__)) if wanted else set()
            for position, (second, plan, (link_pk, offer_index), sub1) in enumerate(batch):
                whole = int(second)
                created_at = f"{prefix}{whole // 60:02d}:{whole % 60:02d}.{int((second - whole) * 1e6):06d}+00"
                agent = AGENT(rng)
                country = COUNTRY(rng)
                ip = rng.getrandbits(32)
                ip_text = f"{ip >> 24 & 255 or 1}.{ip >> 16 & 255}.{ip >> 8 & 255}.{ip & 255}"
                sub2 = f"ad{rng.randrange(40)}" if plan.sub1_style == "campaigns" and ip & 1 else ""
                yield (
                    f"{pk}\t{rng.getrandbits(128):032x}\t{created_at}\t{ip_text}\t{agent[0]}\t\t{sub1}\t{sub2}\t\t\t"
                    f"\t{country}\t{agent[1]}\t{'f' if ip % 7 == 0 else 't'}\t{'t' if agent[1] == 'bot' else 'f'}"
                    f"\t{link_pk}\t{offers[offer_index]['pk']}\t{plan.pk}\ten-US,en;q=0.9\t{agent[2]}\t{agent[3]}\n"
                )
                if position in converts:
                    click_at = hour_start + timedelta(seconds=second)
                    converting.append((pk, click_at, plan, offer_index, country, agent, ip_text))
                pk += 1

    rows_copy(cursor, "referrals_click", COLUMNS, lines())
    return converting
