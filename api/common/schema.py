"""drf-spectacular hooks: every operation documents the common error responses."""

from __future__ import annotations

from typing import Any

from drf_spectacular.drainage import warn
from drf_spectacular.utils import OpenApiExample

ERROR_SCHEMA = {
    "type": "object",
    "description": "The common error shape of every 4xx and 5xx answer.",
    "properties": {
        "code": {"type": "string", "description": "Stable machine code, e.g. `validation_error`."},
        "message": {"type": "string", "description": "A sentence for a human."},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string", "nullable": True, "description": "Path such as `lines[2].quantity`."},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
                "required": ["field", "code", "message"],
            },
        },
    },
    "required": ["code", "message", "errors"],
    "additionalProperties": True,
}

_EXAMPLES: dict[str, tuple[str, dict[str, Any]]] = {
    "400": ("Invalid input", {"code": "validation_error", "message": "The request is invalid: phone: Enter a valid phone number.",
                              "errors": [{"field": "phone", "code": "invalid", "message": "Enter a valid phone number."}]}),
    "401": ("Not authenticated", {"code": "not_authenticated",
                                  "message": "Authentication credentials were not provided.", "errors": []}),
    "403": ("Forbidden", {"code": "permission_denied", "message": "Only Confiotes staff may use this endpoint.",
                          "errors": []}),
    "404": ("Not found", {"code": "not_found", "message": "Not found.", "errors": []}),
    "409": ("Conflict", {"code": "conflict", "message": "The request contradicts the current state.", "errors": []}),
    "429": ("Throttled", {"code": "throttled", "message": "Request was throttled.", "errors": [], "retry_after": 12}),
    "500": ("Server error", {"code": "server_error", "message": "An internal error occurred. It has been logged.",
                             "errors": []}),
}
_DESCRIPTIONS = {
    "400": "Invalid input; nothing was changed.",
    "401": "Missing or invalid credentials.",
    "403": "Authenticated, but not allowed.",
    "404": "No such resource (or not yours).",
    "409": "Conflicts with the current state; nothing was changed.",
    "429": "Too many requests; retry after `Retry-After` seconds.",
    "500": "Internal error; no detail is disclosed.",
}


def _error_response(status: str) -> dict[str, Any]:
    name, example = _EXAMPLES[status]
    return {
        "description": _DESCRIPTIONS[status],
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/Error"},
                "examples": {name.replace(" ", ""): {"value": example, "summary": name}},
            }
        },
    }


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Add the common error responses that apply to each operation, unless the view documented its own."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            wanted = ["500"]
            if operation.get("security") and operation["security"] != [{}]:
                wanted += ["401", "403"]
            if method in ("post", "put", "patch") or operation.get("parameters"):
                wanted.append("400")
            if "{" in path:
                wanted.append("404")
            for status in wanted:
                responses.setdefault(status, _error_response(status))
            for status, response in list(responses.items()):
                # Views declare other statuses (409, 429) with ``ErrorSerializer``; give them an example too.
                if status in _EXAMPLES and "content" in response:
                    media = response["content"].get("application/json", {})
                    if media.get("schema", {}).get("$ref") in ("#/components/schemas/Error",
                                                                "#/components/schemas/Error_"):
                        media.setdefault("examples", _error_response(status)["content"]["application/json"]["examples"])
    return result


def response_example(value: Any, name: str = "Answer", status_codes: list[str] | None = None) -> OpenApiExample:
    """An OpenAPI example of a response body (default: the 200 answer); the one way views write one."""
    return OpenApiExample(name, value=value, response_only=True, status_codes=status_codes or ["200"])


def request_example(value: Any, name: str = "Request") -> OpenApiExample:
    """An OpenAPI example of a request body; the one way views write one."""
    return OpenApiExample(name, value=value, request_only=True)


def _is_blank_alternative(schema: Any) -> bool:
    """``{type: string, maxLength: 0}``: the branch drf-spectacular adds for ``allow_blank`` on a formatted field."""
    return isinstance(schema, dict) and schema.get("type") == "string" and schema.get("maxLength") == 0


def _make_blank_alternatives_exclusive(schema: Any) -> None:
    for value in (schema.values() if isinstance(schema, dict) else schema if isinstance(schema, list) else []):
        _make_blank_alternatives_exclusive(value)
    if not isinstance(schema, dict) or not isinstance(schema.get("oneOf"), list) or len(schema["oneOf"]) != 2:
        return
    formatted, blank = schema["oneOf"]
    if not _is_blank_alternative(blank) or not isinstance(formatted, dict) or formatted.get("type") != "string":
        return
    # A validator that does not assert ``format`` (most do not) finds that '' matches both branches, and a
    # oneOf matching twice fails: the formatted branch must refuse '' itself.
    formatted["minLength"] = max(1, formatted.get("minLength", 0))
    if "default" in formatted:
        # The default is '' (the blank branch): it belongs to the whole field, not to the branch refusing it.
        schema.setdefault("default", formatted.pop("default"))
    if schema.get("nullable"):
        # OpenAPI 3.0's ``nullable`` does not reach into oneOf branches: exactly one branch must take null.
        blank["nullable"] = True


def exclusive_blank_alternatives(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Rewrite "blank or a formatted string" so that exactly one oneOf branch matches any value.

    drf-spectacular writes ``allow_blank`` on a URL or e-mail field as ``oneOf: [{format: uri}, {maxLength: 0}]``;
    '' then matches both branches for every validator and client generator that treats ``format`` as a note,
    so a valid answer fails validation.
    """
    _make_blank_alternatives_exclusive(result)
    return result


def _class_name(component: str) -> str:
    """The class name client generators derive from a component name: they drop what is not a letter or digit."""
    return "".join(character for character in component if character.isalnum()).lower()


def check_component_names(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Warn (so that ``bin/openapi`` fails) on a component name a client generator would mangle or merge.

    ``Cohort`` and ``_Cohort`` are two names for drf-spectacular but one class, ``Cohort``, for
    openapi-python-client, which then dropped the cohorts report from the client.
    """
    seen: dict[str, str] = {}
    for name in result.get("components", {}).get("schemas", {}):
        if not name[:1].isupper() or not name.isalnum():
            warn(f'component name "{name}" is not a PascalCase identifier; name the serializer class '
                 f'(e.g. FooRowSerializer) or set extend_schema_serializer(component_name=...)')
        key = _class_name(name)
        if key in seen:
            warn(f'component names "{seen[key]}" and "{name}" become the same class in generated clients')
        seen.setdefault(key, name)
    return result
