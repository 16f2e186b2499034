"""The project's URLs plus two baselines, so each endpoint is measured against the framework's own floor.

The baselines live only here, never in `config/urls.py`.
"""

from django.http import HttpResponse
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as project_urlpatterns


def noop(request):
    """The cheapest Django answer: the whole middleware stack, no database."""
    return HttpResponse("ok")


class NoopApiView(APIView):
    """DRF's floor: content negotiation and rendering, no auth, no permission, no database.

    POST parses the JSON body, so it is a fair baseline for `POST /v1/convert`.
    """

    authentication_classes = []
    permission_classes = []

    def get(self, request):
        return Response({"ok": True})

    def post(self, request):
        return Response({"ok": True, "fields": len(request.data)})


urlpatterns = [
    *project_urlpatterns,
    path("bench/noop", noop, name="bench-noop"),
    path("bench/noop-drf", NoopApiView.as_view(), name="bench-noop-drf"),
]
