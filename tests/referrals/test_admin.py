"""The referrals admin: lists and pages render, secrets are shown once, clicks are read-only."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from referrals.models import ApiKey, Click
from referrals.services import advertiser_for_api_key, api_key_create, secret_digest
from tests.factories import AdvertiserFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def click(alice_link):
    return Click.objects.create(
        click_id="f" * 32,
        link=alice_link,
        offer=alice_link.offer,
        partner=alice_link.partner,
        created_at=timezone.now() - timedelta(minutes=5),
        ip="203.0.113.7",
        sub1="spring",
    )


@pytest.fixture
def data(acme, acme_key, offer, alice, alice_link, click):
    """One of everything, for the pages to show."""
    return {
        "advertiser": (acme, "Acme"),
        "apikey": (ApiKey.objects.get(advertiser=acme), acme_key[:10]),
        "offer": (offer, "acme-shoes"),
        "partner": (alice, "ALICE"),
        "link": (alice_link, "alice-shoes"),
        "click": (click, "f" * 32),
    }


@pytest.mark.parametrize("model", ["advertiser", "apikey", "offer", "partner", "link", "click"])
def test_changelist_and_change_page_render_with_data(admin_client, data, model):
    obj, text = data[model]

    listing = admin_client.get(reverse(f"admin:referrals_{model}_changelist"))
    page = admin_client.get(reverse(f"admin:referrals_{model}_change", args=[obj.pk]))

    assert listing.status_code == 200 and text in listing.content.decode()
    assert page.status_code == 200 and text in page.content.decode()


@pytest.mark.parametrize("model", ["advertiser", "offer", "partner", "link"])
def test_add_page_renders(admin_client, model):
    assert admin_client.get(reverse(f"admin:referrals_{model}_add")).status_code == 200


@pytest.mark.parametrize("query", ["f" * 32, "203.0.113.7", "nothing-like-this"])
def test_click_search_answers_any_term(admin_client, click, query):
    response = admin_client.get(reverse("admin:referrals_click_changelist"), {"q": query})

    assert response.status_code == 200
    assert (click.click_id in response.content.decode()) == (query != "nothing-like-this")


def test_link_shows_its_full_tracking_url(admin_client, alice_link):
    expected = f"{settings.SITE_URL}/c/alice-shoes"

    listing = admin_client.get(reverse("admin:referrals_link_changelist"))
    page = admin_client.get(reverse("admin:referrals_link_change", args=[alice_link.pk]))

    assert expected in listing.content.decode() and expected in page.content.decode()


def test_advertiser_page_lists_its_api_keys_by_prefix_only(admin_client, acme, acme_key):
    response = admin_client.get(reverse("admin:referrals_advertiser_change", args=[acme.pk]))

    content = response.content.decode()
    assert acme_key[:10] in content
    assert acme_key not in content


def test_create_api_key_shows_the_key_once_and_stores_only_its_hash(admin_client, acme):
    changelist = reverse("admin:referrals_advertiser_changelist")

    response = admin_client.post(
        changelist, {"action": "create_api_key", "index": "0", "_selected_action": [acme.pk]}, follow=True
    )

    content = response.content.decode()
    raw = re.search(r"ak_[A-Za-z0-9_-]{43}", content).group(0)
    key = ApiKey.objects.get(advertiser=acme)
    assert key.key_hash == secret_digest(raw) and key.prefix == raw[:10]
    assert raw not in {key.name, key.prefix, key.key_hash}
    assert advertiser_for_api_key(raw) == acme
    # Shown once: the next page no longer has it.
    assert raw not in admin_client.get(changelist).content.decode()
    assert raw not in admin_client.get(reverse("admin:referrals_apikey_change", args=[key.pk])).content.decode()


def test_rotate_postback_token_shows_the_token_once_and_stores_only_its_hash(admin_client, acme):
    changelist = reverse("admin:referrals_advertiser_changelist")

    response = admin_client.post(
        changelist, {"action": "rotate_postback_token", "index": "0", "_selected_action": [acme.pk]}, follow=True
    )

    raw = re.search(r"pt_[A-Za-z0-9_-]{32}", response.content.decode()).group(0)
    acme.refresh_from_db()
    assert acme.postback_token_hash == secret_digest(raw)
    assert raw not in admin_client.get(changelist).content.decode()


def test_revoke_api_keys_stops_them_working(admin_client, acme, acme_key):
    key = ApiKey.objects.get(advertiser=acme)

    response = admin_client.post(
        reverse("admin:referrals_apikey_changelist"),
        {"action": "revoke_api_keys", "index": "0", "_selected_action": [key.pk]},
        follow=True,
    )

    key.refresh_from_db()
    assert key.revoked_at is not None
    assert advertiser_for_api_key(acme_key) is None
    assert "Revoked 1 API key(s)." in [str(m) for m in response.context["messages"]]


def test_revoking_an_already_revoked_key_keeps_its_revocation_time(admin_client, acme, acme_key):
    key = ApiKey.objects.get(advertiser=acme)
    earlier = timezone.now() - timedelta(days=3)
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=earlier)

    admin_client.post(
        reverse("admin:referrals_apikey_changelist"),
        {"action": "revoke_api_keys", "index": "0", "_selected_action": [key.pk]},
    )

    key.refresh_from_db()
    assert key.revoked_at == earlier


def test_api_keys_cannot_be_added_or_deleted_in_the_admin(admin_client, acme, acme_key):
    key = ApiKey.objects.get(advertiser=acme)

    assert admin_client.get(reverse("admin:referrals_apikey_add")).status_code == 403
    assert (
        admin_client.post(reverse("admin:referrals_apikey_delete", args=[key.pk]), {"post": "yes"}).status_code == 403
    )
    assert ApiKey.objects.filter(pk=key.pk).exists()


def test_staff_who_may_only_view_advertisers_cannot_make_keys(acme):
    charlie = UserFactory(username="charlie", is_staff=True)
    charlie.user_permissions.add(Permission.objects.get(codename="view_advertiser"))
    client = Client()
    client.force_login(charlie)

    response = client.post(
        reverse("admin:referrals_advertiser_changelist"),
        {"action": "create_api_key", "index": "0", "_selected_action": [acme.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "create_api_key" not in response.content.decode()
    assert not ApiKey.objects.exists()
    acme.refresh_from_db()
    assert acme.postback_token_hash is None


def test_clicks_are_read_only(admin_client, click):
    url = reverse("admin:referrals_click_change", args=[click.pk])

    assert 'name="_save"' not in admin_client.get(url).content.decode()
    assert admin_client.post(url, {"is_bot": "on"}).status_code == 403
    assert admin_client.get(reverse("admin:referrals_click_add")).status_code == 403
    click.refresh_from_db()
    assert click.is_bot is False


def test_click_list_filters_by_bot(admin_client, click):
    response = admin_client.get(reverse("admin:referrals_click_changelist"), {"is_bot__exact": "1"})

    assert response.status_code == 200
    assert click.click_id not in response.content.decode()


def test_offer_currency_is_fixed_once_created(admin_client, offer):
    response = admin_client.get(reverse("admin:referrals_offer_change", args=[offer.pk]))

    assert "currency" not in response.context["adminform"].form.fields
    assert "status" in response.context["adminform"].form.fields


def test_advertiser_changelist_query_count_does_not_grow_with_advertisers(admin_client, acme, acme_key):
    url = reverse("admin:referrals_advertiser_changelist")
    admin_client.get(url)  # warm up the session and content types
    with CaptureQueriesContext(connection) as one:
        admin_client.get(url)
    for number in range(3):
        advertiser = AdvertiserFactory()
        api_key_create(advertiser=advertiser)
        api_key_create(advertiser=advertiser, name=f"second {number}")

    with CaptureQueriesContext(connection) as four:
        response = admin_client.get(url)

    assert len(four) == len(one)
    assert response.context["cl"].result_count == 4


def test_rotating_the_signing_secret_shows_it_once_and_keeps_the_previous_valid(admin_client, db):
    from referrals.models import Advertiser

    advertiser = Advertiser.objects.create(name="Signer")
    admin_client.post(
        "/admin/referrals/advertiser/", {"action": "rotate_signing_secret", "_selected_action": [advertiser.pk]}
    )
    first = Advertiser.objects.get(pk=advertiser.pk).signing_secret
    response = admin_client.post(
        "/admin/referrals/advertiser/",
        {"action": "rotate_signing_secret", "_selected_action": [advertiser.pk]},
        follow=True,
    )

    advertiser.refresh_from_db()
    assert advertiser.signing_secret_previous == first and advertiser.signing_secret != first
    assert advertiser.signing_secret in response.content.decode()
