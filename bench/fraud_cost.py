"""What each fraud check costs per conversion, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/affitrack python bench/fraud_cost.py [--n 2000]

Creates an offer with a history of accepted conversions (the statistical checks read
it) and N pending conversions with varied metadata, times every check over all of them,
then whole `conversions_screen` calls of one conversion, and rolls everything back. Prints microseconds per
conversion. The database must be migrated; nothing is left in it.
"""

import argparse
import os
import random
import secrets
import statistics
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from conversions.fraud.checks import CHECKS  # noqa: E402
from conversions.fraud.context import ScreeningContext, ScreeningPreload  # noqa: E402
from conversions.fraud.screening import conversions_screen, fraud_settings_for  # noqa: E402
from conversions.models import Conversion  # noqa: E402
from referrals.models import Advertiser, Click, Link, Offer, Partner  # noqa: E402

IPS = ["81.2.69.160", "5.9.10.10", "8.8.8.8", "62.210.0.1", "2.16.0.1", "190.0.0.1"]
AGENTS = ["Mozilla/5.0 (Windows NT 10.0) Chrome/120.0", "Mozilla/5.0 HeadlessChrome/120.0", "Googlebot/2.1"]


class Rollback(Exception):
    pass


def build(n: int, rng: random.Random):
    now = timezone.now()
    user_model = get_user_model()
    advertiser = Advertiser.objects.create(name=f"bench-{secrets.token_hex(4)}")
    offer = Offer.objects.create(
        advertiser=advertiser,
        public_id=f"bench-{secrets.token_hex(4)}",
        name="bench",
        destination_url="https://example.com/",
        allowed_countries="GB, US, DE",
    )
    partners = [
        Partner.objects.create(
            user=user_model.objects.create(username=f"bench-{secrets.token_hex(4)}", email=f"p{i}@example.com"),
            referral_code=secrets.token_hex(6),
            last_login_ip="203.0.113.9",
        )
        for i in range(5)
    ]
    links = [Link.objects.create(partner=p, offer=offer, code=secrets.token_hex(6)) for p in partners]

    def rows(count, status, days_back):
        clicks, conversions = [], []
        for index in range(count):
            link = rng.choice(links)
            occurred_at = now - timedelta(days=days_back) + timedelta(seconds=index * 30)
            ctit = timedelta(seconds=rng.lognormvariate(8.5, 1.0))
            click = Click(
                click_id=secrets.token_hex(16),
                link=link,
                offer=offer,
                partner=link.partner,
                created_at=occurred_at - ctit,
                ip=rng.choice(IPS),
                user_agent=rng.choice(AGENTS),
                country=rng.choice(["GB", "US", "FR"]),
                is_bot=rng.random() < 0.05,
            )
            clicks.append(click)
            conversions.append(
                Conversion(
                    advertiser=advertiser,
                    offer=offer,
                    partner=link.partner,
                    click=click,
                    external_id=f"bench-{status}-{index}",
                    type="purchase",
                    status=status,
                    amount=Decimal(f"{rng.lognormvariate(4, 0.5):.2f}"),
                    currency="USD",
                    ip=rng.choice(IPS),
                    ip_from_visitor=True,
                    user_agent_from_visitor=True,
                    user_agent=rng.choice(AGENTS),
                    country=rng.choice(["GB", "US", "DE"]),
                    meta={"customer_id": f"cust-{rng.randrange(n)}"},
                    occurred_at=occurred_at,
                    created_at=occurred_at,
                )
            )
        Click.objects.bulk_create(clicks)
        Conversion.objects.bulk_create(conversions)

    rows(n, Conversion.Status.ACCEPTED, days_back=20)  # the history the statistical checks read
    rows(n, Conversion.Status.PENDING, days_back=1)
    connection.cursor().execute("ANALYZE referrals_click; ANALYZE conversions_conversion")
    return offer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000, help="conversions to screen (and as many in the history)")
    args = parser.parse_args()
    rng = random.Random(1)
    results = {}
    try:
        with transaction.atomic():
            offer = build(args.n, rng)
            conversions = list(
                Conversion.objects.filter(offer=offer, status="pending").select_related("click", "offer", "partner")
            )
            settings = fraud_settings_for(offer.pk)
            started = time.perf_counter()
            preload = ScreeningPreload(conversions)  # what the checks read, for all of them at once
            results["preload (its queries)"] = ((time.perf_counter() - started) / len(conversions) * 1e6, None)
            contexts = [ScreeningContext(conversion, preload) for conversion in conversions]
            for code, check in CHECKS.items():
                threshold = settings[code].threshold
                check.run(contexts[0], threshold)  # warm caches (data-centre list, query plans)
                started = time.perf_counter()
                fired = sum(1 for context in contexts if check.run(context, threshold) is not None)
                results[code] = ((time.perf_counter() - started) / len(contexts) * 1e6, fired)
            durations = []
            for conversion in conversions:
                fresh = Conversion.objects.get(pk=conversion.pk)
                started = time.perf_counter()
                conversions_screen([fresh], now=timezone.now())
                durations.append(time.perf_counter() - started)
            results["conversions_screen of one (all, with its queries)"] = (statistics.fmean(durations) * 1e6, None)
            raise Rollback
    except Rollback:
        pass
    print(f"{args.n} conversions screened on PostgreSQL {connection.pg_version // 10000} (history: {args.n})")
    print("| check | us per conversion | signals |")
    print("| --- | ---: | ---: |")
    for code, (micros, fired) in results.items():
        print(f"| {code} | {micros:,.0f} | {'' if fired is None else fired} |")


if __name__ == "__main__":
    main()
