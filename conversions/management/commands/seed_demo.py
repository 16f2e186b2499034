"""`manage.py seed_demo [--json]`: demo data to click through. Safe to run again."""

import hashlib
import json
import random
import secrets
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from conversions.intake.recording import ConversionReport, conversion_record
from conversions.models import Conversion
from conversions.processing.pipeline import conversion_process
from referrals.models import Advertiser, ApiKey, Click, Link, Offer, Partner
from referrals.request_metadata import RequestMetadata
from referrals.services import (
    ClickRequest,
    api_key_create,
    api_key_revoke,
    click_record,
    link_create,
    postback_token_rotate,
)
from rewards.models import RewardRule

ADMIN = {"username": "admin", "password": "admin-demo-password"}
ADVERTISER_LOGIN = {"username": "acme", "password": "acme-demo-password"}
BOT_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0 Safari/537.36"
CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
)
SHARED_CUSTOMER = {"customer_email_sha256": hashlib.sha256(b"carol@example.com").hexdigest()}
GB_VISITOR = "81.2.69.160"
# Conversions for the review desk: (external id, partner, seconds from click, click fields, report fields).
# Each is reported through ingestion and screened by the processing job, as live traffic would be.
DEMO_CONVERSIONS = [
    ("demo-ok-1", "alice", 1800, {"country": "GB", "ip": GB_VISITOR}, {"ip": GB_VISITOR, "meta": SHARED_CUSTOMER}),
    ("demo-fast-1", "alice", 4, {"country": "US"}, {}),
    ("demo-bot-1", "bob", 600, {"user_agent": BOT_UA, "is_bot": True}, {"ip": "5.9.10.10", "user_agent": BOT_UA}),
    ("demo-geo-1", "bob", 900, {"country": "US", "user_agent": CHROME_UA}, {"ip": GB_VISITOR, "user_agent": CHROME_UA}),
    ("demo-shared-customer-1", "bob", 1200, {"country": "GB"}, {"meta": SHARED_CUSTOMER}),
]
PARTNERS = [
    {"username": "alice", "password": "alice-demo-password", "referral_code": "ALICE"},
    {"username": "bob", "password": "bob-demo-password", "referral_code": "BOB"},
]
RULE_FIELDS = ("conversion_type", "reward_type", "value", "max_reward")  # the rules below: a name, then these
OFFERS = [
    {
        "public_id": "acme-shoes",
        "name": "Acme Shoes",
        "track_type": Offer.TrackType.REALTIME,
        "destination_url": "https://shop.example.com/shoes?click_id={click_id}&sub1={sub1}",
        "rules": [
            ("purchase: 10% capped at 50.00", "purchase", "percentage", Decimal("10"), Decimal("50.00")),
            ("subscription: 5.00 fixed", "subscription", "fixed", Decimal("5.00"), None),
        ],
    },
    {
        "public_id": "acme-travel",
        "name": "Acme Travel (manual upload)",
        "track_type": Offer.TrackType.MANUAL,
        "destination_url": "https://travel.example.com/?ref={click_id}",
        "rules": [("purchase: 4% capped at 100.00", "purchase", "percentage", Decimal("4"), Decimal("100.00"))],
    },
]


def _purchase_report(advertiser: Advertiser, *, now, processed_at, **fields) -> None:
    """A demo purchase reported through ingestion, as live traffic would be, and processed at once (the job
    enqueued on commit then finds it done)."""
    report = ConversionReport(type="purchase", product_id="demo-sku", **fields)
    conversion, created = conversion_record(advertiser=advertiser, report=report, channel="api", now=now)
    if created:
        conversion_process(conversion_id=conversion.pk, now=processed_at)


def _login(username: str, password: str, **flags):
    user, _ = get_user_model().objects.update_or_create(username=username, defaults=flags)
    user.set_password(password)
    user.save()
    return user


