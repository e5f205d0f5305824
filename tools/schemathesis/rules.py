"""The rules behind bin/schemathesis' additions to schemathesis, kept apart from their registration.

``hooks.py`` registers them with schemathesis (in schemathesis' process only: registering is global, and
the test suite runs schemathesis in-process elsewhere); ``targeted_inputs.py`` and
``tests/hardening/test_schemathesis_hooks.py`` use them as they are. No Django, no schemathesis.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

# The keys of the common error shape (README, "API conventions"; api/common/exceptions.py).
ERROR_KEYS = ("code", "message", "errors")
ERROR_ITEM_KEYS = ("field", "code", "message")


def error_shape_problem(status: int, headers: Mapping[str, Any], content: bytes, method: str = "GET") -> str | None:
    """What is wrong with a response that should be in the common error shape, or None when it is.

    Only refusals (4xx) and errors (5xx) are judged. ``headers`` are keyed in lower case. Skipped:

    * gunicorn's own refusals of a request line or header it cannot parse or finds too large (400, 414,
      431): they are written before the application sees the request and carry no ``Server`` header,
      which every response of the application has;
    * a body-less answer (HEAD, or a status that has no body).
    """
    if status < 400:
        return None
    if "server" not in headers and status in (400, 414, 431):
        return None
    if method.upper() == "HEAD" or not content:
        return None if method.upper() == "HEAD" else f"a {status} with an empty body"
    try:
        body = json.loads(content)
    except ValueError:
        snippet = content[:80].decode("utf-8", "replace")
        return f"a {status} whose body is not JSON: {snippet!r}"
    if not isinstance(body, dict):
        return f"a {status} whose JSON body is not an object"
    missing = [key for key in ERROR_KEYS if key not in body]
    if missing:
        return f"a {status} without {', '.join(missing)} in its body (keys: {', '.join(sorted(body)) or 'none'})"
    if not isinstance(body["code"], str) or not body["code"]:
        return f"a {status} whose `code` is not a non-empty string"
    if not isinstance(body["message"], str) or not body["message"]:
        return f"a {status} whose `message` is not a non-empty string"
    if not isinstance(body["errors"], list):
        return f"a {status} whose `errors` is not a list"
    for index, item in enumerate(body["errors"]):
        if not isinstance(item, dict) or any(key not in item for key in ERROR_ITEM_KEYS):
            return f"a {status} whose errors[{index}] is not an object with {', '.join(ERROR_ITEM_KEYS)}"
    return None


def negated_query_parameters(case: Any) -> set[str]:
    """The query parameters a negative case made invalid, when nothing else of it is invalid; else empty.

    Read from the case's generation metadata: the coverage phase names the one parameter it negates,
    the fuzzing phase lists its mutations.
    """
    data = getattr(getattr(getattr(case, "meta", None), "phase", None), "data", None)
    if data is None:
        return set()
    located = [(getattr(data, "parameter_location", None), getattr(data, "parameter", None))]
    located += [(m.parameter_location, m.parameter) for m in getattr(data, "mutations", ()) or ()]
    located = [(location, name) for location, name in located if location is not None or name is not None]
    if not located or any(getattr(location, "value", location) != "query" or not name for location, name in located):
        return set()
    return {name for _, name in located}


def is_empty_query_value_accepted(failure: Any, case: Any, url: str) -> bool:
    """Whether ``failure`` is only "invalid data accepted" about query parameters that were sent empty.

    ``?updated_since=`` or ``?page_size=`` means "no such filter" to every list of this API (django-filter
    and DRF read an empty value as an absent one), where the schema, strictly, calls ``""`` an invalid
    date or integer. Any other accepted invalid value remains a failure.
    """
    if getattr(failure, "code", None) != "ST201":  # negative_data_rejection
        return False
    names = negated_query_parameters(case)
    sent = parse_qs(urlsplit(url).query, keep_blank_values=True)
    return bool(names) and all(name in sent and all(value == "" for value in sent[name]) for name in names)
