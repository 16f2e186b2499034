"""An in-process TTL cache (`HOT_CACHE_TTL_SECONDS`, 0: off) for the rows every click and API call reads.

By design a change made in another process is seen here up to one TTL later (a paused offer, a revoked key);
the process that makes it through the models forgets at once. Cached objects are shared: treat them as read-only.
"""

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from django.conf import settings

_MISSING = object()


class TtlCache:
    """A dict with an expiry per entry and a size bound (cleared whole when full: the hot set refills it)."""

    MAX_ENTRIES = 10_000

    def __init__(self):
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
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (now + ttl, value)
        return value

    def forget(self, key: Hashable) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# link code -> Link with its offer (select_related), or None for an unknown code.
links_by_code = TtlCache()
# offer id -> Offer with its advertiser: attribution reads the clicked offer's window and currency.
offers_by_id = TtlCache()
# advertiser id -> the longest cookie window of its offers: attribution bounds its click lookup by it.
cookie_window_longest = TtlCache()
# SHA-256 of an API key or of a postback token -> its Advertiser, or None (unknown or revoked).
advertisers_by_key = TtlCache()
advertisers_by_postback_token = TtlCache()
# partner id -> the partner postback events it subscribes to (a set, empty for most partners).
partner_postback_events = TtlCache()


def hot_caches_clear() -> None:
    forget_links()
    forget_advertisers()
    forget_partner_postbacks()


def forget_links(**kwargs) -> None:
    """A link or offer saved or deleted here: drop the cached links (offer changes touch many codes)."""
    links_by_code.clear()
    offers_by_id.clear()
    cookie_window_longest.clear()


def forget_advertisers(**kwargs) -> None:
    advertisers_by_key.clear()
    advertisers_by_postback_token.clear()
    offers_by_id.clear()  # the cached offers carry their advertiser


def forget_partner_postbacks(**kwargs) -> None:
    partner_postback_events.clear()
