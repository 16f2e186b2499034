"""Django's error pages, in the API's one JSON error shape under /v1/, and a 503 with Retry-After for outages.

An API client parses JSON, so under /v1/ an unmatched URL, a malformed request or an uncaught exception
answers `{"error": {"code", "message", "fields"}}`; the rest of the site keeps Django's pages. PostgreSQL or
Redis being away is no bug: anywhere, it answers 503 with Retry-After. config/urls.py names these handlers.
"""

import sys

from django.http import HttpResponse, JsonResponse
from django.views import defaults

from core.outages import RETRY_AFTER_SECONDS, outage_is, outage_service


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _is_api(request) -> bool:
    return request.path.startswith("/v1/")


def outage_response(request, error: BaseException) -> HttpResponse:
    """503 naming the service that is away, with Retry-After; JSON on the API, plain text elsewhere."""
    message = f"{outage_service(error)} is unavailable for a moment; try again in {RETRY_AFTER_SECONDS} seconds."
    if _is_api(request):
        response = JsonResponse(error_body("unavailable", message), status=503)
    else:
        response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _api_json_or_page(page, code: str, message: str, status: int):
    """A handler answering the API's error shape under /v1/ and Django's own page elsewhere."""

    def handler(request, exception):
        return JsonResponse(error_body(code, message), status=status) if _is_api(request) else page(request, exception)

    return handler


bad_request = _api_json_or_page(defaults.bad_request, "invalid", "The request is malformed.", 400)
permission_denied = _api_json_or_page(defaults.permission_denied, "permission_denied", "You may not do this.", 403)
page_not_found = _api_json_or_page(
    defaults.page_not_found, "not_found", "No such resource: check the URL and the id.", 404
)


def server_error(request, template_name="500.html"):
    """Django calls this inside its `except`, so the exception is at hand: an outage is a 503, not a bug."""
    error = sys.exc_info()[1]
    if error is not None and outage_is(error):
        return outage_response(request, error)
    if _is_api(request):
        message = "Something went wrong on our side; it has been logged."
        return JsonResponse(error_body("server_error", message), status=500)
    return defaults.server_error(request, template_name)
