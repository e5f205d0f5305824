"""Schemathesis hooks of ``bin/schemathesis``: the check this API adds to schemathesis' own
(``error_shape``), and the one kind of ``negative_data_rejection`` failure that is this API's convention
rather than a fault (``filter_failure``). The rules themselves are in ``rules.py``.

Loaded by schemathesis from ``SCHEMATHESIS_HOOKS=tools/schemathesis/hooks.py``; ``error_shape`` is then
named in ``--checks``. Not to be imported elsewhere: the registration is global to the process.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import schemathesis

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:  # schemathesis loads this file by its path, from wherever it runs
    sys.path.insert(0, ROOT)

from tools.schemathesis.rules import error_shape_problem, is_empty_query_value_accepted  # noqa: E402


@schemathesis.check
def error_shape(ctx: Any, response: Any, case: Any) -> None:
    """Every 4xx and 5xx of the application is ``{"code", "message", "errors": [{"field", "code", "message"}]}``."""
    method = getattr(response.request, "method", None) or case.method
    problem = error_shape_problem(response.status_code, response.headers, response.content, method)
    if problem is not None:
        raise AssertionError(f"Not in the common error shape {{code, message, errors}}: {problem}")


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure except an empty query value read as an absent one (``is_empty_query_value_accepted``)."""
    return not is_empty_query_value_accepted(failure, case, response.request.url)
