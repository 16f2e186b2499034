import pytest

from tests.factories import AdvertiserFactory, PartnerFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_login_page_renders_with_labelled_fields(client):
    html = client.get("/accounts/login/").content.decode()

    assert '<label for="id_username">' in html and '<label for="id_password">' in html


def test_wrong_password_shows_an_error_and_stays_logged_out(client):
    UserFactory(username="alice")

    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})

    assert response.status_code == 200 and 'role="alert"' in response.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    ("role", "destination"), [("partner", "/dashboard/"), ("advertiser", "/advertiser/"), ("staff", "/admin/")]
)
def test_after_login_each_role_lands_on_its_own_pages(client, role, destination):
    user = UserFactory(username="someone", is_staff=role == "staff")
    if role == "partner":
        PartnerFactory(user=user)
    elif role == "advertiser":
        AdvertiserFactory().members.add(user)

    response = client.post("/accounts/login/", {"username": "someone", "password": "password"}, follow=False)
    landing = client.get(response["Location"])

    assert landing.status_code == 302 and landing["Location"] == destination


def test_a_login_with_no_role_gets_404(client):
    UserFactory(username="nobody")
    client.login(username="nobody", password="password")

    assert client.get("/").status_code == 404
