"""The conversion admin: read-only records, and the approve and reject actions behind a permission."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conversions.intake.recording import ConversionReport, conversion_record
from conversions.models import Conversion, StatusChange
from conversions.processing.pipeline import conversion_process
from referrals.models import Click
from rewards.models import Reward, Transaction
from tests.factories import RewardRuleFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:conversions_conversion_changelist")


@pytest.fixture
def click(alice_link):
    return Click.objects.create(
        click_id="c" * 32,
        link=alice_link,
        offer=alice_link.offer,
        partner=alice_link.partner,
        created_at=timezone.now() - timedelta(minutes=5),
    )


@pytest.fixture
def rule(offer):
    return RewardRuleFactory(offer=offer, reward_type="fixed", value=Decimal("7.50"))


def record(acme, external_id: str, **fields) -> Conversion:
    report = ConversionReport(
        type="purchase",
        external_id=external_id,
        amount=Decimal("120.00"),
        product_id="sku-1",
        click_id="c" * 32,
        meta={"coupon": "SPRING"},
        **fields,
    )
    conversion, _ = conversion_record(advertiser=acme, report=report, channel="api")
    return conversion


@pytest.fixture
def suspicious(acme, click, rule):
    conversion = record(acme, "order-suspicious")
    # Fraud screening is not built yet; put the conversion where screening would.
    Conversion.objects.filter(pk=conversion.pk).update(status="suspicious", status_reason="fast_conversion")
    conversion.refresh_from_db()
    return conversion


@pytest.fixture
def accepted(acme, click, rule):
    conversion = record(acme, "order-accepted")
    conversion_process(conversion_id=conversion.pk)
    conversion.refresh_from_db()
    assert conversion.status == "accepted"
    return conversion


@pytest.fixture
def charlie(db):
    """Staff who may look at conversions but not review them."""
    user = UserFactory(username="charlie", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_conversion"))
    return user


@pytest.fixture
def charlie_client(charlie):
    client = Client()
    client.force_login(charlie)
    return client


def action(client, name: str, conversions, **fields):
    """The first POST: the action chosen on the change list."""
    data = {"action": name, "index": "0", "_selected_action": [str(c.pk) for c in conversions], **fields}
    return client.post(CHANGELIST, data)


def confirm(client, name: str, conversions, **fields):
    """The second POST: the confirmation form."""
    data = {"action": name, "confirm": "yes", "_selected_action": [str(c.pk) for c in conversions], **fields}
    return client.post(CHANGELIST, data, follow=True)


def page_messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_changelist_shows_conversions_with_their_status(admin_client, suspicious, accepted):
    response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    content = response.content.decode()
    assert "order-suspicious" in content and "order-accepted" in content and "fast_conversion" in content


@pytest.mark.parametrize("query", ["order-susp", "c" * 32])
def test_changelist_search_finds_by_external_id_and_click_id(admin_client, suspicious, query):
    response = admin_client.get(CHANGELIST, {"q": query})

    assert response.status_code == 200
    assert "order-suspicious" in response.content.decode()


def test_changelist_search_finds_by_conversion_id(admin_client, suspicious, accepted):
    response = admin_client.get(CHANGELIST, {"q": str(suspicious.pk)})

    assert response.status_code == 200
    assert "order-suspicious" in response.content.decode()
    assert "order-accepted" not in response.content.decode()


def test_change_page_shows_history_attribution_and_reward_read_only(admin_client, accepted):
    response = admin_client.get(reverse("admin:conversions_conversion_change", args=[accepted.pk]))

    assert response.status_code == 200
    content = response.content.decode()
    assert "order-accepted" in content
    assert "&quot;coupon&quot;: &quot;SPRING&quot;" in content  # meta, pretty-printed
    assert "&quot;step&quot;: &quot;click_id&quot;" in content  # attribution, pretty-printed
    assert "7.50 USD (pending)" in content  # the reward
    assert "no_matching_rule" not in content
    assert 'name="_save"' not in content  # nothing to edit
    assert response.context["inline_admin_formsets"][0].formset.queryset.count() == 2  # pending, then accepted


def test_change_page_refuses_edits(admin_client, suspicious):
    url = reverse("admin:conversions_conversion_change", args=[suspicious.pk])

    response = admin_client.post(url, {"status": "accepted", "amount": "1.00"})

    assert response.status_code == 403
    suspicious.refresh_from_db()
    assert suspicious.status == "suspicious" and suspicious.amount == Decimal("120.00")


def test_status_change_changelist_shows_the_audit_trail(admin_client, accepted):
    response = admin_client.get(reverse("admin:conversions_statuschange_changelist"))

    assert response.status_code == 200
    assert "order-accepted" in response.content.decode()


def test_approve_asks_for_confirmation_before_changing_anything(admin_client, suspicious):
    response = action(admin_client, "approve_selected", [suspicious])

    assert response.status_code == 200
    assert response.templates[0].name == "admin/conversions/conversion_review.html"
    assert "order-suspicious" in response.content.decode()
    suspicious.refresh_from_db()
    assert suspicious.status == "suspicious"
    assert not Reward.objects.exists()


def test_approve_accepts_a_suspicious_conversion_with_one_reward_even_when_submitted_twice(
    admin_client, admin_user, suspicious
):
    action(admin_client, "approve_selected", [suspicious])
    first = confirm(admin_client, "approve_selected", [suspicious], remark="Checked the order by phone.")
    second = confirm(admin_client, "approve_selected", [suspicious], remark="Checked the order by phone.")

    suspicious.refresh_from_db()
    assert suspicious.status == "accepted" and suspicious.status_remark == "Checked the order by phone."
    assert Reward.objects.filter(conversion_id=suspicious.pk).count() == 1
    assert Transaction.objects.filter(reward__conversion_id=suspicious.pk).count() == 1
    change = StatusChange.objects.filter(conversion=suspicious).last()
    assert (change.from_status, change.to_status, change.channel, change.actor) == (
        "suspicious",
        "accepted",
        "admin",
        admin_user,
    )
    assert StatusChange.objects.filter(conversion=suspicious, to_status="accepted").count() == 1
    assert "Approved 1 conversion(s)." in page_messages(first)
    assert "1 were already accepted and left as they were." in page_messages(second)


def test_approve_without_a_remark_is_fine(admin_client, suspicious):
    confirm(admin_client, "approve_selected", [suspicious], remark="")

    suspicious.refresh_from_db()
    assert suspicious.status == "accepted"


def test_approve_reports_conversions_that_cannot_be_approved(admin_client, suspicious, acme, click, rule):
    rejected = record(acme, "order-rejected")
    confirm(admin_client, "reject_selected", [rejected], reason="invalid", remark="Test order.")

    response = confirm(admin_client, "approve_selected", [suspicious, rejected])

    messages_shown = page_messages(response)
    assert "Approved 1 conversion(s)." in messages_shown
    assert any(m.startswith("Could not approve 1: order-rejected") for m in messages_shown)
    rejected.refresh_from_db()
    assert rejected.status == "rejected"


def test_approve_without_a_matching_rule_rejects_and_says_so(admin_client, acme, click):
    conversion = record(acme, "order-no-rule")

    response = confirm(admin_client, "approve_selected", [conversion])

    conversion.refresh_from_db()
    assert conversion.status == "rejected" and conversion.status_reason == "no_matching_rule"
    assert any("no reward rule" in m and "order-no-rule" in m for m in page_messages(response))


def test_reject_without_a_remark_shows_the_form_again_and_changes_nothing(admin_client, accepted):
    changes_before = StatusChange.objects.count()

    response = admin_client.post(
        CHANGELIST,
        {"action": "reject_selected", "confirm": "yes", "_selected_action": [str(accepted.pk)], "reason": "fraud"},
    )

    assert response.status_code == 200
    assert response.templates[0].name == "admin/conversions/conversion_review.html"
    assert response.context["form"].errors == {"remark": ["This field is required."]}
    accepted.refresh_from_db()
    assert accepted.status == "accepted"
    assert StatusChange.objects.count() == changes_before
    assert Reward.objects.get(conversion_id=accepted.pk).status == "pending"


def test_reject_form_offers_reason_codes_defaulting_to_rejected_by_staff(admin_client, accepted):
    response = action(admin_client, "reject_selected", [accepted])

    form = response.context["form"]
    assert form["reason"].value() == "rejected_by_staff"
    assert {"rejected_by_staff", "fraud", "returned", "duplicate", "invalid"} <= {
        c for c, _ in form.fields["reason"].choices
    }


def test_reject_with_a_remark_rejects_and_reverses_the_reward(admin_client, admin_user, accepted):
    response = confirm(
        admin_client, "reject_selected", [accepted], reason="returned", remark="The customer sent the shoes back."
    )

    accepted.refresh_from_db()
    assert accepted.status == "rejected"
    assert (accepted.status_reason, accepted.status_remark) == ("returned", "The customer sent the shoes back.")
    reward = Reward.objects.get(conversion_id=accepted.pk)
    assert reward.status == "reversed"
    assert reward.transactions.filter(kind="reversal").count() == 1
    change = StatusChange.objects.filter(conversion=accepted).last()
    assert (change.to_status, change.actor, change.channel) == ("rejected", admin_user, "admin")
    assert "Rejected 1 conversion(s); their rewards, if any, are reversed." in page_messages(response)


def test_reject_with_an_unknown_reason_changes_nothing(admin_client, accepted):
    response = admin_client.post(
        CHANGELIST,
        {
            "action": "reject_selected",
            "confirm": "yes",
            "_selected_action": [str(accepted.pk)],
            "reason": "because",
            "remark": "x",
        },
    )

    assert "reason" in response.context["form"].errors
    accepted.refresh_from_db()
    assert accepted.status == "accepted"


def test_staff_without_the_review_permission_sees_no_review_actions(charlie_client, suspicious):
    response = charlie_client.get(CHANGELIST)

    assert response.status_code == 200
    content = response.content.decode()
    assert "order-suspicious" in content
    assert "approve_selected" not in content and "reject_selected" not in content


@pytest.mark.parametrize("name", ["approve_selected", "reject_selected"])
def test_staff_without_the_review_permission_cannot_run_the_actions(charlie_client, suspicious, name):
    first = action(charlie_client, name, [suspicious])
    second = confirm(charlie_client, name, [suspicious], reason="fraud", remark="I say so.")

    # The action does not exist for charlie: both POSTs just show the list again.
    for response in (first, second):
        assert response.status_code == 200
        assert response.templates[0].name == "admin/change_list.html"
    suspicious.refresh_from_db()
    assert suspicious.status == "suspicious"
    assert not Reward.objects.exists()
    assert not StatusChange.objects.filter(conversion=suspicious, channel="admin").exists()


def test_staff_with_the_review_permission_can_approve(charlie, charlie_client, suspicious):
    charlie.user_permissions.add(Permission.objects.get(codename="review_conversion"))

    confirm(charlie_client, "approve_selected", [suspicious])

    suspicious.refresh_from_db()
    assert suspicious.status == "accepted"
    assert StatusChange.objects.filter(conversion=suspicious).last().actor == charlie


def test_outsider_who_is_not_staff_is_sent_to_log_in(suspicious):
    client = Client()
    client.force_login(UserFactory(username="dave"))

    response = client.post(
        CHANGELIST, {"action": "approve_selected", "confirm": "yes", "_selected_action": [suspicious.pk]}
    )

    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    suspicious.refresh_from_db()
    assert suspicious.status == "suspicious"
