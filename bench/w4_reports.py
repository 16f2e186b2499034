"""W4: the publisher's reports on the skewed data set of bench/datagen.py (10M clicks, 500k conversions in full).

    createdb -h 127.0.0.1 -U postgres affitrack_bench && DATABASE_URL=... manage.py migrate
    DJANGO_SETTINGS_MODULE=bench.settings DATABASE_URL=postgres://postgres@127.0.0.1:5432/affitrack_bench \
        .venv/bin/python bench/w4_reports.py [--clicks N --conversions N --offers N --partners N --days N]

Generates the data set once (nothing if it is there), then times each dashboard page through Django's test
client (view, queries and template) for two partners: the heaviest (the top of the skew, ~12% of all
clicks) and a typical one (the median partner). Prints a line per page and, last, one JSON line: p50 and
p95 per page and the p95 over every page request (W4's figure; the CSV export's first chunk is reported
apart, as a download is not a page).
"""

import argparse
import html
import json
import os
import re
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db.models import Sum  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.datagen import Sizes, load  # noqa: E402
from conversions.models import Conversion  # noqa: E402
from conversions.reports.periods import period_for_preset  # noqa: E402
from referrals.models import ClickStat, ClickSub1Stat, Partner  # noqa: E402
from referrals.partner_access import partner_today, partner_tz  # noqa: E402


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def timed(client: Client, url: str, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        _ = b"".join(response.streaming_content) if response.streaming else response.content
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return samples


def export_first_chunk_ms(client: Client, url: str) -> float:
    """Until the first 1,000 rows of the CSV are out: what the person waits for before the download starts."""
    started = time.perf_counter()
    response = client.get(url)
    lines = 0
    for part in response.streaming_content:
        lines += part.count(b"\n")
        if lines > 1000:
            break
    response.close()
    return (time.perf_counter() - started) * 1000


def partner_pages(partner: Partner) -> list[tuple[str, str]]:
    """(name, url) of the pages W4 measures, with filters that match this partner's own data."""
    today = partner_today(partner, timezone.now())
    top_offer = (
        ClickStat.objects.filter(partner=partner).values("offer_id").annotate(n=Sum("clicks")).order_by("-n").first()
    )
    top_sub1 = (
        ClickSub1Stat.objects.filter(partner=partner)
        .exclude(sub1="")
        .values("sub1")
        .annotate(n=Sum("clicks"))
        .order_by("-n")
        .first()
    )
    sub1 = top_sub1["sub1"] if top_sub1 else "nosuchsub"
    conversions = Conversion.objects.filter(partner=partner)
    last_page = max(1, (conversions.count() + 49) // 50)
    deep = min(200, last_page)
    # The Next link of the page before the deep one, on the page's own period (the last page has no Next link).
    last_30 = period_for_preset("last_30", today=today, tz=partner_tz(partner))
    in_last_30 = conversions.filter(created_at__gte=last_30.utc_start, created_at__lt=last_30.utc_end).count()
    next_from = min(deep, (in_last_30 + 49) // 50) - 1
    an_external_id = conversions.order_by("created_at").values_list("external_id", flat=True).first() or "none"
    last_90_days = f"preset=custom&start={today - timedelta(days=89)}&end={today}"
    a_week = f"preset=custom&start={today - timedelta(days=13)}&end={today - timedelta(days=7)}"
    offer = top_offer["offer_id"]
    return [
        ("home", "/dashboard/?preset=last_30"),
        ("conversions", "/dashboard/conversions/?preset=last_30"),
        ("conversions_offer_status", f"/dashboard/conversions/?preset=last_30&offer={offer}&status=accepted"),
        ("conversions_sub1", f"/dashboard/conversions/?preset=last_30&sub1={sub1}"),
        ("conversions_by_amount", "/dashboard/conversions/?preset=last_30&sort=-amount"),
        ("conversions_deep_page", f"/dashboard/conversions/?preset=last_30&page={deep}"),
        # The same page as its Next link on the page before reaches it: seeking from that page's last row.
        ("conversions_deep_next", f"/dashboard/conversions/?preset=last_30&page={max(1, next_from)}&rel=next"),
        ("conversions_search", f"/dashboard/conversions/?{last_90_days}&q={an_external_id}"),
        ("performance_by_day", "/dashboard/performance/?preset=last_30"),
        ("performance_by_sub1", "/dashboard/performance/?preset=last_30&group_by=sub1"),
        ("performance_by_offer", "/dashboard/performance/?preset=last_30&group_by=offer"),
        ("performance_custom_range", f"/dashboard/performance/?{a_week}"),
        ("earnings", "/dashboard/earnings/"),
    ]  # fmt: skip


def next_link(client: Client, url: str) -> str:
    """For a url ending in `&rel=next`: the page's own Next link (as a person clicking it follows it)."""
    if not url.endswith("&rel=next"):
        return url
    page = client.get(url.removesuffix("&rel=next")).content.decode()
    found = re.search(r'<a href="([^"]+)" rel="next">', page)
    return url.split("?")[0] + html.unescape(found.group(1)) if found else url.removesuffix("&rel=next")


def main() -> None:
    parser = argparse.ArgumentParser()
    Sizes.arguments_add(parser)
    parser.add_argument("--runs", type=int, default=15, help="requests per page and partner (default 15)")
    args = parser.parse_args()
    settings.ALLOWED_HOSTS = ["*"]
    sizes = Sizes.from_arguments(args)
    started = time.perf_counter()
    loaded = load(sizes, log=lambda line: print(f"  datagen {line}", flush=True))
    print(f"data set ready in {time.perf_counter() - started:.0f} s", flush=True)
    partners = {
        "heavy": Partner.objects.get(referral_code="DG00001"),
        "typical": Partner.objects.get(referral_code=f"DG{max(1, sizes.partners // 2):05d}"),
    }
    samples: list[float] = []
    per_page: dict[str, dict] = {}
    export = {}
    for kind, partner in partners.items():
        client = Client()
        client.force_login(partner.user)
        clicks = ClickStat.objects.filter(partner=partner).aggregate(n=Sum("clicks"))["n"]
        print(f"{kind}: {partner.referral_code}, {clicks:,} clicks, {partner.conversions.count():,} conversions")
        for name, url in partner_pages(partner):
            url = next_link(client, url)
            timed(client, url, runs=1)  # warm: the first request pays imports and template compilation
            page = timed(client, url, runs=args.runs)
            samples += page
            key = f"{kind}:{name}"
            per_page[key] = {"p50_ms": round(statistics.median(page), 1), "p95_ms": round(percentile(page, 0.95), 1)}
            print(f"{per_page[key]['p50_ms']:8.1f} {per_page[key]['p95_ms']:8.1f} ms  {key:40} {url}", flush=True)
        export[kind] = round(export_first_chunk_ms(client, "/dashboard/conversions/export.csv?preset=last_30"), 1)
        print(f"{export[kind]:8.1f} ms  CSV export, first 1,000 rows")
    result = {
        "benchmark": "W4",
        "clicks": sizes.clicks,
        "conversions": sizes.conversions,
        "offers": sizes.offers,
        "partners": sizes.partners,
        "generated": {key: loaded.get(key) for key in ("seconds", "total_seconds", "database_size")},
        "pages": len(per_page),
        "requests": len(samples),
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(percentile(samples, 0.95), 1),
        "per_page": per_page,
        "export_first_1000_rows_ms": export,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
