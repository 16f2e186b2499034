"""The advertiser's pages: uploads, validation, adjustments, reconciliation, keys; and the outsider."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from conversions.intake.recording import ConversionReport, conversion_record
from conversions.models import Conversion, ConversionUpload
from conversions.processing.pipeline import conversion_process
from conversions.uploads.importing import upload_run
from referrals.models import ApiKey
from referrals.services import advertiser_for_api_key, secret_digest
from rewards.models import Reward, Transaction
from tests.upload_helpers import csv_bytes

pytestmark = pytest.mark.django_db

CONVERSIONS_HEADER = "referral_code,external_id,type,amount,product_id"


def post_upload(client, raw: bytes, *, kind="conversions", offer=None, name="file.csv", **extra):
    data = {"kind": kind, "file": SimpleUploadedFile(name, raw, content_type="text/csv"), **extra}
    if offer is not None:
        data["offer"] = offer.pk
    return client.post("/advertiser/uploads/", data)


def uploaded(client, raw, **kwargs) -> ConversionUpload:
    response = post_upload(client, raw, **kwargs)
    assert response.status_code == 302, response.content.decode()[:2000]
    upload = ConversionUpload.objects.latest("pk")
    return upload_run(upload_id=upload.pk)


def rows_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


def recorded(advertiser, external_id: str, amount="100.00", *, created_at=None, offer="acme-travel") -> Conversion:
    report = ConversionReport(
        type="purchase", external_id=external_id, amount=Decimal(amount), referral_code="ALICE", offer=offer,
        product_id="sku",
    )  # fmt: skip
    conversion, _ = conversion_record(advertiser=advertiser, report=report, channel="api", now=created_at)
    return conversion


# Uploads through the pages ---------------------------------------------------------------------


def test_the_offers_page_lists_only_the_advertisers_offers(acme_client, manual_offer, globex):
    from tests.factories import OfferFactory

    OfferFactory(advertiser=globex, public_id="globex-secret")

    html = acme_client.get("/advertiser/").content.decode()

    assert "acme-travel" in html and "globex-secret" not in html


def test_the_template_has_the_header_and_an_example_row_per_type(acme_client, manual_offer):
    response = acme_client.get("/advertiser/offers/acme-travel/template.csv")

    header, purchase, subscription = rows_of(response)
    assert response["Content-Type"].startswith("text/csv")
    assert header[:6] == ["click_id", "referral_code", "external_id", "type", "amount", "currency"]
    assert "meta_coupon" in header and purchase[header.index("external_id")] == "order-1001"
    assert purchase[header.index("product_id")] == "sku-1" and subscription[header.index("type")] == "subscription"


def test_an_upload_is_imported_and_its_errors_download_as_escaped_csv(acme_client, manual_offer, alice):
    raw = csv_bytes(CONVERSIONS_HEADER, "ALICE,o-1,purchase,10,sku", "ALICE,o-2,purchase,=HYPERLINK(1),sku")

    upload = uploaded(acme_client, raw, offer=manual_offer)
    page = acme_client.get(f"/advertiser/uploads/{upload.pk}/").content.decode()
    errors = acme_client.get(f"/advertiser/uploads/{upload.pk}/errors.csv")

    assert upload.status == "done" and upload.uploaded_by.username == "acme-finance"
    assert "1</strong> conversion created" in page and "1 conversion created, 1 row refused (<a" in page
    assert rows_of(errors) == [
        ["row", "column", "value", "external_id", "reason"],
        ["3", "amount", "'=HYPERLINK(1)", "o-2", "A valid number is required."],
    ]


def test_an_oversized_file_is_refused_with_the_limit_named(acme_client, manual_offer, settings):
    settings.CSV_UPLOAD_MAX_BYTES = 1024

    response = post_upload(acme_client, b"a" * 2048, offer=manual_offer)

    assert response.status_code == 200
    assert "the limit is 0.0 MB" in response.content.decode() or "limit is" in response.content.decode()
    assert not ConversionUpload.objects.exists()


def test_a_file_without_the_columns_is_refused_on_the_form(acme_client, manual_offer):
    response = post_upload(acme_client, csv_bytes("order,price", "1,2"), offer=manual_offer)

    assert response.status_code == 200 and "Missing columns" in response.content.decode()
    assert not ConversionUpload.objects.exists()


def test_uploading_the_same_file_again_adds_nothing_and_says_so(acme_client, manual_offer, alice):
    raw = csv_bytes(CONVERSIONS_HEADER, "ALICE,o-1,purchase,10,sku")
    first = uploaded(acme_client, raw, offer=manual_offer)

    second = uploaded(acme_client, raw, offer=manual_offer)
    page = acme_client.get(f"/advertiser/uploads/{second.pk}/").content.decode()

    assert Conversion.objects.count() == 1 and second.duplicate_count == 1 and second.created_count == 0
    assert f'identical to <a href="/advertiser/uploads/{first.pk}/">upload #{first.pk}</a>' in page


@pytest.mark.django_db(transaction=True)
def test_progress_is_reported_while_a_real_worker_imports(
    acme_client, manual_offer, alice, run_worker, queue, monkeypatch
):
    import threading

    from django.db import connections
    from django.test import Client

    monkeypatch.setattr("conversions.uploads.importing.CHUNK_ROWS", 25)
    raw = csv_bytes(CONVERSIONS_HEADER, *(f"ALICE,o-{n},purchase,10,sku" for n in range(300)))
    assert post_upload(acme_client, raw, offer=manual_offer).status_code == 302
    upload = ConversionUpload.objects.get()
    assert queue.count == 1 and acme_client.get(f"/advertiser/uploads/{upload.pk}/progress.json").json() == {
        "status": "queued", "phase": "queued", "label": "Queued", "headline": "Queued: imported 0 of 300 rows",
        "waiting_for": "Waiting for a worker: none is running right now; it is next in the queue.",
        "rows_total": 300, "rows_done": 0, "conversions_total": 0, "conversions_processed": 0, "percent": 0,
        "created": 0, "duplicates": 0, "updated": 0, "errors": 0, "finished": False,
    }  # fmt: skip

    seen, stop = [], threading.Event()
    poller = Client()
    poller.force_login(upload.uploaded_by)

    def poll():
        while not stop.is_set():
            seen.append(poller.get(f"/advertiser/uploads/{upload.pk}/progress.json").json()["rows_done"])
            stop.wait(0.005)
        connections.close_all()

    thread = threading.Thread(target=poll)
    thread.start()
    run_worker()
    stop.set()
    thread.join()

    final = acme_client.get(f"/advertiser/uploads/{upload.pk}/progress.json").json()
    assert final["status"] == "done" and final["percent"] == 100 and final["created"] == 300 and final["finished"]
    assert any(0 < done < 300 for done in seen), seen
    assert seen == sorted(seen)
    # The created conversions were processed in batches by the same worker.
    assert Conversion.objects.filter(status="accepted").count() == 300


# Validation -----------------------------------------------------------------------------------


@pytest.fixture
def travel_conversions(acme, manual_offer, alice):
    """Three conversions in the term (one accepted with a reward) and one whose term has ended."""
    manual_offer.validation_term_days = 30
    manual_offer.save()
    accepted = recorded(acme, "acc-1")
    conversion_process(conversion_id=accepted.pk)
    pending = recorded(acme, "pend-1", "50.00")
    suspicious = recorded(acme, "sus-1")
    Conversion.objects.filter(pk=suspicious.pk).update(status="suspicious")
    old = recorded(acme, "old-1", created_at=timezone.now() - timedelta(days=40))
    return {"accepted": accepted, "pending": pending, "suspicious": suspicious, "old": old}


def test_the_validation_list_shows_conversions_inside_the_term_filterable(acme_client, travel_conversions):
    html = acme_client.get("/advertiser/validation/").content.decode()
    filtered = acme_client.get("/advertiser/validation/", {"status": "suspicious"}).content.decode()

    assert "acc-1" in html and "pend-1" in html and "sus-1" in html and "old-1" not in html
    assert "sus-1" in filtered and "acc-1" not in filtered


def test_rejecting_with_a_reason_reverses_the_reward_and_the_publisher_sees_the_reason(
    acme_client, acme_user, travel_conversions
):
    accepted = travel_conversions["accepted"]

    response = acme_client.post(
        "/advertiser/validation/",
        {"conversion": [str(accepted.pk)], "decision": "reject", "reason": "Order returned"},
    )

    accepted.refresh_from_db()
    assert response.status_code == 302
    assert accepted.status == "rejected" and accepted.status_remark == "Order returned"
    assert accepted.status_reason == "advertiser_rejected"
    change = accepted.status_changes.last()
    assert change.actor == acme_user and change.channel == "advertiser"
    assert Reward.objects.get(conversion_id=accepted.pk).status == "reversed"
    assert Transaction.objects.filter(kind="reversal").count() == 1


def test_rejecting_without_a_reason_is_refused(acme_client, travel_conversions):
    pending = travel_conversions["pending"]

    acme_client.post("/advertiser/validation/", {"conversion": [str(pending.pk)], "decision": "reject", "reason": ""})

    pending.refresh_from_db()
    assert pending.status == "pending"


def test_a_suspicious_conversion_is_held_by_the_network_not_approved_on_the_page(acme_client, travel_conversions):
    suspicious = travel_conversions["suspicious"]
    body = {"conversion": [str(suspicious.pk)], "decision": "approve", "reason": ""}

    acme_client.post("/advertiser/validation/", body)

    suspicious.refresh_from_db()
    assert suspicious.status == "suspicious" and not Reward.objects.filter(conversion_id=suspicious.pk).exists()


def test_a_conversion_past_its_validation_term_cannot_be_rejected(acme_client, travel_conversions):
    old = travel_conversions["old"]

    response = acme_client.post(
        "/advertiser/validation/", {"conversion": [str(old.pk)], "decision": "reject", "reason": "late"}, follow=True
    )

    old.refresh_from_db()
    assert old.status == "pending" and "validation term ended" in response.content.decode()


# Adjustments ----------------------------------------------------------------------------------


def test_an_adjustments_csv_approves_rejects_and_reports_bad_rows(acme_client, travel_conversions):
    raw = csv_bytes(
        "external_id,status,reason,amount",
        "sus-1,approved,,",
        "acc-1,rejected,Cancelled by the customer,100.00",
        "pend-1,rejected,,",
        "nope,approved,,",
        "old-1,rejected,too late,",
        "pend-1,approved,,-80.00",
        "sus-1,maybe,,",
    )

    upload = uploaded(acme_client, raw, kind="adjustments")

    statuses = dict(Conversion.objects.values_list("external_id", "status"))
    assert statuses["sus-1"] == "accepted" and statuses["acc-1"] == "rejected" and statuses["pend-1"] == "pending"
    assert Conversion.objects.get(external_id="acc-1").status_remark == "Cancelled by the customer"
    assert (upload.updated_count, upload.error_count) == (2, 5)
    assert [(row, column) for row, column in upload.row_errors.values_list("row", "column")] == [
        (4, "reason"),
        (5, "external_id"),
        (6, "status"),
        (7, "amount"),
        (8, "external_id"),
    ]


def test_the_same_adjustments_file_twice_changes_nothing_the_second_time(acme_client, travel_conversions):
    raw = csv_bytes("external_id,status,reason", "acc-1,rejected,Cancelled")
    uploaded(acme_client, raw, kind="adjustments")

    second = uploaded(acme_client, raw, kind="adjustments")

    assert (second.updated_count, second.unchanged_count, second.error_count) == (0, 1, 0)
    assert Transaction.objects.filter(kind="reversal").count() == 1


# Reconciliation -------------------------------------------------------------------------------


def test_reconciliation_sorts_orders_into_matched_theirs_ours_and_amount_differences(
    acme_client, acme, manual_offer, alice
):
    month = timezone.now().date().replace(day=1)
    recorded(acme, "both-same", "10.00")
    recorded(acme, "both-diff", "20.00")
    recorded(acme, "ours-only", "30.00")
    raw = csv_bytes("external_id,amount", "both-same,10", "both-diff,25.50", "theirs-only,5", "bad,-1")

    upload = uploaded(acme_client, raw, kind="reconciliation", billing_month=month.strftime("%Y-%m"))
    download = rows_of(acme_client.get(f"/advertiser/uploads/{upload.pk}/reconciliation.csv"))

    assert upload.summary == {"matched": 1, "amount_differs": 1, "only_theirs": 1, "only_ours": 1}
    assert upload.error_count == 1
    by_id = {row[0]: row for row in download[1:]}
    assert by_id["both-diff"][1:5] == ["amount_differs", "25.50", "20.0000", "5.5000"]
    assert by_id["theirs-only"][1] == "only_theirs" and by_id["ours-only"][1] == "only_ours"


# API keys and postback -------------------------------------------------------------------------


def test_an_api_key_is_shown_once_and_can_be_revoked(acme_client, acme):
    acme_client.post("/advertiser/api-keys/", {"name": "shop backend"})
    first = acme_client.get("/advertiser/api-keys/").content.decode()
    again = acme_client.get("/advertiser/api-keys/").content.decode()

    key = ApiKey.objects.get(advertiser=acme, name="shop backend")
    raw = first.split('<code id="secret-value">')[1].split("</code>")[0]
    assert secret_digest(raw) == key.key_hash and advertiser_for_api_key(raw) == acme
    assert raw not in again

    acme_client.post(f"/advertiser/api-keys/{key.pk}/revoke/")

    assert advertiser_for_api_key(raw) is None


def test_the_postback_url_carries_a_new_token_once(acme_client, acme):
    acme_client.post("/advertiser/postback/")
    first = acme_client.get("/advertiser/postback/", {"type": "subscription"}).content.decode()
    again = acme_client.get("/advertiser/postback/").content.decode()

    acme.refresh_from_db()
    token = first.split('<code id="secret-value">')[1].split("</code>")[0]
    assert secret_digest(token) == acme.postback_token_hash
    assert f"/v1/postback?token={token}&amp;click_id={{click_id}}" in first and "type=subscription" in first
    assert token not in again and "YOUR_POSTBACK_TOKEN" in again


# The outsider ---------------------------------------------------------------------------------


def test_another_advertiser_gets_404_for_everything_of_acme(client, globex_user, acme_client, travel_conversions):
    acme_upload = uploaded(acme_client, csv_bytes("external_id,status,reason", "x,approved,"), kind="adjustments")
    acme_key = ApiKey.objects.create(advertiser=acme_upload.advertiser, name="k", prefix="ak_x", key_hash="h" * 64)
    client.force_login(globex_user)
    pending = travel_conversions["pending"]

    for url in [
        "/advertiser/offers/acme-travel/template.csv",
        f"/advertiser/uploads/{acme_upload.pk}/",
        f"/advertiser/uploads/{acme_upload.pk}/progress.json",
        f"/advertiser/uploads/{acme_upload.pk}/errors.csv",
        f"/advertiser/uploads/{acme_upload.pk}/reconciliation.csv",
    ]:
        assert client.get(url).status_code == 404, url
    assert client.post(f"/advertiser/api-keys/{acme_key.pk}/revoke/").status_code == 404
    decided = client.post(
        "/advertiser/validation/", {"conversion": [str(pending.pk)], "decision": "reject", "reason": "mine now"}
    )
    assert decided.status_code == 404
    pending.refresh_from_db()
    acme_key.refresh_from_db()
    assert pending.status == "pending" and acme_key.revoked_at is None
    assert "acc-1" not in client.get("/advertiser/validation/").content.decode()
    assert "acme-travel" not in client.get("/advertiser/").content.decode()
    # Nor can Globex upload into Acme's offer.
    manual_offer = pending.offer
    refused = post_upload(client, csv_bytes(CONVERSIONS_HEADER, "ALICE,o,purchase,1,s"), offer=manual_offer)
    assert refused.status_code == 200 and not ConversionUpload.objects.filter(advertiser__name="Globex").exists()


def test_a_partner_or_anonymous_user_cannot_open_advertiser_pages(client, alice):
    assert client.get("/advertiser/").status_code == 302  # to the login page
    client.force_login(alice.user)
    assert client.get("/advertiser/").status_code == 404


# The workspace: the home's figures for a period, over the advertiser's own offers ----------------

MARCH = {"preset": "custom", "start": "2026-03-01", "end": "2026-03-31"}


def stat(html: str, name: str) -> str:
    return html.split(f'data-stat="{name}">', 1)[1].split("</dd>", 1)[0].strip()


def table(html: str, table_id: str) -> str:
    return html.split(f'<table id="{table_id}"', 1)[1].split("</table>", 1)[0]


@pytest.fixture
def march_sales(acme, offer, alice_link, bob, globex):
    """Acme: Alice Archer sells twice on Acme Shoes in March and once in February, Bob once on Acme Hats; Globex:
    Bob sells on Globex Tools, which Acme must never see. Every rule pays 10%."""
    from tests.dashboard.conftest import click_at, convert
    from tests.factories import LinkFactory, OfferFactory, RewardRuleFactory

    alice_link.partner.user.first_name, alice_link.partner.user.last_name = "Alice", "Archer"
    alice_link.partner.user.save()
    offer.name = "Acme Shoes"
    offer.save()
    hats = OfferFactory(advertiser=acme, public_id="acme-hats", name="Acme Hats", currency="USD")
    tools = OfferFactory(advertiser=globex, public_id="globex-tools", name="Globex Tools", currency="USD")
    for each in (offer, hats, tools):
        RewardRuleFactory(offer=each, reward_type="percentage", value=Decimal("10"))
    bob_hats = LinkFactory(partner=bob, offer=hats, code="bob-hats")
    bob_tools = LinkFactory(partner=bob, offer=tools, code="bob-tools")
    march = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    sales = {
        "a-1": convert(acme, click_at(alice_link, march), external_id="a-1", amount="1200.00"),
        "a-2": convert(acme, click_at(alice_link, march + timedelta(days=5)), external_id="a-2", amount="300.00"),
        "a-feb": convert(acme, click_at(alice_link, march - timedelta(days=20)), external_id="a-feb", amount="700.00"),
        "b-1": convert(acme, click_at(bob_hats, march + timedelta(days=1)), external_id="b-1", amount="50.00"),
        "g-1": convert(globex, click_at(bob_tools, march), external_id="g-1", amount="9999.00"),
    }
    click_at(alice_link, march + timedelta(hours=1))  # a click that did not convert
    return sales


def test_the_home_shows_the_periods_conversions_commission_and_top_partners_by_name(acme_client, march_sales):
    html = acme_client.get("/advertiser/", MARCH).content.decode()

    assert stat(html, "conversions") == "3" and stat(html, "clicks") == "4"
    assert stat(html, "amount") == "1,550.00 USD"
    assert stat(html, "owed") == "155.00 USD" and stat(html, "pending") == "155.00 USD"
    assert stat(html, "approved") == stat(html, "paid") == "\N{EN DASH}"
    top = table(html, "top-partners")
    assert top.index("Alice Archer") < top.index("bob") and "ALICE" not in top
    assert "150.00 USD" in top and "5.00 USD" in top
    assert table(html, "top-offers").index("Acme Shoes") < table(html, "top-offers").index("Acme Hats")
    assert "2026-03-01 to 2026-03-31, days in UTC" in html


def test_commission_owed_splits_by_status_partner_offer_and_month(acme_client, march_sales):
    Reward.objects.filter(conversion_id=march_sales["a-2"].pk).update(status="approved")
    Reward.objects.filter(conversion_id=march_sales["b-1"].pk).update(status="paid")
    Reward.objects.filter(conversion_id=march_sales["a-feb"].pk).update(status="reversed")

    html = acme_client.get("/advertiser/", {"preset": "custom", "start": "2026-02-01", "end": "2026-03-31"}).content
    html = html.decode()

    assert stat(html, "pending") == "120.00 USD" and stat(html, "approved") == "30.00 USD"
    assert stat(html, "paid") == "5.00 USD" and stat(html, "owed") == "150.00 USD"
    by_partner = table(html, "owed-by-partner")
    assert "Alice Archer" in by_partner and "150.00 USD" in by_partner and "ALICE" not in by_partner
    assert "Acme Shoes" in table(html, "owed-by-offer") and "Globex" not in table(html, "owed-by-offer")
    # February's only reward was reversed: owed to no one, so no row.
    assert "2026-03" in table(html, "owed-by-month") and "2026-02" not in table(html, "owed-by-month")
    assert "rejected" not in html.split('id="conversions-by-status"', 1)[1].split("</p>", 1)[0].lower()


def test_the_home_chart_has_an_axis_and_the_days_of_the_period(acme_client, march_sales):
    html = acme_client.get("/advertiser/", MARCH).content.decode()

    assert 'class="axis"' in html and "<svg" in html
    by_day = html.split("The numbers by day", 1)[1].split("</table>", 1)[0]
    assert by_day.count("<tr>") == 32  # the header and the 31 days of March
    assert '<th scope="row">2026-03-10</th><td class="num">2</td><td class="num">1</td>' in by_day


def test_an_advertiser_never_sees_another_advertisers_conversions_partners_or_offers(
    client, acme_client, globex_user, march_sales
):
    acme_html = acme_client.get("/advertiser/", MARCH).content.decode()
    client.force_login(globex_user)
    globex_html = client.get("/advertiser/", MARCH).content.decode()

    assert "Globex Tools" not in acme_html and "9,999.00" not in acme_html and "999.90" not in acme_html
    assert stat(globex_html, "conversions") == "1" and stat(globex_html, "amount") == "9,999.00 USD"
    assert stat(globex_html, "owed") == "999.90 USD"
    assert "Alice Archer" not in globex_html and "Acme Shoes" not in globex_html and "Acme Hats" not in globex_html
    assert "bob" in table(globex_html, "top-partners")


def test_a_period_that_does_not_parse_shows_its_error_and_no_figures(acme_client, march_sales):
    html = acme_client.get("/advertiser/", {"preset": "custom", "start": "2026-03-31", "end": "2026-03-01"})
    html = html.content.decode()

    assert "The last day comes before the first." in html and "No figures" in html
    assert 'data-stat="conversions"' not in html


def test_days_and_times_follow_the_advertisers_time_zone(acme_client, acme, alice_link, march_sales, manual_offer):
    from tests.dashboard.conftest import click_at, convert

    # 20:00 UTC on 31 March is 05:00 on 1 April in Tokyo.
    click = click_at(alice_link, datetime(2026, 3, 31, 19, 55, tzinfo=UTC))
    convert(acme, click, external_id="late", amount="10.00")
    acme.time_zone = "Asia/Tokyo"
    acme.save()
    upload = uploaded(acme_client, csv_bytes("external_id,status,reason", "x,approved,"), kind="adjustments")
    ConversionUpload.objects.filter(pk=upload.pk).update(created_at=datetime(2026, 3, 31, 20, 0, tzinfo=UTC))

    march = acme_client.get("/advertiser/", MARCH).content.decode()
    april = acme_client.get("/advertiser/", {"preset": "custom", "start": "2026-04-01", "end": "2026-04-30"})

    assert stat(march, "conversions") == "3" and stat(april.content.decode(), "conversions") == "1"
    assert stat(march, "clicks") == "4" and stat(april.content.decode(), "clicks") == "1"
    assert "(times in Asia/Tokyo)" in march and "days in Asia/Tokyo" in march
    assert "2026-04-01 05:00" in march  # the upload's time, in Tokyo
    assert "When (Asia/Tokyo)" in acme_client.get("/advertiser/request-log/").content.decode()


def test_the_advertiser_sets_its_time_zone_on_the_settings_page(acme_client, acme):
    saved = acme_client.post("/advertiser/settings/", {"time_zone": "Europe/Berlin"}, follow=True)
    refused = acme_client.post("/advertiser/settings/", {"time_zone": "Mars/Olympus"})

    acme.refresh_from_db()
    assert acme.time_zone == "Europe/Berlin"
    assert "Times are now shown in Europe/Berlin." in saved.content.decode()
    assert "(times in Europe/Berlin)" in saved.content.decode()
    assert refused.status_code == 200 and "Select a valid choice" in refused.content.decode()


def test_claims_show_amounts_in_the_money_format_and_the_partner_by_name(acme_client, acme, manual_offer, alice):
    from conversions.claims.services import claim_submit
    from tests.factories import LinkFactory
    from tests.upload_helpers import click_on

    alice.user.first_name, alice.user.last_name = "Alice", "Archer"
    alice.user.save()
    acme.time_zone = "Asia/Tokyo"
    acme.save()
    click = click_on(LinkFactory(partner=alice, offer=manual_offer), "k" * 32, age=timedelta(hours=2))
    recorded(acme, "order-9", "1234.5")
    claim_submit(
        partner=alice, offer=manual_offer, order_id="order-9", purchase_date=timezone.now().date(),
        amount=Decimal("2345.6"),
    )  # fmt: skip

    html = acme_client.get("/advertiser/claims/").content.decode()

    assert "2,345.60 USD" in html and "1,234.50 USD" in html and "Alice Archer" in html
    assert timezone.localtime(click.created_at, ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%d %H:%M") in html


def test_the_home_reads_a_fixed_number_of_queries_however_many_partners_sold(acme_client, acme, offer, march_sales):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.dashboard.conftest import click_at, convert
    from tests.factories import LinkFactory, PartnerFactory

    with CaptureQueriesContext(connection) as few:
        acme_client.get("/advertiser/", MARCH)
    for n in range(5):
        link = LinkFactory(partner=PartnerFactory(), offer=offer)
        convert(acme, click_at(link, datetime(2026, 3, 20, 9, n, tzinfo=UTC)), external_id=f"more-{n}")
    with CaptureQueriesContext(connection) as more:
        html = acme_client.get("/advertiser/", MARCH).content.decode()

    assert stat(html, "conversions") == "8"
    assert len(more.captured_queries) == len(few.captured_queries)


def test_a_member_of_two_advertisers_sees_the_figures_of_the_one_it_acts_for(
    acme_client, acme_user, globex, march_sales
):
    globex.members.add(acme_user)

    as_acme = acme_client.get("/advertiser/", MARCH).content.decode()
    acme_client.post("/advertiser/switch/", {"advertiser": globex.pk})
    as_globex = acme_client.get("/advertiser/", MARCH).content.decode()

    assert stat(as_acme, "amount") == "1,550.00 USD" and "Globex Tools" not in as_acme
    assert stat(as_globex, "amount") == "9,999.00 USD" and "Acme Shoes" not in as_globex
