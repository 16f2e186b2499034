import pytest
from django.conf import settings
from django.contrib.staticfiles import finders

from core.redis_config import redis_queue_config

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_and_redis(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_healthz_answers_503_when_redis_is_unreachable(client, monkeypatch):
    monkeypatch.setitem(settings.RQ_QUEUES, "default", {"URL": "redis://127.0.0.1:1/0"})

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("error")


def test_healthz_answers_503_when_no_sentinel_answers(client, monkeypatch):
    config = redis_queue_config("redis://127.0.0.1:6379/0", sentinels=["127.0.0.1:1"], master="affitrack")
    monkeypatch.setitem(settings.RQ_QUEUES, "default", config)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("error")


def test_livez_answers_200_while_the_database_answers_though_redis_does_not(client, monkeypatch):
    monkeypatch.setitem(settings.RQ_QUEUES, "default", {"URL": "redis://127.0.0.1:1/0"})

    response = client.get("/livez")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}


def test_livez_answers_200_on_redis_alone_and_503_on_neither(client, settings, monkeypatch):
    from django.db import connection

    monkeypatch.setitem(connection.settings_dict, "PORT", "1")
    connection.close()
    try:
        alive = client.get("/livez")
        monkeypatch.setitem(settings.RQ_QUEUES, "default", {"URL": "redis://127.0.0.1:1/0"})
        cut_off = client.get("/livez")
    finally:
        monkeypatch.undo()
        connection.close()

    assert alive.status_code == 200
    assert alive.json()["checks"] == {"database": "error: OperationalError", "redis": "ok"}
    assert cut_off.status_code == 503
    assert cut_off.json()["status"] == "error"


def test_openapi_schema_describes_the_convert_endpoint(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    schema = response.json()
    operation = schema["paths"]["/v1/convert"]["post"]
    assert {"202", "200", "400", "401", "404"} <= set(operation["responses"])
    assert "AdvertiserKey" in schema["components"]["securitySchemes"]


def test_swagger_ui_is_served_without_a_cdn(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html and "cdn" not in html.lower()


def test_every_page_has_the_icon_and_favicon_ico_leads_to_it(client, admin_client):
    icon = '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'

    assert icon in client.get("/accounts/login/").content.decode()
    assert icon in admin_client.get("/admin/").content.decode()
    answer = client.get("/favicon.ico")
    assert answer.status_code == 301 and answer["Location"] == "/static/favicon.svg"
    assert finders.find("favicon.svg")  # collectstatic ships it
