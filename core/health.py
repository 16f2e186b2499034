import redis
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse


def database_ping() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


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
        "redis": _check(
            lambda: redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2).ping()
        ),
    }
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503)


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
