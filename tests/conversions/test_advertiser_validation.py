"""The advertiser's validation page: approving really approves the commission, select-all by the filters, totals,
commission and partner per row, export, numbered pages, a failed submit that keeps its ticks, held conversions."""

import csv
import io
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversions.advertiser import validation_views
from conversions.intake.recording import ConversionReport, conversion_record
from conversions.models import Conversion
from conversions.processing.pipeline import conversion_process
from rewards.ledger import partner_balance
from rewards.lifecycle import rewards_approve
from rewards.models import Entry, Reward, Transaction

pytestmark = pytest.mark.django_db

URL = "/advertiser/validation/"


@pytest.fixture
def named_alice(alice):
    alice.user.first_name, alice.user.last_name = "Alice", "Archer"
    alice.user.save()
    return alice


def accepted(advertiser, external_id: str, amount="100.00", *, created_at=None, process=True) -> Conversion:
    """A conversion of alice on acme-travel; processed: accepted with a pending reward (4%, in its term)."""
    report = ConversionReport(
        type="purchase", external_id=external_id, amount=Decimal(amount), referral_code="ALICE", offer="acme-travel",
        product_id="sku",
    )  # fmt: skip
    conversion, _ = conversion_record(advertiser=advertiser, report=report, channel="api", now=created_at)
    if process:
        conversion_process(conversion_id=conversion.pk)
    return Conversion.objects.get(pk=conversion.pk)


def held(advertiser, external_id: str) -> Conversion:
    conversion = accepted(advertiser, external_id, process=False)
    Conversion.objects.filter(pk=conversion.pk).update(status="suspicious")
    return conversion


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def approve(client, *conversions, **extra):
    body = {"conversion": [str(c.pk) for c in conversions], "decision": "approve", "reason": "", **extra}
    return client.post(URL, body, follow=True)


# 1. Approving early approves the commission --------------------------------------------------------------------


def test_approving_accepted_conversions_approves_their_rewards_and_the_publishers_earnings_show_it(
    acme_client, client, acme, manual_offer, named_alice
):
    first, second = accepted(acme, "a-1", "100.00"), accepted(acme, "a-2", "50.00")
    assert set(Reward.objects.values_list("status", flat=True)) == {"pending"}

    response = approve(acme_client, first, second)

    assert "2 conversion(s) approved; 0 already were." in messages_of(response)
    assert set(Reward.objects.values_list("status", flat=True)) == {"approved"}
    assert Transaction.objects.filter(kind="approval").count() == 2
    client.force_login(named_alice.user)
    earnings = client.get("/dashboard/earnings/").content.decode()
    assert re.search(r"Approved \(available\)</th><td class=\"num\">6.00 USD", earnings)
    assert re.search(r"Pending \(in validation\)</th><td class=\"num\">0.00 USD", earnings)


def test_approving_twice_changes_nothing_the_second_time(acme_client, acme, manual_offer, alice):
    first, second = accepted(acme, "a-1"), accepted(acme, "a-2")
    approve(acme_client, first, second)

    response = approve(acme_client, first, second)

    assert "0 conversion(s) approved; 2 already were." in messages_of(response)
    assert Transaction.objects.filter(kind="approval").count() == 2


def test_rewards_approve_approves_each_pending_reward_once_and_the_ledger_balances(acme, manual_offer, alice):
    conversions = [accepted(acme, "r-1", "100.00"), accepted(acme, "r-2", "50.00")]
    ids = [conversion.pk for conversion in conversions]
    now = timezone.now()

    first, second = rewards_approve(conversion_ids=ids, now=now), rewards_approve(conversion_ids=ids, now=now)

    assert first == set(ids) and second == set()
    assert partner_balance(partner=alice, kind="partner_available", currency="USD") == Decimal("6.00")
    assert partner_balance(partner=alice, kind="partner_pending", currency="USD") == Decimal("0.00")
    assert Entry.objects.aggregate(total=Sum("amount"))["total"] == 0
    assert set(Reward.objects.values_list("approved_at", flat=True)) == {now}


def test_approving_a_pending_conversion_accepts_it_and_approves_its_reward(acme_client, acme, manual_offer, alice):
    pending = accepted(acme, "p-1", process=False)

    response = approve(acme_client, pending)

    pending.refresh_from_db()
    assert "1 conversion(s) approved; 0 already were." in messages_of(response)
    assert pending.status == "accepted" and Reward.objects.get(conversion_id=pending.pk).status == "approved"


# 2. Select all that the filters match --------------------------------------------------------------------------


@pytest.fixture
def many(acme, manual_offer, alice, monkeypatch):
    """Five conversions to approve on three pages of two, one filtered out by type, one held by the network."""
    monkeypatch.setattr(validation_views, "PER_PAGE", 2)
    rows = [accepted(acme, f"m-{n}") for n in range(5)]
    other = accepted(acme, "sub-1", process=False)
    Conversion.objects.filter(pk=other.pk).update(type="subscription")
    conversion_process(conversion_id=other.pk)
    return {"rows": rows, "other": other, "held": held(acme, "held-1")}


