"""Clicks through the Redis click buffer (referrals/click_buffer.py): none lost, none twice, still attributable."""

import pytest
from django.db.models import Sum

from core.redis_connection import redis_for_queue
from referrals import click_buffer
from referrals.click_buffer import BUFFER, click_buffer_length, clicks_flush
from referrals.models import Click, ClickStat, ClickSub1Stat
from referrals.rollups import rollup_clicks_rebuild
from tests.reliability.sentinel_group import SentinelGroup

pytestmark = pytest.mark.usefixtures("click_buffer")

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1"


def clicked(client, times=1, **headers):
    ids = []
    for _ in range(times):
        response = client.get("/c/alice-shoes", {"sub1": "news"}, **headers)
        assert response.status_code == 302
        ids.append(response.cookies["atc_acme-shoes"].value)
    return ids


def rollup_totals():
    return (
        ClickStat.objects.aggregate(clicks=Sum("clicks"), unique=Sum("unique_clicks")),
        ClickSub1Stat.objects.aggregate(clicks=Sum("clicks"), unique=Sum("unique_clicks")),
    )


def test_a_buffered_click_is_written_by_the_flush_with_its_details(client, alice_link):
    [click_id] = clicked(client, HTTP_USER_AGENT=IPHONE, HTTP_ACCEPT_LANGUAGE="de-DE")
    assert not Click.objects.exists()  # the redirect did not touch the click table

    assert clicks_flush() == 1

    click = Click.objects.get()
    assert click.click_id == click_id
    assert (click.partner, click.offer, click.link) == (alice_link.partner, alice_link.offer, alice_link)
    assert (click.sub1, click.device, click.accept_language, click.is_unique) == ("news", "mobile", "de-DE", True)
    assert click_buffer_length() == 0


def test_a_conversion_right_after_its_click_attributes_to_the_buffered_click(client, acme_api, alice_link, alice):
    [click_id] = clicked(client)

    response = acme_api.post(
        "/v1/convert",
        {
            "type": "purchase",
            "external_id": "o-1",
            "click_id": click_id,
            "amount": "10",
            "currency": "USD",
            "product_id": "sku-1",
        },
        format="json",
    )

    assert response.status_code == 202, response.json()
    assert response.json()["attribution"]["step"] == "click_id"
    assert Click.objects.get(click_id=click_id).partner == alice
    # The flusher later meets the same click: it is not written or counted twice.
    assert clicks_flush() == 0
    assert Click.objects.count() == 1
    assert rollup_totals()[0] == {"clicks": 1, "unique": 1}


def test_flushing_twice_inserts_each_click_once(client, alice_link):
    clicked(client, times=3)

    assert clicks_flush() == 3
    assert clicks_flush() == 0

    assert Click.objects.count() == 3
    assert rollup_totals() == ({"clicks": 3, "unique": 1}, {"clicks": 3, "unique": 1})


def test_a_flusher_killed_between_taking_a_batch_and_commit_loses_nothing(client, alice_link):
    ids = clicked(client, times=4)
    redis = click_buffer._redis()
    # What a flusher killed mid-batch leaves: the batch moved to the processing list, nothing committed.
    taken = BUFFER.take(redis, batch_size=3)
    assert len(taken) == 3 and redis.llen(click_buffer.QUEUE) == 1
    assert not Click.objects.exists()

    # The next run writes the leftover batch first, then the rest.
    assert clicks_flush() == 4

    assert sorted(Click.objects.values_list("click_id", flat=True)) == sorted(ids)
    assert click_buffer_length() == 0


def test_a_batch_replayed_after_its_commit_counts_nothing_twice(client, alice_link):
    clicked(client, times=2)
    redis = click_buffer._redis()
    batch = BUFFER.take(redis, batch_size=10)
    clicks_flush()  # writes the batch and deletes the processing list
    redis.rpush(click_buffer.PROCESSING, *batch)  # as if it died after COMMIT, before the delete

    assert clicks_flush() == 0

    assert Click.objects.count() == 2
    assert rollup_totals()[0] == {"clicks": 2, "unique": 1}


def test_the_rollups_after_a_flush_match_a_rebuild_from_the_table(client, alice_link):
    clicked(client, times=3, HTTP_USER_AGENT=IPHONE)
    clicked(client, times=2, HTTP_USER_AGENT="Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/120.0")
    clicks_flush()
    flushed = rollup_totals()

    rollup_clicks_rebuild()

    assert flushed == rollup_totals() == ({"clicks": 5, "unique": 2}, {"clicks": 5, "unique": 2})