class Command(BaseCommand):
    help = "Create demo advertisers, offers, rules, partners and links (idempotent); print logins and a new API key."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print what was made as one JSON object, only that.")
        parser.add_argument("--base-url", default=settings.SITE_URL, help="Base URL for the printed links.")

    @transaction.atomic
    def handle(self, *args, **options):
        base_url = options["base_url"].rstrip("/")
        _login(**ADMIN, is_staff=True, is_superuser=True)
        partners = []
        for spec in PARTNERS:
            user = _login(spec["username"], spec["password"])
            partner, _ = Partner.objects.get_or_create(user=user, defaults={"referral_code": spec["referral_code"]})
            partners.append((spec, partner))

        advertiser, _ = Advertiser.objects.get_or_create(name="Acme Inc.")
        advertiser.members.add(_login(**ADVERTISER_LOGIN))
        # Keys are stored hashed, so an old demo key cannot be shown again: replace it.
        for old in ApiKey.objects.filter(advertiser=advertiser, name="demo", revoked_at__isnull=True):
            api_key_revoke(api_key=old)
        _, raw_key = api_key_create(advertiser=advertiser, name="demo")
        postback_token = postback_token_rotate(advertiser=advertiser)

        offers_out = []
        for spec in OFFERS:
            fields = {name: spec[name] for name in ("name", "track_type", "destination_url")}
            offer, _ = Offer.objects.update_or_create(
                public_id=spec["public_id"], defaults={"advertiser": advertiser, "currency": "USD", **fields}
            )
            for name, *values in spec["rules"]:
                defaults = {**dict(zip(RULE_FIELDS, values, strict=True)), "currency": "USD"}
                RewardRule.objects.update_or_create(offer=offer, name=name, defaults=defaults)
            links = []
            for partner_spec, partner in partners:
                link = link_create(partner=partner, offer=offer)
                url = f"{base_url}/c/{link.code}"
                links.append({"code": link.code, "partner": partner_spec["username"], "url": url})
            offers_out.append(
                {
                    "id": offer.public_id,
                    "track_type": offer.track_type,
                    "currency": offer.currency,
                    "rules": [rule[0] for rule in spec["rules"]],
                    "links": links,
                }
            )

        self._seed_traffic(partners[0][1], advertiser)
        queue = self._demo_conversions(advertiser, Offer.objects.get(public_id=OFFERS[0]["public_id"]))

        made = {
            "admin": ADMIN,
            "review_queue": {"suspicious": queue, "url": f"{base_url}/admin/conversions/suspiciousconversion/"},
            "advertisers": [
                {
                    "name": advertiser.name,
                    "login": ADVERTISER_LOGIN,
                    "api_key": raw_key,
                    "postback_token": postback_token,
                    "offers": offers_out,
                }
            ],
            "partners": [{**spec, "referral_code": partner.referral_code} for spec, partner in partners],
        }
        if options["json"]:
            self.stdout.write(json.dumps(made))
        else:
            self._print_welcome(made, base_url)

    def _seed_traffic(self, partner: Partner, advertiser: Advertiser) -> None:
        """Two weeks of clicks and a few conversions for alice, so her dashboard has something to show (once)."""
        if Click.objects.filter(partner=partner).exists():
            return
        link = Link.objects.select_related("offer").get(partner=partner, offer__public_id="acme-shoes")
        now = timezone.now()
        rng = random.Random(6)  # noqa: S311 (the same demo every time, not a secret)
        for n in range(60):
            at = now - timedelta(days=rng.randint(0, 13), hours=rng.randint(0, 23), minutes=rng.randint(0, 59))
            metadata = RequestMetadata(ip=f"198.51.100.{n % 50}", user_agent="demo")
            sub_ids = {"sub1": rng.choice(["newsletter", "blog", "video"])}
            click = click_record(
                link=link, request=ClickRequest(metadata=metadata, referer="", sub_ids=sub_ids), now=at
            )
            if n % 6 == 0:
                amount = Decimal(f"{rng.randint(20, 300)}.{rng.randint(0, 99):02d}")
                reported_at = at + timedelta(minutes=7)
                _purchase_report(
                    advertiser,
                    now=reported_at,
                    processed_at=reported_at + timedelta(minutes=1),
                    external_id=f"demo-order-{n}",
                    amount=amount,
                    click_id=click.click_id,
                    occurred_at=reported_at,
                )

    def _demo_conversions(self, advertiser, offer) -> int:
        """A few conversions, most of which fraud screening holds; answers how many wait for review."""
        now = timezone.now()
        for index, (external_id, username, ctit, click_fields, report_fields) in enumerate(DEMO_CONVERSIONS):
            if Conversion.objects.filter(advertiser=advertiser, external_id=external_id).exists():
                continue
            link = Link.objects.get(partner__user__username=username, offer=offer)
            occurred_at = now - timedelta(minutes=len(DEMO_CONVERSIONS) - index)
            click = Click.objects.create(
                click_id=secrets.token_hex(16),
                link=link,
                offer=offer,
                partner=link.partner,
                created_at=occurred_at - timedelta(seconds=ctit),
                **click_fields,
            )
            _purchase_report(
                advertiser,
                now=now,
                processed_at=now,
                external_id=external_id,
                amount=Decimal("64.00"),
                click_id=click.click_id,
                occurred_at=occurred_at,
                **report_fields,
            )
        return Conversion.objects.filter(advertiser=advertiser, status=Conversion.Status.SUSPICIOUS).count()

    def _print_welcome(self, made, base_url):
        advertiser = made["advertisers"][0]
        lines = [
            "",
            "Affitrack demo data is ready.",
            f"  Admin:        {base_url}/admin/  (login {ADMIN['username']} / {ADMIN['password']})",
            f"  API docs:     {base_url}/api/docs/",
            f"  Health:       {base_url}/healthz",
            f"  Advertiser:   {base_url}/advertiser/  ({advertiser['name']}: login {ADVERTISER_LOGIN['username']} / "
            f"{ADVERTISER_LOGIN['password']}), API key {advertiser['api_key']}",
            f"  Partners:     {base_url}/dashboard/  (logins "
            + ", ".join(f"{p['username']} / {p['password']}" for p in made["partners"])
            + ")",
            f"  Alice's link: {advertiser['offers'][0]['links'][0]['url']}",
            f"  Review queue: {made['review_queue']['url']} ({made['review_queue']['suspicious']} suspicious)",
            "",
        ]
        self.stdout.write("\n".join(lines))
