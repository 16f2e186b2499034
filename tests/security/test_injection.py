"""What attackers type comes back harmless: CSV cells a spreadsheet would run as formulas get a leading
apostrophe in every export, and `<script>` stored through meta, sub ids, user agents, external ids,
referral codes and row errors is escaped on every page that shows it (admin, dashboard, advertiser)."""

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from conversions.intake.recording import ConversionReport, conversion_record
from conversions.models import Conversion, ConversionUpload
from conversions.processing.pipeline import conversion_process
from conversions.uploads.importing import upload_run
from conversions.uploads.services import upload_create
from referrals.models import Click
from rewards.models import PayoutProfile
from rewards.payouts import payout_batch_create
from tests.factories import LinkFactory, OfferFactory, PartnerFactory, RewardRuleFactory, UserFactory
from tests.upload_helpers import _media_in_tmp  # noqa: F401 (autouse)

pytestmark = pytest.mark.django_db

FORMULAS = ["=1+2", "+1+2", "-1+2", "@SUM(A1)", "\tcmd", "\rcmd", '=HYPERLINK("http://evil.example")']
XSS = "<script>alert(1)</script>"


def rows_of(response) -> list[list[str]]:
    body = (
        b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
    ).decode()
    return list(csv.reader(io.StringIO(body)))


def assert_every_formula_defused(rows: list[list[str]], planted: list[str]) -> None:
    cells = [cell for row in rows for cell in row]
    for value in planted:
        assert value not in cells, f"{value!r} came out raw"
        assert "'" + value in cells, f"{value!r} is missing (or escaped differently)"
    for cell in cells:
        assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell
        assert not cell.startswith("-") or cell[1:].replace(".", "").isdigit(), cell  # a negative amount is a number


# --- CSV injection ----------------------------------------------------------------------------------------


def test_the_partner_conversion_export_defuses_formulas_in_every_column(alice_client, acme, alice_link, rule):
    at = timezone.now() - timedelta(days=1)
    planted = []
    for n, formula in enumerate(FORMULAS):
        click = Click.objects.create(
            click_id=f"{n:032d}",
            link=alice_link,
            offer=alice_link.offer,
            partner=alice_link.partner,
            created_at=at,
            sub1=formula,
            sub2=formula,
        )
        report = ConversionReport(
            type="purchase", external_id=formula + f"-{n}", amount=Decimal("10"), click_id=click.click_id
        )
        conversion, _ = conversion_record(advertiser=acme, report=report, channel="api", now=at + timedelta(minutes=1))
        conversion_process(conversion_id=conversion.pk, now=at + timedelta(minutes=2))
        planted += [formula, formula + f"-{n}"]

    response = alice_client.get("/dashboard/conversions/export.csv", {"preset": "last_7"})

    assert response.status_code == 200
    assert_every_formula_defused(rows_of(response), planted)


def test_the_advertisers_error_and_reconciliation_csvs_defuse_formulas(acme_client, acme, manual_offer, alice):
    errors_file = "referral_code,external_id,type,amount,product_id\n" + "".join(
        f"ALICE,{formula.strip()}-{n},purchase,{formula},sku\n" for n, formula in enumerate(FORMULAS)
    )
    errors = upload_create(
        advertiser=acme, kind="conversions", name="e.csv", raw=errors_file.encode(), offer=manual_offer
    )
    upload_run(upload_id=errors.pk)
    month = timezone.now().date().replace(day=1)
    reconciliation_file = "external_id,amount\n" + "".join(
        f'"{formula}",{n + 1}\n' for n, formula in enumerate(FORMULAS)
    )
    reconciliation = upload_create(
        advertiser=acme, kind="reconciliation", name="r.csv", raw=reconciliation_file.encode(), billing_month=month
    )
    upload_run(upload_id=reconciliation.pk)

    error_rows = rows_of(acme_client.get(f"/advertiser/uploads/{errors.pk}/errors.csv"))
    reconciliation_rows = rows_of(acme_client.get(f"/advertiser/uploads/{reconciliation.pk}/reconciliation.csv"))

    # Planted as quoted cells: the ones without their own quotes or leading white space come back whole.
    values = [formula for formula in FORMULAS if formula.strip() == formula and '"' not in formula]
    assert_every_formula_defused(error_rows, [])
    assert any(cell.startswith("'") for row in error_rows for cell in row)  # the bad amounts, escaped
    assert_every_formula_defused(reconciliation_rows, values)


def test_the_admin_upload_errors_csv_defuses_formulas(admin_client, acme, manual_offer, alice):
    raw = "referral_code,external_id,type,amount,product_id\nALICE,x,purchase,=1+2,sku\n"
    upload = upload_create(advertiser=acme, kind="conversions", name="e.csv", raw=raw.encode(), offer=manual_offer)
    upload_run(upload_id=upload.pk)

    rows = rows_of(admin_client.get(f"/admin/conversions/conversionupload/{upload.pk}/errors.csv"))

    assert_every_formula_defused(rows, ["=1+2"])


