"""Prometheus metrics (django-prometheus's request and database metrics, plus RQ queues) behind a token."""

import hmac

from django.conf import settings
from django.http import Http404, HttpResponse
from django_rq.contrib.prometheus import RQCollector
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_registered = []


def _ensure_rq_collector() -> None:
    if not _registered and settings.REDIS_URL:
        REGISTRY.register(RQCollector())
        _registered.append(True)


def metrics(request):
    """`GET /metrics` with `Authorization: Bearer <METRICS_TOKEN>`; 404 when no token is configured."""
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404
    sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(sent.encode(), token.encode()):
        return HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
    _ensure_rq_collector()
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
