"""One error shape for the whole API:
`{"error": {"code": "...", "message": "...", "fields": {...}}}`."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

from core.errors import DomainError
from core.http_errors import error_body, outage_response
from core.outages import outage_is

# DRF's own exceptions, by class, to our stable codes.
_CODES = {
    exceptions.ValidationError: "invalid",
    exceptions.ParseError: "invalid",
    exceptions.UnsupportedMediaType: "invalid",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.Throttled: "throttled",
}


def error_fields(detail) -> dict:
    """DRF's nested error detail -> {"field": ["message", ...]}, nested keys dotted."""
    if not isinstance(detail, dict):
        return {"non_field_errors": [str(m) for m in detail]} if isinstance(detail, list) else {}
    fields: dict[str, list[str]] = {}
    for name, value in detail.items():
        if isinstance(value, dict):
            fields.update({f"{name}.{inner}": messages for inner, messages in error_fields(value).items()})
        else:
            fields[name] = [str(m) for m in value] if isinstance(value, list) else [str(value)]
    return fields


def api_exception_handler(exc, context):
    if outage_is(exc):  # PostgreSQL or Redis away: 503 with Retry-After (core/http_errors.py), not a 500
        set_rollback()
        return outage_response(context["request"], exc)
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None
    code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.ValidationError):
        fields = error_fields(exc.detail)
        response.data = error_body(code, "The request has invalid fields.", fields)
    elif isinstance(exc, exceptions.ParseError):
        response.data = error_body(code, f"The body is not valid JSON: {exc.detail}", {"body": [str(exc.detail)]})
    elif isinstance(exc, exceptions.UnsupportedMediaType):
        # A wrong content type is bad input like any other: 400, naming what is wrong.
        response.status_code = status.HTTP_400_BAD_REQUEST
        message = "Send the body as JSON with Content-Type: application/json."
        response.data = error_body(code, message, {"content_type": [message]})
    else:
        response.data = error_body(code, str(exc.detail))
    return response
