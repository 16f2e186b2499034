"""A request id on every request: taken from X-Request-ID when sane, bound into every log line, echoed back."""

import re
import uuid

import structlog

_SANE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _SANE.match(incoming) else uuid.uuid4().hex
        # Cleared at the start, not the end: Django logs a 4xx or 5xx after the middleware returns,
        # and that line should still carry the id.
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request.request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response
