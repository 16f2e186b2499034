"""schemathesis over every operation, with each role's credentials, in both of its modes.

Requests the schema allows: every answer matches the schema (status, content type, body). Requests it
forbids: never a 5xx, and answered in a documented status and content type. (That each forbidden request
is refused is not asked: like any API, ours ignores query parameters it does not know, which the
schema cannot say.) Bounded, and derandomized so that CI runs the same examples each time.
"""

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, checks

from referrals.partner_tokens import partner_token_rotate
from referrals.services import postback_token_rotate

pytestmark = pytest.mark.django_db
BOUNDED = settings(
    max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True
)
CHECKS = {
    # Opaque values (cursors, ids, tokens) cannot be valid by schema alone: a 400 or 404 for a request
    # the schema allows is no defect. Every other check runs.
    GenerationMode.POSITIVE: {"excluded_checks": [checks.positive_data_acceptance]},
    GenerationMode.NEGATIVE: {
        "checks": [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance]
    },
}


@pytest.fixture
def api_schema():
    # Keep the test's transaction open across requests (the WSGI handler would close the connection).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(params=["advertiser", "partner"])
def credentials(request, acme, acme_key, alice, alice_link):
    bearer = acme_key if request.param == "advertiser" else partner_token_rotate(partner=alice)[1]
    return {"key": bearer, "token": postback_token_rotate(advertiser=acme)}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda mode: mode.value)
def test_every_operation_answers_as_its_schema_says_and_never_5xx(api_schema, credentials, mode):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 9  # every /v1/ operation but the pixel, which is no JSON API
    failures = []

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @BOUNDED
        def check(case, label=operation.label):
            if isinstance(case.query, dict) and "token" in case.query and mode is GenerationMode.POSITIVE:
                case.query["token"] = credentials["token"]
            try:
                case.call_and_validate(headers={"Authorization": f"Bearer {credentials['key']}"}, **CHECKS[mode])
            except Exception as error:
                failures.append(f"{label}: {str(error)[:600]}")
                raise

        try:
            check()
        except Exception:  # noqa: S112 - collected above: one report for every operation, not the first only
            continue

    assert not failures, "\n\n".join(failures)
