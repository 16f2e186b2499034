"""Prometheus metrics (django-prometheus's request and database metrics, plus RQ queues) behind a token."""

import hmac
from functools import cache

from django.conf import settings
from django.http import Http404, HttpResponse
from django_rq.contrib.prometheus import RQCollector
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


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
