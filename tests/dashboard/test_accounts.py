"""Profile, password change and reset, and the partner API token."""

import re

import pytest
from django.core import mail
from rest_framework.test import APIRequestFactory

from conversions.reports.api import PartnerTokenAuthentication
from referrals.models import PartnerApiToken
from referrals.services import secret_digest

pytestmark = pytest.mark.django_db


def test_profile_saves_time_zone_and_payout_details(alice_client, alice):
    response = alice_client.post(
        "/dashboard/profile/",
        {"time_zone": "Europe/Berlin", "payout_method": "paypal", "payout_details": "alice@example.com"},
    )

    assert response.status_code == 302
    alice.refresh_from_db()
    assert (alice.time_zone, alice.payout_method, alice.payout_details) == (
        "Europe/Berlin",
        "paypal",
        "alice@example.com",
    )


def test_profile_refuses_an_unknown_time_zone(alice_client, alice):
    response = alice_client.post("/dashboard/profile/", {"time_zone": "Mars/Olympus", "payout_method": ""})

    assert response.status_code == 200 and response.context["form"].errors["time_zone"]
    alice.refresh_from_db()
    assert alice.time_zone == "UTC"


def test_profile_form_fields_are_labelled(alice_client):
    html = alice_client.get("/dashboard/profile/").content.decode()
    for field in ("id_time_zone", "id_payout_method", "id_payout_details"):
        assert f'for="{field}"' in html


def test_password_change(alice_client, alice):
    response = alice_client.post(
        "/accounts/password_change/",
        {"old_password": "password", "new_password1": "a-Longer-new-pass-42", "new_password2": "a-Longer-new-pass-42"},
    )

    assert response.status_code == 302
    alice.user.refresh_from_db()
    assert alice.user.check_password("a-Longer-new-pass-42")


def test_password_reset_sends_a_link_that_sets_a_new_password(client, alice):
    alice.user.email = "alice@example.com"
    alice.user.save()

    client.post("/accounts/password_reset/", {"email": "alice@example.com"})

    assert len(mail.outbox) == 1 and mail.outbox[0].subject == "Reset your Affitrack password"
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200 and "Choose a new password" in form_page.content.decode()
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "a-Longer-new-pass-42", "new_password2": "a-Longer-new-pass-42"},
    )
    assert done.status_code == 302
    alice.user.refresh_from_db()
    assert alice.user.check_password("a-Longer-new-pass-42")


def _shown_token(response) -> str:
    return re.search(r'<code id="new-token">(pk_[^<]+)</code>', response.content.decode()).group(1)


def test_api_token_is_shown_once_and_stored_as_a_digest(alice_client, alice):
    raw = _shown_token(alice_client.post("/dashboard/profile/api-token/rotate"))

    token = PartnerApiToken.objects.get(partner=alice)
    assert token.token_hash == secret_digest(raw) and raw not in token.token_hash
    assert raw not in alice_client.get("/dashboard/profile/").content.decode()
    assert token.prefix in alice_client.get("/dashboard/profile/").content.decode()


def _authenticate(raw: str):
    request = APIRequestFactory().get("/v1/anything", HTTP_AUTHORIZATION=f"Bearer {raw}")
    return PartnerTokenAuthentication().authenticate(request)


def test_the_token_authenticates_the_partner_and_rotation_retires_the_old_one(alice_client, alice):
    first = _shown_token(alice_client.post("/dashboard/profile/api-token/rotate"))
    user, partner = _authenticate(first)
    assert partner == alice and user == alice.user

    second = _shown_token(alice_client.post("/dashboard/profile/api-token/rotate"))

    assert _authenticate(second)[1] == alice
    with pytest.raises(Exception, match="Invalid partner API token"):
        _authenticate(first)
    assert PartnerApiToken.objects.filter(partner=alice, revoked_at__isnull=True).count() == 1


def test_a_revoked_token_stops_working_and_other_schemes_are_left_alone(alice_client, alice):
    raw = _shown_token(alice_client.post("/dashboard/profile/api-token/rotate"))
    alice_client.post("/dashboard/profile/api-token/revoke")

    with pytest.raises(Exception, match="Invalid partner API token"):
        _authenticate(raw)
    assert _authenticate("ak_an-advertiser-key") is None


def test_token_pages_need_a_post(alice_client):
    assert alice_client.get("/dashboard/profile/api-token/rotate").status_code == 405
