"""Limits on what a request may carry, checked before anything reaches PostgreSQL.

Each once answered 500: a JSON number that overflows to Infinity (jsonb refuses it), arrays nested 5,000 deep,
NUL in a URL. Now each is a 400 (404 for a URL). Also: strict ISO 8601 times, repeated parameters, page_size.
"""

import codecs
import json
import math
import re
from datetime import UTC, datetime

from django.conf import settings
from django.urls.converters import StringConverter
from rest_framework import exceptions, parsers, serializers

from core.postgres_text import NUL

# Deeper than this a request body is refused outright; `meta`, stored and shown back, gets less.
BODY_MAX_DEPTH = 32
META_MAX_DEPTH = 8
# Nothing before this can be a conversion we track; earlier dates are typos or epoch zero.
OCCURRED_AT_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_ISO_8601 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}(:\d{2}([.,]\d{1,9})?)?([Zz]|[+-]\d{2}(:?\d{2})?)", re.ASCII)


class TextConverter(StringConverter):
    """`<text:name>` in a URL: like `<str:>`, but a segment holding NUL matches nothing (a 404), since no
    link code or external id we store can contain it."""

    regex = f"[^/{NUL}]+"


def json_depth(value) -> int:
    """How deeply arrays and objects nest in value (a scalar is 0); iterative, so any depth is safe to measure."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text[:40]} is too large")
    return number


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


class StrictJSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing what JSON allows but nothing downstream can hold: numbers that overflow
    to Infinity, NaN, and nesting deeper than BODY_MAX_DEPTH."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.load(codecs.getreader(encoding)(stream), parse_float=_finite_float, parse_constant=_no_constant)
        except RecursionError:
            raise exceptions.ParseError(f"JSON parse error - nested more than {BODY_MAX_DEPTH} deep") from None
        except ValueError as error:
            raise exceptions.ParseError(f"JSON parse error - {error}") from None
        if json_depth(data) > BODY_MAX_DEPTH:
            raise exceptions.ParseError(f"JSON parse error - nested more than {BODY_MAX_DEPTH} deep")
        return data


def meta_depth_check(value):
    """`meta` nested at most META_MAX_DEPTH deep (its size limit is conversions/intake/validation.py's)."""
    if json_depth(value) > META_MAX_DEPTH:
        raise serializers.ValidationError(f"Must nest at most {META_MAX_DEPTH} levels deep.")
    return value


class StrictDateTimeField(serializers.DateTimeField):
    """ISO 8601 with a time zone (`Z` or an offset), from 2000 on, as UTC. A naive time would be read in our
    time zone, not the sender's, so it is refused rather than guessed."""

    default_error_messages = {
        "invalid": "Use ISO 8601 with a time zone, e.g. 2026-01-31T14:05:00Z.",
        "range": "Must be 2000-01-01 or later.",
    }

    def to_internal_value(self, value):
        if isinstance(value, datetime) and value.tzinfo is not None:  # from our own code, not a request
            value = value.isoformat()
        if not isinstance(value, str) or not _ISO_8601.fullmatch(value.strip()):
            self.fail("invalid")
        try:
            moment = datetime.fromisoformat(value.strip().replace(",", ".")).astimezone(UTC)
        except (ValueError, OverflowError):
            self.fail("invalid")
        if moment < OCCURRED_AT_EARLIEST:
            self.fail("range")
        return moment


def single_values(query, *, repeatable: tuple[str, ...] = ()) -> None:
    """Refuse a parameter sent twice (`amount=1&amount=100`): taking either value would be a guess."""
    repeated = sorted(name for name in query if name not in repeatable and len(query.getlist(name)) > 1)
    if repeated:
        raise exceptions.ValidationError({name: ["Send this parameter once."] for name in repeated})


def page_size_parse(query, *, name: str, default: int, maximum: int) -> int:
    """`page_size`: absent means the default; a whole number from 1 (above the maximum is the maximum)."""
    values = query.getlist(name)
    if not values:
        return default
    raw = values[0]
    if len(values) > 1 or not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or int(raw) < 1:
        raise exceptions.ValidationError({name: [f"A whole number from 1 to {maximum}."]})
    return min(int(raw), maximum)
