"""Keep secrets that travel in URLs (postback tokens) out of error reports."""

import re

_SECRET_PARAMS = re.compile(r"((?:^|[?&])(?:token|signature|api_key|key)=)[^&#]*", re.IGNORECASE)


def sentry_before_send(event: dict, hint: dict) -> dict:
    request = event.get("request") or {}
    for field in ("url", "query_string"):
        if isinstance(request.get(field), str):
            request[field] = _SECRET_PARAMS.sub(r"\1[redacted]", request[field])
    headers = request.get("headers") or {}
    for name in list(headers):
        if name.lower() in ("authorization", "affitrack-signature", "cookie"):
            headers[name] = "[redacted]"
    return event
