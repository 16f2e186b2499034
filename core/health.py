"""The service endpoints: /livez, /healthz and /readyz for load balancers, /metrics for Prometheus behind a token."""

import hmac
from functools import cache

from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import Http404, HttpResponse, JsonResponse
from django_rq.contrib.prometheus import RQCollector
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from core.redis_connection import redis_connect


def database_ping() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis_ping() -> None:
    """A client of its own with short timeouts, so that a silent Redis (or Sentinel) cannot hang the check."""
    with redis_connect(socket_timeout=2, socket_connect_timeout=2) as client:
        client.ping()


def _check(ping) -> str:
    try:
        ping()
    except Exception as error:
        return f"error: {error.__class__.__name__}"
    return "ok"


def healthz(request):
    """Database and Redis reachable: 200, else 503 naming what failed."""
    checks = {
        "database": _check(database_ping),
        "redis": _check(_redis_ping),
    }
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503)


def livez(request):
    """This node can serve: 200 while it reaches PostgreSQL or Redis, 503 when it reaches neither.

    The load balancer's check. Clicks and conversions are answered with either one away (docs/operations.md,
    "Outages"), and both are shared by every node, so failing a node on one of them would take every node out
    of rotation at once; a node that reaches neither is cut off by itself."""
    checks = {"database": _check(database_ping)}
    if checks["database"] != "ok":
        checks["redis"] = _check(_redis_ping)
    live = "ok" in checks.values()
    return JsonResponse({"status": "ok" if live else "error", "checks": checks}, status=200 if live else 503)


def readyz(request):
    """Ready for traffic: healthy, and no migration left unapplied (a half-deployed release is not ready)."""
    health = healthz(request)
    if health.status_code != 200:
        return health
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        return JsonResponse({"status": "error", "checks": {"migrations": f"{len(pending)} unapplied"}}, status=503)
    return JsonResponse({"status": "ok", "checks": {"migrations": "ok"}})


@cache  # once per process
def _rq_collector_register() -> None:
    REGISTRY.register(RQCollector())


def metrics(request):
    """`GET /metrics` with `Authorization: Bearer <METRICS_TOKEN>`; 404 when no token is configured."""
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404
    sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(sent.encode(), token.encode()):
        return HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
    _rq_collector_register()
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
