"""The router's choices, in process: which reads go to the replica, which stay on the primary, and what happens
when the replica is gone or too far behind.

The replica here is the test database through a second connection (what Django's TEST MIRROR makes of the
`replica` alias), so every query really runs, on the connection the router chose; the real streaming replica
is in test_streaming_replica.py.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.http import HttpResponse, StreamingHttpResponse
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.views import APIView

from core.database_routing import (
    REPLICA,
    ReplicaFreshness,
    ReplicaReadsView,
    ReplicaRouter,
    reads_from_replica,
    replica_configured,
    replica_retry_now,
)
from referrals.models import Partner
from tests.factories import PartnerFactory
from tests.replica.postgres_pair import free_ports


def _replica_alias(**changes) -> None:
    default = connections[DEFAULT_DB_ALIAS].settings_dict
    connections.settings[REPLICA] = {**default, **changes, "TEST": {**default["TEST"], "MIRROR": DEFAULT_DB_ALIAS}}


def _replica_alias_remove() -> None:
    if REPLICA in connections.settings:
        connections[REPLICA].close()
        del connections[REPLICA]
        del connections.settings[REPLICA]


# The alias exists before each test's database set-up, which checks the aliases a test may use.
on_both = pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])


@pytest.fixture(scope="module", autouse=True)
def _replica_alias_for_the_module(django_db_setup):
    _replica_alias()
    yield
    _replica_alias_remove()


@pytest.fixture
def mirror_replica(settings):
    """A `replica` alias on the test database, routed as production routes it; committed rows are seen on both."""
    settings.DATABASE_ROUTERS = ["core.database_routing.ReplicaRouter"]
    _replica_alias_remove()
    _replica_alias()
    replica_retry_now()
    yield connections[REPLICA]
    replica_retry_now()


@pytest.fixture
def alice(transactional_db):
    return PartnerFactory(referral_code="ALICE")


def _partner_count(request) -> HttpResponse:
    return HttpResponse(str(Partner.objects.count()))


report = reads_from_replica(_partner_count)


def _queries_on(alias: str):
    return CaptureQueriesContext(connections[alias])


@on_both
def test_without_a_replica_nothing_changes(alice):
    _replica_alias_remove()  # as with DATABASE_REPLICA_URL unset
    assert not replica_configured()
    request = RequestFactory().get("/dashboard/")
    with _queries_on(DEFAULT_DB_ALIAS) as primary:
        assert report(request).content == b"1"
    assert request.replica_freshness is None
    assert any("referrals_partner" in query["sql"] for query in primary.captured_queries)
    _replica_alias()


@on_both
def test_a_report_reads_from_the_replica(mirror_replica, alice):
    request = RequestFactory().get("/dashboard/")
    with _queries_on(REPLICA) as replica, _queries_on(DEFAULT_DB_ALIAS) as primary:
        assert report(request).content == b"1"
    assert any("referrals_partner" in query["sql"] for query in replica.captured_queries)
    # The primary is asked only for its WAL position, to tell how far behind the replica is.
    assert [query["sql"] for query in primary.captured_queries] == ["SELECT pg_current_wal_lsn()"]
    # The mirror is no standby: it has everything, and the page says nothing about its age.
    assert request.replica_freshness.lag_seconds == 0 and not request.replica_freshness.notice


@on_both
def test_views_that_did_not_choose_the_replica_read_the_primary(mirror_replica, alice):
    with _queries_on(REPLICA) as replica:
        assert _partner_count(RequestFactory().get("/dashboard/links/")).content == b"1"
    assert replica.captured_queries == []


@on_both
def test_a_post_reads_and_writes_on_the_primary(mirror_replica, alice):
    request = RequestFactory().post("/advertiser/validation/")
    with _queries_on(REPLICA) as replica:
        assert report(request).content == b"1"
    assert replica.captured_queries == [] and request.replica_freshness is None


@on_both
def test_writes_and_reads_inside_a_transaction_stay_on_the_primary(mirror_replica, alice):
    @reads_from_replica
    def view(request):
        outside = Partner.objects.all().db
        with transaction.atomic():
            inside = Partner.objects.all().db
            created = PartnerFactory(referral_code="BOB")
        return HttpResponse(f"{outside} {inside} {created._state.db}")

    assert view(RequestFactory().get("/dashboard/")).content == b"replica default default"
    assert Partner.objects.filter(referral_code="BOB").exists()


@on_both
def test_a_streamed_export_reads_each_chunk_from_the_replica(mirror_replica, alice):
    seen_between_chunks = []

    @reads_from_replica
    def export(request):
        return StreamingHttpResponse(f"{Partner.objects.count()}:{Partner.objects.all().db}\n" for _ in range(2))

    response = export(RequestFactory().get("/dashboard/conversions/export.csv"))
    with _queries_on(REPLICA) as replica:
        chunks = []
        for chunk in response.streaming_content:
            chunks.append(chunk)
            seen_between_chunks.append(Partner.objects.all().db)
    assert chunks == [b"1:replica\n", b"1:replica\n"]
    assert len(replica.captured_queries) == 2
    assert seen_between_chunks == ["default", "default"]


@on_both
def test_a_replica_that_does_not_answer_leaves_the_page_to_the_primary(mirror_replica, alice, settings):
    settings.REPLICA_RETRY_SECONDS = 3600
    _replica_alias_remove()
    (closed_port,) = free_ports(1)  # nothing listens there
    _replica_alias(HOST="127.0.0.1", PORT=str(closed_port))
    request = RequestFactory().get("/dashboard/")
    assert report(request).content == b"1"
    assert request.replica_freshness is None

    # Left alone for REPLICA_RETRY_SECONDS: even answering again, it is not tried until then.
    _replica_alias_remove()
    _replica_alias()
    request = RequestFactory().get("/dashboard/")
    with _queries_on(REPLICA) as replica:
        assert report(request).content == b"1"
    assert replica.captured_queries == [] and request.replica_freshness is None
    replica_retry_now()
    request = RequestFactory().get("/dashboard/")
    assert report(request).content == b"1" and request.replica_freshness is not None


@on_both
def test_a_replica_lost_during_the_page_fails_over_to_the_primary(mirror_replica, alice):
    runs = []

    @reads_from_replica
    def view(request):
        runs.append(Partner.objects.all().db)
        if len(runs) == 1:  # between the freshness check and the page's reads
            _replica_backend_terminate()
        return HttpResponse(str(Partner.objects.count()))

    request = RequestFactory().get("/dashboard/")
    assert view(request).content == b"1"
    assert runs == ["replica", "default"]
    assert request.replica_freshness is None


def _replica_backend_terminate() -> None:
    """The replica's server process for this connection goes away, as when the replica restarts."""
    pid = connections[REPLICA].connection.info.backend_pid
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s, 10000)", [pid])


