"""One error shape for the whole API, `{"error": {"code": "...", "message": "...", "fields": {...}}}`: DRF's
exceptions, Django's error handlers (under /v1/; elsewhere Django's pages) and its OpenAPI schema. PostgreSQL or
Redis being away is no bug: anywhere it answers 503 with Retry-After."""

import sys

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

from core.errors import DomainError
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
    if outage_is(exc):  # PostgreSQL or Redis away: 503 with Retry-After, not a 500
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
        response.status_code = 400
        message = "Send the body as JSON with Content-Type: application/json."
        response.data = error_body(code, message, {"content_type": [message]})
    else:
        response.data = error_body(code, str(exc.detail))
    return response


# OpenAPI post-processing: every API operation documents the errors it can answer, in our one shape.
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string", "example": "invalid"},
                "message": {"type": "string", "example": "The request has invalid fields."},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    "example": {"amount": ["Must be zero or more."]},
                },
            },
        }
    },
}
ERRORS = {
    "400": "Invalid input; `fields` names each bad field.",
    "401": "Missing or invalid credentials (or signature).",
    "404": "Not found, or not yours.",
    "429": "Over the fair-use rate for this key; see Retry-After.",
}


def add_error_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/Error"}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/v1/"):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            # Errors come in every media type the operation renders (the postback also answers text/plain).
            media_types = {media for response in responses.values() for media in response.get("content", {})}
            error_content = {
                media: {"schema": reference if "json" in media else {"type": "string"}}
                for media in media_types | {"application/json"}
            }
            for status, description in ERRORS.items():
                documented = responses.setdefault(status, {"description": description})
                documented.setdefault("content", error_content)
            if any(parameter.get("name") == "Idempotency-Key" for parameter in operation.get("parameters", [])):
                responses.setdefault("409", {"description": "A request with this Idempotency-Key is in flight."})
                responses.setdefault("422", {"description": "This Idempotency-Key was used with another request."})
            for status in ("403", "409", "422"):
                if status in responses:
                    responses[status].setdefault("content", error_content)
    return result
