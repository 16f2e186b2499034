"""Fair-use limits per API key (or postback token, or partner), not per IP: one noisy
integration must not starve the others. A refused request gets 429 with Retry-After."""

from redis.exceptions import RedisError
from rest_framework.throttling import SimpleRateThrottle


class PerCredentialThrottle(SimpleRateThrottle):
    """The rate for the view's `throttle_scope` ("ingest" or "read"), counted per authenticated caller."""

    def __init__(self):
        pass  # the rate depends on the view, so it is read in allow_request

    def allow_request(self, request, view):
        self.scope = getattr(view, "throttle_scope", None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        try:
            return super().allow_request(request, view)
        except RedisError:
            return True  # fair use is not worth refusing conversions while the cache is down

    def get_cache_key(self, request, view):
        principal = request.auth
        if principal is None:
            return None  # unauthenticated requests fail authentication first
        owner = f"{type(principal).__name__}:{principal.pk}"
        return self.cache_format % {"scope": self.scope, "ident": owner}