def test_select_all_asks_to_confirm_the_count_then_approves_every_matching_conversion_on_every_page(acme_client, many):
    body = {"scope": "all", "decision": "approve", "reason": "", "query": "type=purchase&page=2"}

    asked = acme_client.post(URL, body)

    assert asked.status_code == 200 and "Approve all 5 conversions matching these filters, on all 3 pages?" in (
        asked.content.decode()
    )
    assert set(Reward.objects.values_list("status", flat=True)) == {"pending"}

    done = acme_client.post(URL, {**body, "count": "5", "confirmed": "1"}, follow=True)

    assert "5 conversion(s) approved; 0 already were." in messages_of(done)
    rewards = dict(Reward.objects.values_list("conversion__external_id", "status"))
    assert rewards == {**{f"m-{n}": "approved" for n in range(5)}, "sub-1": "pending"}
    assert Conversion.objects.get(external_id="held-1").status == "suspicious"
    assert done.redirect_chain[-1][0] == f"{URL}?type=purchase&page=2"


def test_select_all_changes_nothing_when_the_filters_now_match_another_count(acme_client, many):
    body = {"scope": "all", "decision": "approve", "query": "type=purchase", "count": "4", "confirmed": "1"}

    response = acme_client.post(URL, body)

    assert "The filters now match 5, not 4: check and confirm." in messages_of(response)
    assert set(Reward.objects.values_list("status", flat=True)) == {"pending"}


def test_select_all_by_another_advertisers_filters_reaches_only_their_own(client, globex_user, many):
    client.force_login(globex_user)

    response = client.post(URL, {"scope": "all", "decision": "approve", "count": "5", "confirmed": "1"})

    assert "No conversion matching the filters can be decided." in messages_of(response)
    assert set(Reward.objects.values_list("status", flat=True)) == {"pending"}


def test_select_all_costs_no_more_queries_for_six_conversions_than_for_three(acme_client, acme, manual_offer, alice):
    def approve_all(prefix: str, count: int) -> int:
        body = {"scope": "all", "decision": "approve", "query": f"q={prefix}", "count": str(count), "confirmed": "1"}
        with CaptureQueriesContext(connection) as queries:
            response = acme_client.post(URL, body)
        assert response.status_code == 302
        return len(queries)

    for n in range(3):
        accepted(acme, f"three-{n}")
    for n in range(6):
        accepted(acme, f"six-{n}")

    three, six = approve_all("three-", 3), approve_all("six-", 6)

    assert Reward.objects.filter(status="approved").count() == 9
    assert six <= three  # the rewards are approved in one batch: no query per conversion


def test_select_all_refusals_are_summed_up_by_reason(acme_client, acme, manual_offer, alice):
    for n in range(5):
        conversion = accepted(acme, f"gone-{n}")
        Conversion.objects.filter(pk=conversion.pk).update(status="rejected")
    accepted(acme, "fine-1")
    body = {"scope": "all", "decision": "approve", "count": "6", "confirmed": "1"}

    response = acme_client.post(URL, body, follow=True)

    assert messages_of(response)[0] == "1 conversion(s) approved; 0 already were."
    assert messages_of(response)[1:] == ["gone-4, gone-3, gone-2 and 2 more: A rejected conversion cannot be approved."]


# 3. Totals, commission per row, the partner's name -------------------------------------------------------------


def test_the_page_shows_totals_of_the_filtered_set_and_each_rows_commission_and_partner(
    acme_client, acme, manual_offer, named_alice
):
    accepted(acme, "t-1", "1000.00")
    accepted(acme, "t-2", "250.50")
    accepted(acme, "t-3", "10.00", process=False)

    html = acme_client.get(URL).content.decode()
    filtered = acme_client.get(URL, {"status": "accepted"}).content.decode()

    totals = html.split('id="validation-totals"')[1].split("</table>")[0]
    assert '<td class="num">3</td><td class="num">1,260.50 USD</td><td class="num">50.02 USD</td>' in totals
    assert '<td class="num">2</td><td class="num">1,250.50 USD</td>' in filtered
    row = html.split('data-external-id="t-1"')[1].split("</tr>")[0]
    assert "40.00 USD <small>pending</small>" in row and "Alice Archer" in row and "ALICE" not in row


# 4. Export ----------------------------------------------------------------------------------------------------


def test_the_export_streams_the_filtered_set_with_plain_decimals(acme_client, acme, manual_offer, named_alice):
    accepted(acme, "e-1", "1234.5")
    accepted(acme, "other-1", "10")

    response = acme_client.get("/advertiser/validation/export.csv", {"q": "e-"})

    assert response.streaming and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["external_id"] for row in rows] == ["e-1"]
    assert rows[0]["amount"] == "1234.50" and rows[0]["commission"] == "49.38" and rows[0]["currency"] == "USD"
    assert rows[0]["partner"] == "Alice Archer" and rows[0]["commission_status"] == "pending"


