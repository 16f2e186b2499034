"""Fair-use limits per credential, not per IP, so one noisy integration cannot starve the others (429, Retry-After).

A fixed window in Redis, one pipelined INCR + EXPIRE (DRF's throttle costs two round trips and a pickle, W2 in
docs/performance.md); twice the rate across a window boundary is tolerated.
"""

import time

from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle

from core.redis_connection import redis_for_queue


class PerCredentialThrottle(SimpleRateThrottle):
    """The rate of the view's `throttle_scope` ("ingest" or "read"), counted per authenticated caller."""

    def __init__(self):
        self.retry_after = None  # the rate depends on the view, so it is read in allow_request

    def allow_request(self, request, view):
        self.scope = getattr(view, "throttle_scope", None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        now = time.time()
        window = int(now // self.duration)
        pipeline = redis_for_queue().pipeline(transaction=False)
        pipeline.incr(f"{key}:{window}")
        pipeline.expire(f"{key}:{window}", self.duration + 1)
        try:
            count, _ = pipeline.execute()
        except RedisError:
            return True  # fair use is not worth refusing conversions while the cache is down
        if count <= self.num_requests:
            return True
        self.retry_after = (window + 1) * self.duration - now
        return False

    def wait(self):
        return self.retry_after

    def get_cache_key(self, request, view):
        principal = request.auth
        if principal is None:
            return None  # unauthenticated requests fail authentication first
        owner = f"{type(principal).__name__}:{principal.pk}"
        return self.cache_format % {"scope": self.scope, "ident": owner}
