"""The in-process cache of link and API key lookups (referrals/hot_cache.py): fewer queries, bounded staleness."""

import time

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from referrals.models import ApiKey, Click, Offer
from referrals.services import api_key_revoke


def test_a_key_revoked_elsewhere_stops_working_once_the_ttl_has_passed(acme_api, settings):
    settings.HOT_CACHE_TTL_SECONDS = 1
    assert acme_api.get("/v1/conversions").status_code == 200

    # Another process revokes it: this worker still trusts its cached lookup, for at most the TTL.
    ApiKey.objects.update(revoked_at=timezone.now())
    assert acme_api.get("/v1/conversions").status_code == 200
    time.sleep(1.1)

    assert acme_api.get("/v1/conversions").status_code == 401


def test_a_key_revoked_in_this_process_stops_working_at_once(acme_api, acme, settings):
    settings.HOT_CACHE_TTL_SECONDS = 60
    assert acme_api.get("/v1/conversions").status_code == 200

    api_key_revoke(api_key=ApiKey.objects.get(advertiser=acme))

    assert acme_api.get("/v1/conversions").status_code == 401


def test_repeat_clicks_read_the_link_from_the_cache(client, alice_link, settings):
    settings.HOT_CACHE_TTL_SECONDS = 60
    client.get("/c/alice-shoes")

    with CaptureQueriesContext(connection) as captured:
        response = client.get("/c/alice-shoes")

    assert response.status_code == 302
    assert Click.objects.count() == 2
    assert not any("referrals_link" in query["sql"] for query in captured.captured_queries)


def test_an_offer_paused_through_the_models_answers_at_once(client, alice_link, settings):
    settings.HOT_CACHE_TTL_SECONDS = 60
    assert client.get("/c/alice-shoes").status_code == 302

    alice_link.offer.status = Offer.Status.PAUSED
    alice_link.offer.save()

    assert client.get("/c/alice-shoes").status_code == 404


def test_ttl_zero_turns_the_cache_off(client, alice_link, settings):
    settings.HOT_CACHE_TTL_SECONDS = 0
    client.get("/c/alice-shoes")
    Offer.objects.update(status=Offer.Status.PAUSED)  # a queryset update: no signal

    assert client.get("/c/alice-shoes").status_code == 404


def test_the_plain_sql_click_read_gives_what_the_orm_reads(client, alice_link):
    from django.forms.models import model_to_dict

    from referrals.selectors import click_for_click_id

    client.get("/c/alice-shoes", {"sub1": "a", "sub5": "e"}, HTTP_USER_AGENT="Mozilla/5.0 Chrome/120.0")
    expected = Click.objects.get()

    click = click_for_click_id(expected.click_id)

    assert model_to_dict(click) == model_to_dict(expected) and click.pk == expected.pk
    assert {type(getattr(click, name)) for name in ("ip", "created_at", "is_unique")} == {
        type(getattr(expected, name)) for name in ("ip", "created_at", "is_unique")
    }
    assert click.offer.public_id == "acme-shoes"
