"""bench/cluster.py's checks fail when they should: a lost and a doubled row, a conversion processed twice or left
pending, an unbalanced ledger. Rows made through the API and the processor on the test database; the faults are
written into it by hand (the unique constraints dropped for the doubled click, in the test's transaction)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from bench.cluster_checks import invariant_violations, soak_passed, soak_rows
from conversions.intake.log_writer import intake_log_write
from conversions.models import Conversion, StatusChange
from conversions.processing.pipeline import conversions_process_pending
from referrals.models import Click
from rewards.models import Account, Entry, Transaction
from tests.factories import RewardRuleFactory
from tests.reliability.traffic import Answer

CLICKS = ["a" * 32, "b" * 32]


def click_create(link, click_id: str) -> Click:
    # Ten minutes old: a purchase seconds after its click is held by screening.
    return Click.objects.create(
        click_id=click_id,
        link=link,
        offer=link.offer,
        partner=link.partner,
        created_at=timezone.now() - timedelta(minutes=10),
    )


@pytest.fixture
def run(acme, acme_api, alice_link):
    """Two clicks and two purchases of them, acknowledged and processed: what a clean soak leaves."""
    RewardRuleFactory(offer=alice_link.offer, reward_type="fixed", value=Decimal("3.00"))
    for click_id in CLICKS:
        click_create(alice_link, click_id)
    conversions = []
    for number, click_id in enumerate(CLICKS):
        body = {"type": "purchase", "click_id": click_id, "external_id": f"order-{number}", "amount": "20"}
        response = acme_api.post("/v1/convert", {**body, "product_id": "p"}, format="json")
        conversions.append(Answer(response.status_code, "", "", f"order-{number}"))
    intake_log_write()  # as write_conversions does: the API answered once the conversions were in the intake log
    conversions_process_pending()
    return {
        "click": [Answer(302, "", "", click_id) for click_id in CLICKS],
        "convert": conversions,
        "read api": [Answer(200, "", "", "-")],
    }


def checked(acme, answers: dict) -> tuple[dict, dict, bool]:
    connection.ensure_connection()
    raw = connection.connection  # the test's own transaction: it sees the rows made above
    rows = soak_rows(raw, acme.pk, answers, {name: 1 for name in answers}, 1)
    violations = invariant_violations(raw, acme.pk)
    return {row["what"]: row for row in rows}, violations, soak_passed(rows, violations)


def test_a_clean_run_passes(acme, run):
    rows, violations, passed = checked(acme, run)

    assert [rows["click"][name] for name in ("acknowledged", "stored", "lost", "doubled")] == [2, 2, 0, 0]
    assert [rows["convert"][name] for name in ("acknowledged", "stored", "lost", "doubled")] == [2, 2, 0, 0]
    assert rows["read api"]["stored"] == "-"
    assert set(Conversion.objects.values_list("status", flat=True)) == {"accepted"}
    assert not any(violations.values())
    assert passed


def test_an_acknowledged_click_and_conversion_not_stored_are_lost(acme, run):
    run["click"].append(Answer(302, "", "", "c" * 32))
    run["convert"].append(Answer(202, "", "", "never-stored"))

    rows, _, passed = checked(acme, run)

    assert (rows["click"]["lost"], rows["convert"]["lost"]) == (1, 1)
    assert not passed


def test_a_click_stored_twice_is_doubled(acme, run, alice_link):
    with connection.cursor() as cursor:  # every unique constraint on the click id goes, until the test's rollback
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses while foreign-key checks wait
        cursor.execute(
            "SELECT DISTINCT constraint_row.conname FROM pg_constraint constraint_row JOIN pg_attribute attribute "
            "ON attribute.attrelid = constraint_row.conrelid AND attribute.attnum = ANY(constraint_row.conkey) "
            "WHERE constraint_row.conrelid = 'referrals_click'::regclass AND constraint_row.contype IN ('u', 'p') "
            "AND attribute.attname = 'click_id'"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'ALTER TABLE referrals_click DROP CONSTRAINT "{name}" CASCADE')
        cursor.execute(
            "SELECT DISTINCT index_row.indexrelid::regclass::text FROM pg_index index_row JOIN pg_attribute attribute "
            "ON attribute.attrelid = index_row.indrelid AND attribute.attnum = ANY(index_row.indkey) "
            "WHERE index_row.indrelid = 'referrals_click'::regclass AND index_row.indisunique "
            "AND attribute.attname = 'click_id'"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f"DROP INDEX {name}")
    click_create(alice_link, CLICKS[0])

    rows, _, passed = checked(acme, run)

    assert (rows["click"]["stored"], rows["click"]["doubled"], rows["click"]["lost"]) == (2, 1, 0)
    assert not passed


def test_a_conversion_processed_twice_or_left_pending_fails(acme, run, acme_api):
    conversion = Conversion.objects.get(external_id="order-0")
    StatusChange.objects.create(
        conversion=conversion, from_status="pending", to_status="accepted", channel="job", created_at=timezone.now()
    )
    body = {"type": "purchase", "click_id": CLICKS[1], "external_id": "order-late", "amount": "5", "product_id": "p"}
    assert acme_api.post("/v1/convert", body, format="json").status_code == 202
    intake_log_write()  # stored, never processed

    _, violations, passed = checked(acme, run)

    assert violations["conversions processed more than once"] == 1
    assert violations["conversions still pending"] == 1
    assert not passed


def test_an_unbalanced_ledger_fails(acme, run):
    account = Account.objects.get(kind="advertiser_payable", advertiser=acme, currency="USD")
    posting = Transaction.objects.create(kind="payout", memo="one-sided", created_at=timezone.now())
    Entry.objects.create(transaction=posting, account=account, amount=Decimal("1.00"), currency="USD")

    _, violations, passed = checked(acme, run)

    assert violations["ledger transactions whose entries do not sum to 0"] == 1
    assert violations["currencies whose entries do not sum to 0"] == 1
    assert not passed