def test_the_payout_batch_csv_defuses_formulas_in_bank_details(admin_client, acme, offer):
    partner = PartnerFactory(user=UserFactory(username="=cmd|' /C calc'!A0"), referral_code="FORMULA")
    PayoutProfile.objects.create(
        partner=partner, method="bank", account_name="@SUM(1)", iban="+DE89", bic="-1+1", paypal_email=""
    )
    RewardRuleFactory(offer=offer, value=Decimal("50.00"))
    link = LinkFactory(partner=partner, offer=offer, code="formula-link")
    at = timezone.now() - timedelta(days=60)
    click = Click.objects.create(
        click_id="f" * 32, link=link, offer=offer, partner=partner, created_at=at - timedelta(minutes=5)
    )
    report = ConversionReport(type="purchase", external_id="pay-1", amount=Decimal("100"), click_id=click.click_id)
    conversion, _ = conversion_record(advertiser=acme, report=report, channel="api", now=at)
    conversion_process(conversion_id=conversion.pk, now=at + timedelta(seconds=30))
    from rewards.lifecycle import reward_approve
    from rewards.models import Reward

    assert Reward.objects.filter(conversion_id=conversion.pk).exists()
    reward_approve(conversion_id=conversion.pk, now=at + timedelta(days=1))
    batch = payout_batch_create(currency="USD", period_end=timezone.now().date(), now=timezone.now())

    rows = rows_of(admin_client.get(f"/admin/rewards/payoutbatch/{batch.pk}/csv/"))

    assert_every_formula_defused(rows, ["=cmd|' /C calc'!A0", "@SUM(1)", "+DE89", "-1+1"])


# --- Stored XSS ---------------------------------------------------------------------------------------------


@pytest.fixture
def hostile_conversion(acme, alice_link, rule):
    """A conversion whose every free-text field an attacker controls carries a script."""
    at = datetime.now(UTC) - timedelta(days=1)
    click = Click.objects.create(
        click_id="x" * 32,
        link=alice_link,
        offer=alice_link.offer,
        partner=alice_link.partner,
        created_at=at,
        user_agent=XSS,
        referer="https://x.example/" + XSS,
        **{f"sub{n}": XSS for n in range(1, 6)},
    )
    report = ConversionReport(
        type="purchase",
        external_id=XSS,
        amount=Decimal("10"),
        click_id=click.click_id,
        product_id=XSS,
        category=XSS,
        user_agent=XSS,
        source=XSS,
        meta={XSS: XSS, "coupon": XSS},
    )
    conversion, _ = conversion_record(advertiser=acme, report=report, channel="api", now=at + timedelta(minutes=1))
    conversion_process(conversion_id=conversion.pk, now=at + timedelta(minutes=2))
    Conversion.objects.filter(pk=conversion.pk).update(status="suspicious", status_remark=XSS)
    return Conversion.objects.get(pk=conversion.pk)


def assert_escaped(response, where: str) -> None:
    html = response.content.decode()
    assert response.status_code == 200, where
    assert XSS not in html, f"raw script on {where}"


def test_scripts_in_conversion_fields_are_escaped_in_the_admin(admin_client, hostile_conversion):
    pk = hostile_conversion.pk
    for url in [
        "/admin/conversions/conversion/",
        f"/admin/conversions/conversion/{pk}/change/",
        "/admin/conversions/suspiciousconversion/",
        f"/admin/conversions/suspiciousconversion/{pk}/change/",
        "/admin/referrals/click/",
    ]:
        assert_escaped(admin_client.get(url), url)
    assert "&lt;script&gt;" in admin_client.get(f"/admin/conversions/conversion/{pk}/change/").content.decode()


def test_scripts_are_escaped_on_the_partner_dashboard(alice_client, hostile_conversion):
    week = {"preset": "last_7"}
    for url in ["/dashboard/", "/dashboard/conversions/", f"/dashboard/conversions/{hostile_conversion.pk}/"]:
        assert_escaped(alice_client.get(url, week), url)
    assert_escaped(alice_client.get("/dashboard/performance/", {**week, "group_by": "sub1"}), "performance by sub1")


def test_scripts_are_escaped_on_the_advertiser_pages(acme_client, acme, hostile_conversion, manual_offer, alice):
    Conversion.objects.filter(pk=hostile_conversion.pk).update(status="pending")
    raw = f'referral_code,external_id,type,amount,product_id\n"{XSS}","{XSS}",purchase,"{XSS}",sku\n'
    upload = upload_create(advertiser=acme, kind="conversions", name=XSS + ".csv", raw=raw.encode(), offer=manual_offer)
    upload_run(upload_id=upload.pk)
    reconciliation = upload_create(
        advertiser=acme,
        kind=ConversionUpload.Kind.RECONCILIATION,
        name="r.csv",
        raw=f'external_id,amount\n"{XSS}",1\n'.encode(),
        billing_month=date.today().replace(day=1),  # noqa: DTZ011
    )
    upload_run(upload_id=reconciliation.pk)
    for url in [
        "/advertiser/",
        "/advertiser/uploads/",
        f"/advertiser/uploads/{upload.pk}/",
        f"/advertiser/uploads/{reconciliation.pk}/",
        "/advertiser/validation/",
    ]:
        assert_escaped(acme_client.get(url), url)


def test_a_script_in_a_referral_code_or_offer_name_is_escaped(alice_client, admin_client, acme, alice):
    offer = OfferFactory(advertiser=acme, public_id="xss-offer", name=XSS)
    LinkFactory(partner=alice, offer=offer, code="xss-link")
    alice.referral_code = XSS
    alice.save(update_fields=["referral_code"])
    for url in ["/dashboard/links/", "/dashboard/profile/", "/dashboard/"]:
        assert_escaped(alice_client.get(url), url)
    for url in ["/admin/referrals/partner/", f"/admin/referrals/partner/{alice.pk}/change/", "/admin/referrals/offer/"]:
        assert_escaped(admin_client.get(url), url)
