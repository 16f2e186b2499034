"""W4: the publisher reports on 1M clicks and 100k conversions.

    createdb -h 127.0.0.1 -U postgres affitrack_w4
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/affitrack_w4 .venv/bin/python bench/w4_reports.py [--clicks N]

Loads the data once with COPY (one partner owns all of it: the worst case for
one partner's report), rebuilds the rollups, then times each dashboard page
through Django's test client (view, queries and template), median of 15 runs.
"""

import argparse
import json
import os
import random
import secrets
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402

from referrals.models import Advertiser, Click, Link, Offer, Partner  # noqa: E402
from rewards.models import RewardRule  # noqa: E402

DAYS = 90


def load(clicks: int, conversions: int) -> None:
    rng = random.Random(4)
    user, _ = get_user_model().objects.get_or_create(username="w4")
    user.set_password("w4")
    user.save()
    partner, _ = Partner.objects.get_or_create(
        user=user, defaults={"referral_code": "W4", "time_zone": "Europe/Berlin"}
    )
    if Click.objects.filter(partner=partner).exists():
        print("data already loaded")
        return
    advertiser = Advertiser.objects.create(name="W4")
    offers = [
        Offer.objects.create(
            advertiser=advertiser, public_id=f"w4-{n}", name=f"W4 offer {n}", destination_url="https://x.example/"
        )
        for n in range(5)
    ]
    links = [Link.objects.create(partner=partner, offer=offer, code=f"w4l{n}") for n, offer in enumerate(offers)]
    rules = [RewardRule.objects.create(offer=o, name="10%", reward_type="percentage", value=10) for o in offers]
    now = datetime.now(UTC)
    start = now - timedelta(days=DAYS)
    click_rows = []
    with (
        connection.cursor() as cursor,
        cursor.connection.cursor().copy(
            "COPY referrals_click (click_id, link_id, offer_id, partner_id, created_at, user_agent, referer, "
            "sub1, sub2, sub3, sub4, sub5, country, device, is_unique, is_bot, accept_language, browser, os) FROM STDIN"
        ) as copy,
    ):
        for n in range(clicks):
            link = links[n % len(links)]
            at = start + timedelta(seconds=rng.randint(0, DAYS * 86400 - 600))
            sub1 = f"s{rng.randint(0, 50)}"
            click_id = secrets.token_hex(16)
            copy.write_row(
                (
                    click_id,
                    link.pk,
                    link.offer_id,
                    partner.pk,
                    at,
                    "ua",
                    "",
                    sub1,
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    n % 7 != 0,
                    False,
                    "",
                    "",
                    "",
                )
            )
            if n % (clicks // conversions) == 0:
                click_rows.append((click_id, link, at, sub1))
    click_pk = dict(Click.objects.filter(click_id__in=[c[0] for c in click_rows]).values_list("click_id", "pk"))
    rewards = []
    with (
        connection.cursor() as cursor,
        cursor.connection.cursor().copy(
            "COPY conversions_conversion (id, advertiser_id, offer_id, partner_id, click_id, external_id, type, "
            "status, status_reason, status_remark, channel, amount, currency, product_id, category, quantity, plan, "
            "subscription_id, source, user_agent, meta, attribution, country, device, headers, occurred_at, "
            "created_at, browser, is_bot, os, reward_explanation, fraud_score, fraud_signals, ip_from_visitor, "
            "user_agent_from_visitor) FROM STDIN"
        ) as copy,
    ):
        for n, (click_id, link, at, _) in enumerate(click_rows):
            conversion_id = uuid.uuid4()
            at = at + timedelta(minutes=5)
            amount = f"{rng.randint(5, 400)}.{rng.randint(0, 99):02d}"
            status = "accepted" if n % 10 else "rejected"
            copy.write_row(
                (
                    conversion_id,
                    advertiser.pk,
                    link.offer_id,
                    partner.pk,
                    click_pk[click_id],
                    f"w4-{n}",
                    "purchase",
                    status,
                    "",
                    "",
                    "api",
                    amount,
                    "USD",
                    "p",
                    "",
                    1,
                    "",
                    "",
                    "",
                    "",
                    "{}",
                    "{}",
                    "",
                    "",
                    "{}",
                    at,
                    at,
                    "",
                    False,
                    "",
                    "{}",
                    0,
                    "[]",
                    False,
                    False,
                )
            )
            if status == "accepted":
                reward = (Decimal(amount) / 10).quantize(Decimal("0.01"))
                rule = rules[offers.index(link.offer)].pk
                rewards.append((conversion_id, partner.pk, link.offer_id, rule, reward, "USD", "pending", "{}", at, ""))
    with (
        connection.cursor() as cursor,
        cursor.connection.cursor().copy(
            "COPY rewards_reward (conversion_id, partner_id, offer_id, rule_id, amount, currency, status, explanation, "
            "created_at, reversed_from) FROM STDIN"
        ) as copy,
    ):
        for row in rewards:
            copy.write_row(row)
    with transaction.atomic():
        call_command("rollups_rebuild")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def timed(client: Client, url: str, runs: int = 15, samples: list | None = None) -> tuple[float, int]:
    samples = [] if samples is None else samples
    mine = len(samples)
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        if response.streaming:
            body = b"".join(response.streaming_content)
        else:
            body = response.content
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(samples[mine:]), len(body)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clicks", type=int, default=1_000_000)
    parser.add_argument("--conversions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15, help="requests per page (default 15)")
    args = parser.parse_args()
    settings.ALLOWED_HOSTS = ["*"]
    started = time.perf_counter()
    load(args.clicks, args.conversions)
    print(f"loaded in {time.perf_counter() - started:.0f} s: {Click.objects.count()} clicks")
    client = Client()
    client.force_login(get_user_model().objects.get(username="w4"))
    today = datetime.now(UTC).date()
    ninety_days_ago = today - timedelta(days=89)
    pages = [
        "/dashboard/?preset=last_30",
        "/dashboard/conversions/?preset=last_30",
        "/dashboard/conversions/?preset=last_30&sort=-amount",
        "/dashboard/conversions/?preset=last_30&sub1=s7&status=accepted",
        "/dashboard/conversions/?preset=last_30&page=200",
        "/dashboard/conversions/?preset=custom&start=2000-01-01&end=2000-12-31&q=w4-77",
        "/dashboard/performance/?preset=last_30",
        "/dashboard/performance/?preset=last_30&group_by=sub1",
        f"/dashboard/performance/?preset=custom&start={ninety_days_ago}&end={today}&group_by=offer",
        "/dashboard/earnings/",
    ]
    samples: list[float] = []
    for url in pages:
        timed(client, url, runs=1)  # warm: the first request pays imports and template compilation
        median, size = timed(client, url, runs=args.runs, samples=samples)
        print(f"{median:8.1f} ms  {size:>9} B  {url}")
    export_ms, size = timed(client, "/dashboard/conversions/export.csv?preset=last_30", runs=3)
    print(f"{export_ms:8.1f} ms  {size:>9} B  full CSV export, last 30 days")
    # W4's figure: the 95th percentile over every page request above (the export is a download, not a page).
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(0.95 * len(samples)))]
    result = {
        "benchmark": "W4",
        "clicks": args.clicks,
        "conversions": args.conversions,
        "pages": len(pages),
        "requests": len(samples),
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(p95, 1),
        "export_ms": round(export_ms, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
