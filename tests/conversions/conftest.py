from datetime import timedelta

import pytest
from django.utils import timezone

from referrals.models import Click
from referrals.services import postback_token_rotate, signing_secret_rotate


@pytest.fixture
def make_click(alice_link):
    def make(click_id: str = "c" * 32, *, link=None, age: timedelta = timedelta(hours=1), **fields) -> Click:
        link = link or alice_link
        return Click.objects.create(
            click_id=click_id,
            link=link,
            offer=link.offer,
            partner=link.partner,
            created_at=timezone.now() - age,
            **fields,
        )

    return make


@pytest.fixture
def click(make_click):
    return make_click()


@pytest.fixture
def postback_token(acme):
    return postback_token_rotate(advertiser=acme)


@pytest.fixture
def signing_secret(acme):
    return signing_secret_rotate(advertiser=acme)


from tests.upload_helpers import _media_in_tmp, acme_client, acme_user, globex_user, manual_offer  # noqa: F401, E402
