import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_pages_carry_security_headers_and_a_request_id(client):
    response = client.get("/accounts/login/")

    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert len(response["X-Request-ID"]) == 32


def test_a_sane_incoming_request_id_is_kept_and_a_hostile_one_replaced(client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="lb-1234abcd")["X-Request-ID"] == "lb-1234abcd"
    assert client.get("/healthz", HTTP_X_REQUEST_ID="x\r\nSet-Cookie: a=b")["X-Request-ID"] != "x"


def test_log_lines_are_json_with_the_request_id(client, caplog):
    from core.log_format import logging_config

    formatter = logging.config.dictConfigClass(logging_config(level="INFO", json_lines=True)).configure_formatter(
        logging_config(level="INFO", json_lines=True)["formatters"]["structured"]
    )
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get("/v1/conversions")  # 401, which Django logs as a warning
    record = next(r for r in caplog.records if r.name == "django.request")

    line = json.loads(formatter.format(record))
    assert line["level"] == "warning" and line["request_id"] == response["X-Request-ID"]


def test_login_is_locked_after_five_failures_even_with_the_right_password(client, settings):
    settings.LOGIN_FAILURE_LIMIT = 5
    UserFactory(username="alice")

    for _ in range(5):
        client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    locked = client.post("/accounts/login/", {"username": "alice", "password": "password"})

    assert locked.status_code == 200 and "_auth_user_id" not in client.session
    assert UserFactory(username="bob") and client.login(username="bob", password="password")  # others unaffected


def test_a_successful_login_resets_the_failure_count(client):
    UserFactory(username="alice")
    for _ in range(4):
        client.post("/accounts/login/", {"username": "alice", "password": "wrong"})

    client.post("/accounts/login/", {"username": "alice", "password": "password"})
    client.logout()
    for _ in range(4):
        client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    client.post("/accounts/login/", {"username": "alice", "password": "password"})

    assert "_auth_user_id" in client.session


def test_metrics_need_their_token(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404

    settings.METRICS_TOKEN = "s3cret-metrics-token"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token")

    body = response.content.decode()
    assert response.status_code == 200
    assert "django_http_requests_total_by_method_total" in body and "rq_jobs" in body


def test_readyz_is_ok_when_migrated(client):
    assert client.get("/readyz").json() == {"status": "ok", "checks": {"migrations": "ok"}}


def test_check_deploy_is_clean_with_the_production_settings():
    # The production environment: nothing of the test run's own (the browser tests relax async safety).
    inherited = {name: value for name, value in os.environ.items() if name != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {
        **inherited,
        "DEBUG": "0",
        "SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnop",
        "SECURE_HTTPS": "1",
        "ALLOWED_HOSTS": "track.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_pages_send_a_content_security_policy_without_inline_scripts(client):
    login = client.get("/accounts/login/")
    docs = client.get("/api/docs/")

    policy = login["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert docs.status_code == 200 and "Content-Security-Policy" in docs
    assert "<script>" not in docs.content.decode()  # Swagger UI's init script is a file of its own
