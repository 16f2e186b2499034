"""Reports from a real streaming replica: gunicorn on a private primary and its `pg_basebackup -R` standby.

Pausing the standby's replay (`pg_wal_replay_pause()`) makes it lack what the primary has just written: a report
that does not show a new conversion read the replica, and says how old its figures are, while the write path
keeps working on the primary; resumed, the report catches up; stopped, the primary serves every page.
"""

import re
import secrets
import time

FRESHNESS = re.compile(r"Figures as of \d\d:\d\d \((\d+) s behind\)")


def eventually(check, *, timeout: float = 120, every: float = 0.5, what: str = "the condition"):
    """Poll `check` until it returns something true (and return that); a loaded machine may take a while."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        outcome = check()
        if outcome:
            return outcome
        time.sleep(every)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def _new_external_id(label: str) -> str:
    return f"{label}-{secrets.token_hex(4)}"


def _report(web, external_id: str) -> str:
    answer = web.page("/dashboard/conversions/", q=external_id)
    assert answer.status_code == 200, answer.text[:500]
    return answer.text


def _lists(page: str, external_id: str) -> bool:
    """The report has a row for the conversion (the search box echoes the id: not that)."""
    return f'<td data-label="External id">{external_id}</td>' in page


def _report_listing(web, external_id: str) -> str | None:
    """The report's page when it lists the conversion, else None."""
    page = _report(web, external_id)
    return page if _lists(page, external_id) else None


def _report_with_notice(web, external_id: str) -> str | None:
    """The report's page when it says how old its figures are, else None."""
    page = _report(web, external_id)
    return page if FRESHNESS.search(page) else None


def _api_count(web, external_id: str) -> int:
    answer = web.api_conversions(external_id)
    assert answer.status_code == 200, answer.text[:500]
    return len(answer.json()["results"])


def _recorded(web, external_id: str) -> dict:
    """POST /v1/convert: the write path answers from the primary with the conversion it stored."""
    answer = web.convert(external_id)
    assert answer.status_code == 202, answer.text[:500]
    conversion = answer.json()
    assert conversion["external_id"] == external_id
    # The writer stores what the intake log acknowledged a moment later, on the primary.
    deadline = time.monotonic() + 60
    while _on_primary(web.pair, external_id) == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    return conversion


def _on_primary(pair, external_id: str) -> int:
    return pair.primary_sql("SELECT count(*) FROM conversions_conversion WHERE external_id = %s", [external_id])[0][0]


def test_a_report_reads_the_replica_and_says_how_old_its_figures_are(pair, web, replay_paused):
    external_id = _new_external_id("while-paused")
    conversion = _recorded(web, external_id)
    assert _on_primary(pair, external_id) == 1

    # The replica has not replayed it: the page reads there, and says so once the lag passes the notice (2 s).
    page = eventually(lambda: _report_with_notice(web, external_id), what="the freshness notice")
    assert not _lists(page, external_id)
    assert int(FRESHNESS.search(page).group(1)) >= 2
    assert _api_count(web, external_id) == 0
    export = web.page("/dashboard/conversions/export.csv", q=external_id)
    assert export.status_code == 200 and external_id not in export.text
    # The advertiser's own answer from the write path still names the conversion: the write went to the primary.
    assert conversion["id"] and conversion["status"] == "pending"
    # Pages that are not reports read the primary: the conversion's own page finds it.
    detail = web.page(f"/dashboard/conversions/{conversion['id']}/")
    assert detail.status_code == 200 and external_id in detail.text


def test_replica_further_behind_than_the_limit_is_not_read(pair, web, strict_web, replay_paused):
    external_id = _new_external_id("past-the-limit")
    _recorded(strict_web, external_id)

    # REPLICA_MAX_LAG_SECONDS=3: once the paused replica is that far behind, the primary serves, without a notice.
    page = eventually(lambda: _report_listing(strict_web, external_id), what="the primary serving")
    assert not FRESHNESS.search(page)
    assert _api_count(strict_web, external_id) == 1
    # The other server, whose limit is an hour, still reads the replica, which lacks it.
    assert not _lists(_report(web, external_id), external_id)


def test_resumed_replay_brings_the_figures_up_to_date(pair, web):
    external_id = _new_external_id("resumed")
    pair.replay_pause()
    try:
        _recorded(web, external_id)
        eventually(lambda: _report_with_notice(web, external_id), what="the freshness notice")
        assert _api_count(web, external_id) == 0
    finally:
        pair.replay_resume()

    page = eventually(lambda: _report_listing(web, external_id), what="the replica catching up")
    assert not FRESHNESS.search(page)
    assert _api_count(web, external_id) == 1


def test_a_stopped_replica_leaves_every_page_answering_from_the_primary(pair, web):
    pair.replica_stop()
    try:
        external_id = _new_external_id("replica-down")
        _recorded(web, external_id)
        for _ in range(3):  # the first request finds it gone; the next ones leave it alone for a while
            page = _report(web, external_id)
            assert _lists(page, external_id) and not FRESHNESS.search(page)
            assert _api_count(web, external_id) == 1
        for path in ("/dashboard/", "/dashboard/performance/", "/dashboard/earnings/"):
            assert web.page(path).status_code == 200, path
        export = web.page("/dashboard/conversions/export.csv", q=external_id)
        assert export.status_code == 200 and external_id in export.text
    finally:
        pair.replica_start()
    # Back, it is read again: a write it has not replayed is missing once replay is paused.
    pair.replica_caught_up()
    pair.replay_pause()
    try:
        later = _new_external_id("replica-back")
        _recorded(web, later)
        eventually(lambda: _report_with_notice(web, later), what="the replica being read again")
        assert not _lists(_report(web, later), later)
    finally:
        pair.replay_resume()
