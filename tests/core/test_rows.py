"""The row writer's one COPY encoder: every kind of value goes in by COPY and comes back out as it was."""

import json
import uuid
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from django.db import connection

from core.rows import CopyValueInvalid, copy_line, copy_lines, copy_text

pytestmark = pytest.mark.django_db

ROW = (
    "tab\there, newline\nthere, a backslash \\ and a CR\r",
    None,
    True,
    False,
    42,
    Decimal("1E+2"),
    Decimal("-0.0050"),
    1.5,
    datetime(2025, 6, 2, 12, 30, 1, 123456, tzinfo=UTC),
    date(2025, 6, 2),
    time(23, 59),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    {"text": "a\tb\\c\nd", "amount": Decimal("1.10"), "at": datetime(2025, 1, 1, tzinfo=UTC), "n": [1, None]},
    ["x", {"y": True}],
)
COLUMNS = (
    "a text, b text, c boolean, d boolean, e bigint, f numeric, g numeric, h double precision, i timestamptz,"
    " j date, k time, l uuid, m jsonb, n jsonb"
)


def test_every_kind_of_value_comes_back_from_copy_as_it_went_in():
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE copy_probe ({COLUMNS})")
    copy_lines("COPY copy_probe FROM STDIN", [copy_line(ROW)] * 3)

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM copy_probe")
        rows = cursor.fetchall()

    assert len(rows) == 3
    back = rows[0]
    assert back[:12] == (*ROW[:5], Decimal("100"), Decimal("-0.0050"), *ROW[7:12])
    expected = {"text": "a\tb\\c\nd", "amount": "1.10", "at": "2025-01-01T00:00:00Z", "n": [1, None]}
    assert json.loads(back[12]) == expected
    assert json.loads(back[13]) == ["x", {"y": True}]


def test_text_choices_are_written_as_their_value():
    from conversions.models import Conversion

    assert copy_text(Conversion.Status.PENDING) == "pending"


@pytest.mark.parametrize("value", ["no\x00nul", object(), b"bytes"])
def test_what_copy_text_cannot_hold_is_refused_not_cut_short(value):
    with pytest.raises(CopyValueInvalid):
        copy_text(value)
