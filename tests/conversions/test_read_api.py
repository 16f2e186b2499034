from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from conversions.models import Conversion, RequestLogEntry
from rewards.models import Reward
from tests.factories import LinkFactory, OfferFactory, RewardRuleFactory

pytestmark = pytest.mark.django_db


def report(api, external_id, **fields):
    body = {"type": "purchase", "external_id": external_id, "amount": "10", "product_id": "p", **fields}
    return api.post("/v1/convert", body, format="json")


@pytest.fixture
def globex_api(globex_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {globex_key}")
    return client


@pytest.fixture
def two_tenants(acme_api, globex_api, globex, alice, offer, write_conversions):
    OfferFactory(advertiser=globex, public_id="globex-tv")
    for n in range(3):
        report(acme_api, f"acme-{n}", referral_code="ALICE", offer="acme-shoes", type="purchase")
    report(globex_api, "globex-0", referral_code="ALICE", offer="globex-tv")
    write_conversions()


def test_an_advertiser_lists_only_its_own_conversions(acme_api, globex_api, two_tenants):
    acme_ids = {row["external_id"] for row in acme_api.get("/v1/conversions").json()["results"]}
    globex_ids = {row["external_id"] for row in globex_api.get("/v1/conversions").json()["results"]}

    assert acme_ids == {"acme-0", "acme-1", "acme-2"} and globex_ids == {"globex-0"}


def test_another_tenants_conversion_answers_404(acme_api, globex_api, two_tenants):
    theirs = Conversion.objects.get(external_id="globex-0")

    assert acme_api.get(f"/v1/conversions/{theirs.pk}").status_code == 404
    assert globex_api.get(f"/v1/conversions/{theirs.pk}").status_code == 200
    response = acme_api.post(
        f"/v1/conversions/{theirs.pk}/status", {"status": "rejected", "remark": "x"}, format="json"
    )
    assert response.status_code == 404


def test_filters_by_status_offer_external_id_and_dates(acme_api, two_tenants, acme, alice):
    other = OfferFactory(advertiser=acme, public_id="acme-hats")
    LinkFactory(partner=alice, offer=other)
    report(acme_api, "hat-1", referral_code="ALICE", offer="acme-hats")
    Conversion.objects.filter(external_id="acme-0").update(status="accepted")

    def ids(**params):
        return {row["external_id"] for row in acme_api.get("/v1/conversions", params).json()["results"]}

    assert ids(offer="acme-hats") == {"hat-1"}
    assert ids(status="accepted") == {"acme-0"}
    assert ids(external_id="acme-1") == {"acme-1"}
    assert ids(created_after=(timezone.now() + timezone.timedelta(minutes=1)).isoformat()) == set()
    assert len(ids(created_before=(timezone.now() + timezone.timedelta(minutes=1)).isoformat())) == 4


def test_cursor_pagination_walks_every_row_once(acme_api, two_tenants):
    page = acme_api.get("/v1/conversions", {"page_size": 2}).json()
    seen = [row["external_id"] for row in page["results"]]
    while page["next"]:
        page = acme_api.get(page["next"]).json()
        seen += [row["external_id"] for row in page["results"]]

    assert sorted(seen) == ["acme-0", "acme-1", "acme-2"]


def test_the_list_does_not_query_per_row(acme_api, two_tenants, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        acme_api.get("/v1/conversions")


def test_reads_need_a_key(api, two_tenants):
    assert api.get("/v1/conversions").status_code == 401
    assert api.get("/v1/request-log").status_code == 401


def test_the_request_log_shows_an_advertiser_its_own_refusals(acme_api, globex_api, two_tenants):
    report(acme_api, "acme-0", referral_code="ALICE", offer="acme-shoes")  # a duplicate
    report(globex_api, "bad", amount="-1")

    acme_log = acme_api.get("/v1/request-log").json()["results"]
    globex_log = globex_api.get("/v1/request-log").json()["results"]

    assert [row["reason"] for row in acme_log] == ["duplicate"]
    assert [row["reason"] for row in globex_log] == ["invalid"]
    assert RequestLogEntry.objects.count() == 2


def test_accepting_then_rejecting_by_external_id_reverses_the_reward(acme_api, alice, offer):
    RewardRuleFactory(offer=offer, value=Decimal("3.00"))
    conversion_id = report(acme_api, "v-1", referral_code="ALICE", offer="acme-shoes").json()["id"]
    Conversion.objects.filter(pk=conversion_id).update(status="suspicious")

    accepted = acme_api.post(f"/v1/conversions/{conversion_id}/status", {"status": "accepted"}, format="json")
    rejected = acme_api.post(
        "/v1/conversions/by-external-id/v-1/status",
        {"status": "rejected", "reason": "returned", "remark": "Customer returned the order."},
        format="json",
    )

    assert accepted.json()["status"] == "accepted"
    assert (
        rejected.json()["status"] == "rejected" and rejected.json()["status_remark"] == "Customer returned the order."
    )

    assert Reward.objects.get().status == "reversed"
    history = list(Conversion.objects.get(pk=conversion_id).status_changes.values_list("to_status", "channel"))
    assert history[-2:] == [("accepted", "advertiser_api"), ("rejected", "advertiser_api")]


def test_a_rejection_needs_a_remark_and_a_rejected_conversion_cannot_be_accepted(acme_api, alice, offer):
    conversion_id = report(acme_api, "v-2", referral_code="ALICE", offer="acme-shoes").json()["id"]

    no_remark = acme_api.post(f"/v1/conversions/{conversion_id}/status", {"status": "rejected"}, format="json")
    acme_api.post(f"/v1/conversions/{conversion_id}/status", {"status": "rejected", "remark": "fake"}, format="json")
    revive = acme_api.post(f"/v1/conversions/{conversion_id}/status", {"status": "accepted"}, format="json")

    assert no_remark.status_code == 400 and "remark" in no_remark.json()["error"]["fields"]
    assert revive.status_code == 409 and revive.json()["error"]["code"] == "transition_not_allowed"


def test_a_key_over_its_rate_gets_429_with_retry_after(acme_api, globex_api, two_tenants, throttle_rates):
    throttle_rates(ingest="1000/min", read="2/min")

    statuses = [acme_api.get("/v1/conversions").status_code for _ in range(3)]
    limited = acme_api.get("/v1/conversions")
    other_key = globex_api.get("/v1/conversions")

    assert statuses == [200, 200, 429]
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    assert limited.json()["error"]["code"] == "throttled"
    assert other_key.status_code == 200
