"""Django's error pages, in the API's one JSON error shape under /v1/, and a 503 with Retry-After for outages.

Django answers an unmatched URL, a malformed request or an uncaught exception with an HTML page. An
API client parses JSON, so under /v1/ each becomes `{"error": {"code", "message", "fields"}}`; the rest
of the site (dashboards, admin) keeps Django's pages. PostgreSQL or Redis being away is no bug: anywhere,
it answers 503 with Retry-After, so clients and load balancers come back instead of giving up.
config/urls.py names these as handler400/403/404/500.
"""

import logging
import sys

from django.http import HttpResponse, JsonResponse
from django.views import defaults

from core.outages import RETRY_AFTER_SECONDS, outage_is, outage_service

log = logging.getLogger(__name__)
API_PREFIX = "/v1/"


def error_json(code: str, message: str, *, status: int, fields: dict | None = None) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "fields": fields or {}}}, status=status)


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


def outage_response(request, error: BaseException) -> HttpResponse:
    """503 naming the service that is away, with Retry-After; JSON on the API, plain text elsewhere."""
    message = f"{outage_service(error)} is unavailable for a moment; try again in {RETRY_AFTER_SECONDS} seconds."
    if _is_api(request):
        response = error_json("unavailable", message, status=503)
    else:
        response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def bad_request(request, exception, template_name="400.html"):
    if _is_api(request):
        return error_json("invalid", "The request is malformed.", status=400)
    return defaults.bad_request(request, exception, template_name)


def permission_denied(request, exception, template_name="403.html"):
    if _is_api(request):
        return error_json("permission_denied", "You may not do this.", status=403)
    return defaults.permission_denied(request, exception, template_name)


def page_not_found(request, exception, template_name="404.html"):
    if _is_api(request):
        return error_json("not_found", "No such resource: check the URL and the id.", status=404)
    return defaults.page_not_found(request, exception, template_name)


def server_error(request, template_name="500.html"):
    """Django calls this inside its `except`, so the exception is at hand: an outage is a 503, not a bug."""
    error = sys.exc_info()[1]
    if error is not None and outage_is(error):
        return outage_response(request, error)
    if _is_api(request):
        return error_json("server_error", "Something went wrong on our side; it has been logged.", status=500)
    return defaults.server_error(request, template_name)
