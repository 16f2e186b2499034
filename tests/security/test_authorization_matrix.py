"""The authorization matrix, generated from the URLconf.

Every URL pattern under /dashboard/, /advertiser/, /v1/ and /admin/ is walked out of
`get_resolver()`. Its path parameters are filled, by keyword name, with objects the victim
tenant owns (alice for partner pages, Acme for advertiser pages and the API). Each role then
asks for it with GET and POST, and we check what it may see:

- anonymous: a redirect to the login page (pages) or 401/403 (API);
- bob / Globex (the outsider of the same kind): 404 or 403 on each of the victim's objects, and
  none of the victim's data in his own lists and exports; the victim's objects unchanged after;
- a login of the other kind (a partner on advertiser pages, an advertiser on the dashboard): 404;
- staff pages: everyone but staff is sent to the admin login.

A new URL pattern with a parameter this matrix cannot fill fails the test: add it here.
"""

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from conversions.claims.services import claim_submit
from conversions.models import Conversion, ConversionUpload, MissingConversionClaim, PartnerPostback
from conversions.postbacks.services import postback_create
from conversions.uploads.importing import upload_run
from conversions.uploads.services import upload_create
from referrals.models import ApiKey
from referrals.services import api_key_create
from rewards.payouts import payout_batch_create
from tests.dashboard.conftest import click_at, convert
from tests.factories import UserFactory
from tests.upload_helpers import _media_in_tmp  # noqa: F401 (autouse: uploads go to a temporary MEDIA_ROOT)

pytestmark = pytest.mark.django_db

MARK = "victim-secret-order"  # the victim's external id; it must appear in no outsider's page or export