def test_a_repeat_click_within_the_window_is_buffered_as_not_unique(client, alice_link):
    clicked(client, times=2, HTTP_USER_AGENT=IPHONE)
    clicked(client, HTTP_USER_AGENT="Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/120.0")
    clicks_flush()

    assert list(Click.objects.order_by("pk").values_list("is_unique", flat=True)) == [True, False, True]


def test_the_flush_command_once_writes_the_buffer(client, alice_link):
    from django.core.management import call_command

    clicked(client, times=2)
    call_command("flush_clicks", "--once")

    assert Click.objects.count() == 2


def test_sub_ids_with_tabs_backslashes_newlines_and_nul_survive_the_buffer(client, alice_link):
    awkward = "a\tb\\c\nd\re\x00f é"
    response = client.get("/c/alice-shoes", {"sub1": awkward, "sub2": "\\N"}, HTTP_REFERER="https://x.example/\t")
    assert response.status_code == 302

    assert clicks_flush() == 1

    click = Click.objects.get()
    assert click.sub1 == "a\tb\\c\nd\re\ufffdf é"  # PostgreSQL text cannot hold NUL: it becomes U+FFFD
    assert (click.sub2, click.referer, click.sub3) == ("\\N", "https://x.example/\t", "")
    assert ClickSub1Stat.objects.get().sub1 == click.sub1


def test_a_click_buffered_as_json_by_the_previous_version_is_still_written(alice_link):
    import json

    fields = {
        "click_id": "f" * 32,
        "link_id": alice_link.pk,
        "offer_id": alice_link.offer_id,
        "partner_id": alice_link.partner_id,
        "created_at": "2026-11-20T10:07:00+00:00",
        "ip": None,
        "user_agent": "",
        "referer": "",
        **{f"sub{number}": "" for number in range(1, 6)},
        "country": "",
        "device": "desktop",
        "browser": "",
        "os": "",
        "accept_language": "",
        "is_bot": False,
    }
    payload = "1" + json.dumps(fields)
    redis = redis_for_queue()
    redis.rpush(click_buffer.QUEUE, payload)
    redis.hset(click_buffer.PENDING, "f" * 32, payload)

    assert clicks_flush() == 1

    click = Click.objects.get()
    assert (click.click_id, click.is_unique, click.created_at.minute) == ("f" * 32, True, 7)
    assert ClickStat.objects.get().bucket.minute == 0
    assert redis.hlen(click_buffer.PENDING) == 0


@pytest.fixture
def replicated_redis(settings, monkeypatch):
    """A private master with one replica (no sentinels), the app's Redis for the test."""
    group = SentinelGroup(replicas=1, sentinels=0)
    group.start()
    monkeypatch.setitem(settings.RQ_QUEUES, "default", {"URL": group.master_url})
    yield group
    group.stop()


def test_a_click_a_replica_confirmed_is_answered_from_the_buffer(client, alice_link, settings, replicated_redis):
    settings.REDIS_WAIT_REPLICAS = 1
    settings.REDIS_WAIT_TIMEOUT_MS = 5000  # a loaded machine: the replica answers long before

    [click_id] = clicked(client)

    assert not Click.objects.exists()
    assert replicated_redis.client(replicated_redis.server_ports[1]).hexists(click_buffer.PENDING, click_id)
    assert clicks_flush() == 1


def test_a_click_no_replica_confirmed_is_written_at_once_and_counted_once(client, alice_link, settings):
    settings.REDIS_WAIT_REPLICAS = redis_for_queue().info("replication")["connected_slaves"] + 1
    settings.REDIS_WAIT_TIMEOUT_MS = 50

    [click_id] = clicked(client)

    assert Click.objects.get().click_id == click_id  # a failover could lose the buffered copy
    assert click_buffer_length() == 1
    assert clicks_flush() == 0  # the buffered copy is skipped
    assert Click.objects.count() == 1
    assert rollup_totals() == ({"clicks": 1, "unique": 1}, {"clicks": 1, "unique": 1})


def test_a_click_buffered_twice_is_written_and_counted_once(client, alice_link):
    [click_id] = clicked(client)
    redis = redis_for_queue()
    line = redis.hget(click_buffer.PENDING, click_id)
    redis.rpush(click_buffer.QUEUE, line[:-1] + b"f")  # the same click again, as a retried buffer write leaves it

    assert clicks_flush() == 1

    assert Click.objects.get().is_unique
    assert rollup_totals() == ({"clicks": 1, "unique": 1}, {"clicks": 1, "unique": 1})
