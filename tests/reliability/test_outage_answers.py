"""The pieces the outage proofs rely on, one by one: what counts as an outage, the retry loop's one warning
per outage, the 503 with Retry-After in each place an outage can surface, and the refusal to start on a
built-in SECRET_KEY."""

import logging
import os
import subprocess
import sys

import pytest
import redis
from django.db import OperationalError
from django.test import RequestFactory

from core.api_errors import api_exception_handler, server_error
from core.outages import outage_is, outages_ride_out
from tests.reliability.conftest import ROOT


def test_connection_errors_of_either_service_are_outages_and_bugs_are_not():
    wrapped = RuntimeError("while flushing")
    wrapped.__cause__ = redis.exceptions.ConnectionError("refused")

    assert outage_is(OperationalError("the database system is shutting down"))
    assert outage_is(redis.exceptions.TimeoutError()) and outage_is(wrapped)
    assert not outage_is(ValueError("a bug")) and not outage_is(redis.exceptions.ResponseError("WRONGTYPE"))


def test_the_loop_retries_through_an_outage_and_logs_its_start_and_end_once(caplog):
    failures = iter([OperationalError("refused")] * 4)
    delays = []

    def step():
        error = next(failures, None)
        if error:
            raise error
        return 7

    with caplog.at_level(logging.WARNING, logger="core.outages"):
        result = outages_ride_out(step, process="flush_clicks", sleep=delays.append)

    assert result == 7 and delays == [0.5, 1.0, 2.0, 4.0]
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("flush_clicks: PostgreSQL unavailable") and "back after" in messages[1]


def test_the_loop_lets_a_bug_through_at_once():
    def step():
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        outages_ride_out(step, process="worker", sleep=lambda seconds: None)


@pytest.mark.parametrize(("path", "content_type"), [("/v1/convert", "application/json"), ("/dashboard/", "text/plain")])
def test_an_outage_that_reaches_django_answers_503_with_retry_after(path, content_type):
    request = RequestFactory().get(path)
    try:
        raise OperationalError("connection refused")
    except OperationalError:
        response = server_error(request)  # Django calls it inside its own except

    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response["Content-Type"].startswith(content_type)


def test_an_outage_inside_an_api_view_answers_503_in_the_error_shape():
    request = RequestFactory().post("/v1/convert")

    response = api_exception_handler(redis.exceptions.ConnectionError("refused"), {"request": request})

    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.content and b'"code": "unavailable"' in response.content.replace(b'":"', b'": "')


def test_a_bug_on_the_api_answers_a_json_500_not_an_html_page():
    request = RequestFactory().get("/v1/conversions")
    try:
        raise KeyError("a bug")
    except KeyError:
        response = server_error(request)

    assert response.status_code == 500 and response["Content-Type"] == "application/json"


def test_with_debug_off_and_no_secret_key_the_app_refuses_to_start():
    env = {name: value for name, value in os.environ.items() if name not in ("SECRET_KEY", "DEBUG")}
    env["DJANGO_SETTINGS_MODULE"] = "config.settings"

    refused = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    debug = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env={**env, "DEBUG": "1"}, capture_output=True, text=True
    )

    assert refused.returncode != 0 and "SECRET_KEY is not set" in refused.stderr
    assert debug.returncode == 0, debug.stderr[-2000:]
