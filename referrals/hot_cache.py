"""A small in-process TTL cache for the lookups every click and every API call makes.

`GET /c/<code>` reads the link and its offer, `POST /v1/convert` the advertiser
behind the API key: the same few rows, thousands of times a second. Keeping
them in the worker process for `HOT_CACHE_TTL_SECONDS` (default 30 s) saves a
database round trip per request.

What that costs, by design: a change made in *another* process (another
gunicorn worker, another machine, the admin on a queryset `update()`) is seen
here at most one TTL later. An offer paused, a link deleted or an API key
revoked keeps working for up to 30 s on the other workers. The process that
makes the change through the models (save/delete) or `api_key_revoke` forgets
its own entries at once. `HOT_CACHE_TTL_SECONDS=0` turns the cache off.

Entries are shared between requests: callers must treat the cached objects as
read-only.
"""

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from django.conf import settings

_MISSING = object()


class TtlCache:
    """A dict with an expiry per entry and a size bound (cleared whole when full: the hot set refills it)."""

    def __init__(self, name: str, max_entries: int = 10_000):
        self.name = name
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get_or_load(self, key: Hashable, load: Callable[[], Any]) -> Any:
        ttl = settings.HOT_CACHE_TTL_SECONDS
        if ttl <= 0:
            return load()
        now = time.monotonic()
        entry = self._entries.get(key, _MISSING)
        if entry is not _MISSING and entry[0] > now:
            return entry[1]
        value = load()
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = (now + ttl, value)
        return value

    def forget(self, key: Hashable) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# link code -> Link with its offer (select_related), or None for an unknown code.
links_by_code = TtlCache("links_by_code")
# offer id -> Offer with its advertiser: attribution reads the clicked offer's window and currency.
offers_by_id = TtlCache("offers_by_id")
# SHA-256 of an API key or of a postback token -> its Advertiser, or None (unknown or revoked).
advertisers_by_key = TtlCache("advertisers_by_key")
advertisers_by_postback_token = TtlCache("advertisers_by_postback_token")
# partner id -> the partner postback events it subscribes to (a set, empty for most partners).
partner_postback_events = TtlCache("partner_postback_events")

ALL = (links_by_code, offers_by_id, advertisers_by_key, advertisers_by_postback_token, partner_postback_events)


def hot_caches_clear() -> None:
    for cache in ALL:
        cache.clear()


def forget_links(**kwargs) -> None:
    """A link or offer saved or deleted here: drop the cached links (offer changes touch many codes)."""
    links_by_code.clear()
    offers_by_id.clear()


def forget_advertisers(**kwargs) -> None:
    advertisers_by_key.clear()
    advertisers_by_postback_token.clear()
    offers_by_id.clear()  # the cached offers carry their advertiser


def forget_partner_postbacks(**kwargs) -> None:
    partner_postback_events.clear()
