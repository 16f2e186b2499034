"""OpenAPI post-processing: every API operation documents the errors it can answer, in our one shape."""

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