def url_patterns(resolver=None, prefix: str = "", namespace: str = ""):
    """(route, name, parameter names) of every pattern in the URLconf, recursively."""
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace + (f"{pattern.namespace}:" if pattern.namespace else "")
            yield from url_patterns(pattern, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            params = list(pattern.pattern.regex.groupindex) or list(pattern.pattern.converters)
            yield prefix + str(pattern.pattern), namespace + (pattern.name or ""), params


def concrete(route: str, values: dict) -> str:
    """The route with each <converter:name> replaced by its value."""

    def fill(match):
        return str(values[match.group(1)])

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", fill, route)


# --- the victim's things -------------------------------------------------------------------------------


@pytest.fixture
def world(acme, globex, alice, bob, alice_link, offer, rule, settings):
    settings.POSTBACKS_ALLOW_PRIVATE = False
    conversion = convert(acme, click_at(alice_link, datetime(2026, 3, 10, 12, tzinfo=UTC)), external_id=MARK)
    postback = postback_create(partner=alice, url="https://hooks.example.com/alice")
    claim = claim_submit(
        partner=alice, offer=offer, order_id="victim-claim", purchase_date=timezone.now().date(), amount=Decimal("10")
    )
    acme_member = UserFactory(username="acme-member")
    acme.members.add(acme_member)
    globex_member = UserFactory(username="globex-member")
    globex.members.add(globex_member)
    key, acme_raw_key = api_key_create(advertiser=acme, name="victim key")
    _, globex_raw_key = api_key_create(advertiser=globex, name="outsider key")
    upload = upload_create(
        advertiser=acme,
        kind=ConversionUpload.Kind.RECONCILIATION,
        name="victim.csv",
        raw=f"external_id,amount\n{MARK},100\n".encode(),
        billing_month=date(2026, 3, 1),
    )
    upload = upload_run(upload_id=upload.pk)
    staff = UserFactory(username="staff", is_staff=True, is_superuser=True)
    batch = payout_batch_create(currency="USD", period_end=timezone.now().date(), now=timezone.now())
    return {
        "conversion": conversion,
        "postback": postback,
        "claim": claim,
        "link": alice_link,
        "offer": offer,
        "upload": upload,
        "key": key,
        "acme_member": acme_member,
        "globex_member": globex_member,
        "acme_raw_key": acme_raw_key,
        "globex_raw_key": globex_raw_key,
        "staff": staff,
        "batch": batch,
        "alice": alice,
        "bob": bob,
    }


def fillers(world) -> dict:
    """Path parameter values by area and keyword name: always the victim's objects."""
    return {
        "dashboard": {
            "conversion_id": world["conversion"].pk,
            "link_id": world["link"].pk,
            "public_id": world["offer"].public_id,
            "postback_id": world["postback"].pk,
            "claim_id": world["claim"].pk,
        },
        "advertiser": {
            "public_id": world["offer"].public_id,
            "pk": world["upload"].pk,  # upload pages; the api-key revoke gets the key (see below)
        },
        "v1": {
            "conversion_id": world["conversion"].pk,
            "external_id": world["conversion"].external_id,
        },
        "admin": {
            "batch_id": world["batch"].pk,
            "pk": world["upload"].pk,
            "id": world["staff"].pk,
            "object_id": world["conversion"].pk,
            "content_type_id": 1,
            "queue_index": 0,
            "scheduler_index": 0,
            "connection_index": 0,
            "job_id": "no-such-job",
            "result_id": "no-such-result",
            "key": "no-such-worker",
            "scheduler_name": "no-such-scheduler",
            "cron_job_name": "no-such-cron",
            "token": "x",
            "app_label": "conversions",
            "url": "conversions/conversion/",
        },
    }


# Objects a logged-in partner may legitimately reach whoever owns them: any partner may ask to join an offer.
SHARED = {"dashboard:offer_join"}
# Ingestion endpoints authenticate by their own token or are public by design (the pixel always answers a GIF).
INGESTION = {"api-convert", "api-postback", "api-pixel"}
# Read with a partner token only (advertiser keys are refused).
PARTNER_API = {"api-clicks"}
# The generic admin patterns are sampled per registered model below.
ADMIN_GENERIC = re.compile(r"^admin:(\w+)_(changelist|add|change|delete|history)$")


def matrix_urls(world) -> list[tuple[str, str, str, bool]]:
    """(area, name, url, owns_object) for every pattern of the four areas; fails on a parameter it cannot fill."""
    values = fillers(world)
    unknown, urls = [], []
    for route, name, params in url_patterns():
        area = route.split("/", 1)[0]
        if area not in values:
            continue
        if area == "admin" and ADMIN_GENERIC.match(name):
            continue
        known = values[area] | ({"pk": world["key"].pk} if name == "advertiser:api_key_revoke" else {})
        missing = [param for param in params if param not in known]
        if missing:
            unknown.append(f"{route} ({name}): {missing}")
            continue
        if "?P<" in route or "^" in route:
            url = {"admin:app_list": "/admin/conversions/", "admin:": None}.get(name, "/admin/django_rq/dashboard/")
            if url is None:
                continue  # the admin's catch-all
        else:
            url = concrete(route, {param: known[param] for param in params})
        urls.append((area, name, url, bool(params)))
    assert not unknown, "New URL patterns the authorization matrix cannot fill; add them:\n" + "\n".join(unknown)
    return urls


def snapshot(world) -> dict:
    """What an outsider must never be able to change."""
    postback = PartnerPostback.objects.filter(pk=world["postback"].pk).values().first()
    return {
        "conversion": Conversion.objects.filter(pk=world["conversion"].pk).values().first(),
        "postback": postback,
        "claim": MissingConversionClaim.objects.filter(pk=world["claim"].pk).values().first(),
        "key": ApiKey.objects.filter(pk=world["key"].pk).values().first(),
        "upload": ConversionUpload.objects.filter(pk=world["upload"].pk).values().first(),
        "acme_keys": ApiKey.objects.filter(advertiser=world["conversion"].advertiser).count(),
    }


def logged_in(client_class, user):
    client = client_class()
    client.force_login(user)
    return client


def body_of(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


# Data an outsider POSTs to every page: the victim's ids, so a view that trusts form data is caught.
def hostile_form(world) -> dict:
    return {
        "conversion": [str(world["conversion"].pk)],
        "decision": "reject",
        "reason": "taken over",
        "postback": world["postback"].pk,
        "claim": world["claim"].pk,
        "key": world["key"].pk,
        "advertiser": world["conversion"].advertiser_id,
        "url": "https://evil.example/hook",
        "offer": world["offer"].pk,
    }


def test_every_pattern_is_filled_and_outsiders_get_nothing_of_the_victims(world):
    from django.test import Client

    urls = matrix_urls(world)
    assert {area for area, *_ in urls} == {"dashboard", "advertiser", "v1", "admin"}
    before = snapshot(world)
    anonymous = Client()
    bob = logged_in(Client, world["bob"].user)
    alice = logged_in(Client, world["alice"].user)
    globex = logged_in(Client, world["globex_member"])
    acme = logged_in(Client, world["acme_member"])
    globex_api = APIClient()
    globex_api.credentials(HTTP_AUTHORIZATION=f"Bearer {world['globex_raw_key']}")
    acme_api = APIClient()
    acme_api.credentials(HTTP_AUTHORIZATION=f"Bearer {world['acme_raw_key']}")
    form = hostile_form(world)
    failures = []

    def expect(role, method, url, response, allowed):
        if response.status_code not in allowed:
            failures.append(f"{role} {method} {url}: {response.status_code}, expected one of {sorted(allowed)}")
        elif response.status_code == 200 and MARK in body_of(response):
            failures.append(f"{role} {method} {url}: shows the victim's {MARK}")

    # The API last: an outsider's own refused API calls (naming the victim's order id in a URL) are
    # rightly in the outsider's request log, which the page check would otherwise count as a leak.
    for area, name, url, owns_object in sorted(urls, key=lambda entry: entry[0] == "v1"):
        if area == "admin":
            for role, who in [("anonymous", anonymous), ("alice", alice), ("acme member", acme)]:
                response = who.get(url)
                if response.status_code != 302 or "/admin/login/" not in response["Location"]:
                    if name not in ("admin:login", "admin:logout", "admin:jsi18n"):
                        failures.append(f"{role} GET {url}: {response.status_code}, expected the admin login")
            continue
        if area == "v1":
            if name in INGESTION:
                if name != "api-pixel":
                    expect("anonymous", "POST", url, anonymous.post(url, {}), {401, 403})
                    expect("globex", "POST", url, globex_api.post(url, {}, format="json"), {400, 401, 403})
                continue
            expect("anonymous", "GET", url, anonymous.get(url), {401, 403})
            expect("partner alice", "GET", url, logged_in(APIClient, world["alice"].user).get(url), {401, 403})
            if name in PARTNER_API:
                expect("globex key", "GET", url, globex_api.get(url), {401, 403})
                expect("acme key", "GET", url, acme_api.get(url), {401, 403})
                continue
            if owns_object:
                expect("globex key", "GET", url, globex_api.get(url), {404, 405})
                body = {"status": "rejected", "reason": "taken over"}
                expect("globex key", "POST", url, globex_api.post(url, body, format="json"), {404, 405})
                assert acme_api.get(url).status_code in (200, 405), f"the owner cannot reach {url}"
            else:
                expect("globex key", "GET", url, globex_api.get(url), {200})
            continue
        # Pages: anonymous to the login page, the other kind of login 404, the outsider nothing of the victim's.
        owner, outsider, other_kind = (alice, bob, acme) if area == "dashboard" else (acme, globex, alice)
        for method in ("GET", "POST"):
            response = anonymous.get(url) if method == "GET" else anonymous.post(url, form)
            # 405: a POST-only URL refuses a GET before anything else, which shows nothing.
            if response.status_code not in (302, 405) or (
                response.status_code == 302 and "/accounts/login/" not in response["Location"]
            ):
                failures.append(f"anonymous {method} {url}: {response.status_code}, expected a redirect to the login")
        expect("other kind", "GET", url, other_kind.get(url), {404, 405})
        if owns_object and name not in SHARED:
            expect("outsider", "GET", url, outsider.get(url), {403, 404, 405})
            expect("outsider", "POST", url, outsider.post(url, form), {403, 404, 405})
            assert owner.get(url).status_code in (200, 405), f"the owner cannot reach {url}: the filler is wrong"
        else:
            expect("outsider", "GET", url, outsider.get(url), {200, 302, 404, 405})
            expect("outsider", "POST", url, outsider.post(url, form), {200, 302, 400, 404, 405})

    assert not failures, "\n".join(failures)
    after = snapshot(world)
    assert {k: v for k, v in after.items() if k != "acme_keys"} == {k: v for k, v in before.items() if k != "acme_keys"}
    assert after["acme_keys"] == before["acme_keys"]  # Globex's POST to the key page made a Globex key, not Acme's


def test_admin_changelists_and_change_pages_are_staff_only(world):
    from django.test import Client

    outsiders = [Client(), logged_in(Client, world["alice"].user), logged_in(Client, world["acme_member"])]
    objects = {
        Conversion: world["conversion"],
        PartnerPostback: world["postback"],
        MissingConversionClaim: world["claim"],
        ApiKey: world["key"],
        ConversionUpload: world["upload"],
    }
    for model in admin.site._registry:
        meta = model._meta
        pages = [f"/admin/{meta.app_label}/{meta.model_name}/"]
        if model in objects:
            pages.append(f"/admin/{meta.app_label}/{meta.model_name}/{objects[model].pk}/change/")
        for url in pages:
            assert logged_in(Client, world["staff"]).get(url).status_code == 200, url
            for client in outsiders:
                response = client.get(url)
                assert response.status_code == 302 and "/admin/login/" in response["Location"], url


def test_a_partner_token_reads_only_the_partners_own_and_nothing_of_the_advertiser_api(world):
    from referrals.partner_tokens import partner_token_rotate

    _, raw = partner_token_rotate(partner=world["bob"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    listing = client.get("/v1/conversions")
    assert listing.status_code == 200 and MARK not in body_of(listing)
    assert client.get(f"/v1/conversions/{world['conversion'].pk}").status_code == 404
    assert client.get("/v1/request-log").status_code in (401, 403)
    for url in ["/v1/convert", f"/v1/conversions/{world['conversion'].pk}/status"]:
        assert client.post(url, {}, format="json").status_code in (401, 403), url