def test_the_export_of_another_advertiser_holds_none_of_acmes(client, globex_user, acme, manual_offer, alice):
    accepted(acme, "e-1")
    client.force_login(globex_user)

    response = client.get("/advertiser/validation/export.csv")

    assert b"".join(response.streaming_content).decode().splitlines()[1:] == []


# 5. Stable order, numbered pages -------------------------------------------------------------------------------


def test_rows_are_newest_first_then_by_id_and_pages_are_numbered_with_the_filters_kept(
    acme_client, acme, manual_offer, alice, monkeypatch
):
    monkeypatch.setattr(validation_views, "PER_PAGE", 2)
    same_time = timezone.now() - timedelta(hours=1)
    conversions = [accepted(acme, f"s-{n}", created_at=same_time) for n in range(7)]
    expected = [c.external_id for c in sorted(conversions, key=lambda c: c.pk)]

    seen = []
    for number in (1, 2, 3, 4):
        response = acme_client.get(URL, {"type": "purchase", "page": number})
        seen += [row.external_id for row in response.context["rows"]]
    html = acme_client.get(URL, {"type": "purchase", "page": 2}).content.decode()

    assert seen == expected
    pager = html.split('class="pager"')[1].split("</nav>")[0]
    assert '<a href="?type=purchase&amp;page=1">First</a>' in pager
    assert 'href="?type=purchase&amp;page=1" rel="prev">Previous' in pager
    assert 'aria-current="page" aria-label="Page 2, this page">2</a>' in pager
    assert 'href="?type=purchase&amp;page=3" rel="next">Next' in pager
    assert '<a href="?type=purchase&amp;page=4">Last</a>' in pager


def test_invalid_filters_list_no_rows(acme_client, acme, manual_offer, alice):
    accepted(acme, "x-1")

    response = acme_client.get(URL, {"created_from": "yesterday"})

    assert response.context["rows"] == [] and "Correct the filters" in response.content.decode()


# 6. A failed submit keeps the selection -------------------------------------------------------------------------


def test_a_failed_reject_keeps_the_ticks_and_the_decision_and_says_why(acme_client, acme, manual_offer, alice):
    first, second, _unticked = accepted(acme, "f-1"), accepted(acme, "f-2"), accepted(acme, "f-3")

    response = acme_client.post(
        URL, {"conversion": [str(first.pk), str(second.pk)], "decision": "reject", "reason": "", "query": "page=1"}
    )

    html = response.content.decode()
    assert response.status_code == 200 and "Say why you reject: the publisher is told." in html
    assert f'value="{first.pk}" id="c-{first.pk}" aria-label="Select f-1" checked' in html
    assert f'value="{second.pk}" id="c-{second.pk}" aria-label="Select f-2" checked' in html
    assert 'aria-label="Select f-3">' in html
    assert '<option value="reject" selected>' in html
    assert set(Conversion.objects.values_list("status", flat=True)) == {"accepted"}


def test_a_submit_with_nothing_selected_says_so(acme_client, acme, manual_offer, alice):
    accepted(acme, "f-1")

    response = acme_client.post(URL, {"decision": "approve", "reason": ""})

    assert "Select at least one conversion, or all that match the filters." in messages_of(response)


# 7. Held by the network -----------------------------------------------------------------------------------------


def test_a_held_conversion_is_labelled_and_has_no_checkbox(acme_client, acme, manual_offer, alice):
    suspicious = held(acme, "h-1")

    html = acme_client.get(URL).content.decode()

    row = html.split('data-external-id="h-1"')[1].split("</tr>")[0]
    assert "Held by the network" in row and f'value="{suspicious.pk}"' not in html and "<input" not in row


def test_a_held_conversion_posted_anyway_is_refused(acme_client, acme, manual_offer, alice):
    suspicious = held(acme, "h-1")

    response = approve(acme_client, suspicious)

    suspicious.refresh_from_db()
    assert suspicious.status == "suspicious" and not Reward.objects.filter(conversion_id=suspicious.pk).exists()
    assert "h-1: held by the network for review; it decides it." in messages_of(response)


@pytest.mark.django_db(transaction=True)
def test_two_approvals_of_the_same_conversions_at_once_approve_each_reward_once(acme, manual_offer, alice):
    ids = [accepted(acme, f"race-{n}").pk for n in range(4)]

    def approve_them(order):
        try:
            return rewards_approve(conversion_ids=order, now=timezone.now())
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(approve_them, [ids, list(reversed(ids))]))

    # Both lock in id order, whatever order they were given: one waits for the other, then finds nothing to do.
    assert sorted(len(approved) for approved in results) == [0, 4]
    assert Transaction.objects.filter(kind="approval").count() == 4
    assert partner_balance(partner=alice, kind="partner_available", currency="USD") == Decimal("16.00")
