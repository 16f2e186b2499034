"""Login brute-force guard for every login form: after LOGIN_FAILURE_LIMIT failures for a username (from one
address) even the right password is refused for LOGIN_LOCKOUT_SECONDS. Counters live in the shared cache."""

import logging

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver
from redis.exceptions import RedisError

from referrals.request_metadata import client_ip

log = logging.getLogger(__name__)


def _key(username: str, request) -> str:
    address = client_ip(request.META) if request is not None else "-"
    return f"login-failures:{(username or '').lower()}:{address}"


class LockoutGuardBackend(ModelBackend):
    """Listed first: refuses every attempt while locked out, then lets the real backends decide."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        try:
            failures = cache.get(_key(username, request), 0)
        except RedisError:
            log.warning("login guard cannot read its counters; letting the login through")
            return None
        if failures >= settings.LOGIN_FAILURE_LIMIT:
            raise PermissionDenied("Too many failed logins; try again later.")
        return None


@receiver(user_login_failed)
def _count_failure(sender, credentials, request=None, **kwargs):
    key = _key(credentials.get("username", ""), request)
    try:
        cache.add(key, 0, timeout=settings.LOGIN_LOCKOUT_SECONDS)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS)
    except RedisError:
        log.warning("login guard cannot count a failure")


@receiver(user_logged_in)
def _forget_failures(sender, request, user, **kwargs):
    try:
        cache.delete(_key(user.get_username(), request))
    except RedisError:
        log.warning("login guard cannot reset a counter")
