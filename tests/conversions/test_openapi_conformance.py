"""schemathesis generates requests from our OpenAPI schema and checks every answer against it, in process."""

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from referrals.services import postback_token_rotate

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_schema():
    # Like Django's test client: keep the test's transaction open across requests
    # (the WSGI handler would close the connection when each request finishes).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(params=["advertiser", "partner"])
def credentials(request, acme, acme_key, click, alice, offer):
    """Each role's bearer credential: an advertiser's API key, or a partner's API token."""
    from referrals.partner_tokens import partner_token_rotate

    bearer = acme_key if request.param == "advertiser" else partner_token_rotate(partner=alice)[1]
    return {"key": bearer, "token": postback_token_rotate(advertiser=acme)}


def test_the_api_answers_as_its_schema_says_and_never_5xx(api_schema, credentials):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 8

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            if case.query is not None and "token" in case.query:
                case.query["token"] = credentials["token"]
            case.call_and_validate(
                headers={"Authorization": f"Bearer {credentials['key']}"},
                # Opaque values (cursors, ids, tokens) cannot be valid by schema alone, so a 400 or 404
                # for a schema-valid request is not a defect; every other check runs.
                excluded_checks=[checks.positive_data_acceptance],
            )

        check()