class _PartnerCountApi(ReplicaReadsView, APIView):
    runs: list[str]

    def get(self, request):
        self.runs.append(Partner.objects.all().db)
        if len(self.runs) == 1:
            _replica_backend_terminate()
        return Response({"partners": Partner.objects.count()})


@on_both
def test_an_api_view_that_loses_the_replica_answers_from_the_primary(mirror_replica, alice):
    _PartnerCountApi.runs = []
    answer = _PartnerCountApi.as_view()(RequestFactory().get("/v1/partners"))
    assert answer.status_code == 200 and answer.data == {"partners": 1}
    assert _PartnerCountApi.runs == ["replica", "default"]


@on_both
def test_the_read_api_reads_from_the_replica(mirror_replica, acme_api, offer):
    with _queries_on(REPLICA) as replica:
        answer = acme_api.get("/v1/conversions")
    assert answer.status_code == 200, answer.content
    assert any("conversions_conversion" in query["sql"] for query in replica.captured_queries)


@on_both
def test_the_read_api_answers_from_the_primary_when_the_replica_is_gone(mirror_replica, acme_api, offer):
    _replica_alias_remove()
    (closed_port,) = free_ports(1)
    _replica_alias(HOST="127.0.0.1", PORT=str(closed_port))
    answer = acme_api.get("/v1/conversions")
    assert answer.status_code == 200, answer.content


@pytest.mark.parametrize(
    ("lag", "notice", "usable"), [(0, False, True), (29.9, False, True), (30, True, True), (301, True, False)]
)
def test_the_notice_and_the_limit_follow_the_settings(settings, lag, notice, usable):
    settings.REPLICA_LAG_NOTICE_SECONDS, settings.REPLICA_MAX_LAG_SECONDS = 30, 300
    freshness = ReplicaFreshness(as_of=datetime(2026, 3, 1, 12, 0, tzinfo=UTC), lag_seconds=lag)
    assert (freshness.notice, freshness.usable) == (notice, usable)


def test_the_notice_says_when_the_figures_are_from_in_the_viewers_time_zone(settings):
    settings.REPLICA_LAG_NOTICE_SECONDS = 30
    request = RequestFactory().get("/dashboard/")
    as_of = datetime(2026, 3, 1, 12, 5, tzinfo=UTC)
    request.replica_freshness = ReplicaFreshness(as_of=as_of, lag_seconds=95.4)
    with timezone.override(ZoneInfo("Europe/Paris")):
        html = render_to_string("_freshness.html", request=request)
    assert "Figures as of 13:05 (95 s behind)" in html
    request.replica_freshness = ReplicaFreshness(as_of=as_of + timedelta(seconds=90), lag_seconds=5)
    assert "Figures as of" not in render_to_string("_freshness.html", request=request)


def test_the_router_keeps_writes_and_migrations_on_the_primary():
    router = ReplicaRouter()
    assert router.db_for_write(Partner) == DEFAULT_DB_ALIAS
    assert router.db_for_read(Partner) == DEFAULT_DB_ALIAS  # outside a block that chose the replica
    assert router.allow_migrate(REPLICA, "referrals") is False
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "referrals") is None
    on_replica, on_primary = Partner(), Partner()
    on_replica._state.db, on_primary._state.db = REPLICA, DEFAULT_DB_ALIAS
    assert router.allow_relation(on_replica, on_primary) is True
