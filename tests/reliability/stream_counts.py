"""What a Stream's acknowledged clicks and conversions became, counted in the test database through the ORM:
waiting until they are stored and processed, and the proof table's rows. Apart from traffic.py, which
bench/cluster.py imports outside Django."""

import time

from django.db.models import Count

from conversions.models import Conversion
from referrals.models import Click
from tests.reliability.traffic import Stream, proof_rows


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return predicate()


def stream_stored_wait(stream: Stream, *, clicks_timeout: float = 90, conversions_timeout: float = 150) -> bool:
    """Wait until every click answered 302 and every conversion answered 202/200 is in the table and none is
    pending: the writer stores what the intake log holds (on whichever Redis the processes use), and those whose
    job could not be queued are the scheduler's sweep's (every minute), processed by the same worker, unrestarted."""
    clicks = {answer.key for answer in stream.clicks if answer.status == 302}
    conversions = {answer.key for answer in stream.conversions if answer.status in (200, 202)}
    flushed = wait_until(lambda: Click.objects.filter(click_id__in=clicks).count() == len(clicks), clicks_timeout)
    processed = wait_until(
        lambda: (
            Conversion.objects.filter(external_id__in=conversions).values("external_id").distinct().count()
            == len(conversions)
            and not Conversion.objects.filter(status="pending").exists()
        ),
        conversions_timeout,
    )
    return flushed and processed


def stream_proof_rows(stream: Stream) -> list[dict]:
    """The proof table's rows for the stream's clicks and conversions, counted in the database."""
    clicks = dict(Click.objects.values_list("click_id").annotate(rows=Count("id")))
    conversions = dict(Conversion.objects.values_list("external_id").annotate(rows=Count("id")))
    return [
        proof_rows("clicks (302)", stream.clicks, {302}, clicks),
        proof_rows("conversions (202/200)", stream.conversions, {200, 202}, conversions),
    ]
