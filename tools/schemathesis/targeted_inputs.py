"""Inputs schemathesis does not make by itself, sent to the live server of ``bin/schemathesis``.

Each must be a 4xx in the common error shape ``{code, message, errors}``, never a 5xx:

* oversize bodies: over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` with ``Content-Length`` (413, authenticated or
  not, the unauthenticated webhooks and ``POST /api/v1/auth/token`` included); an upload announced over its
  limit, of which only the first bytes are sent (413 before the server reads the rest); a chunked body
  without ``Content-Length``, large or small (411 ``length_required``, never read as an empty body);
* JSON nested one level deeper than ``api.common.parsers.MAX_JSON_DEPTH`` and 100,000 levels deep (400
  ``parse_error``; the webhooks judge their signature or secret first, any 4xx), and nested exactly to the
  limit (read: not a ``parse_error``);
* well-formed impossible dates and date-times in every ``date`` / ``date-time`` query parameter of every
  GET operation of the spec, partner API included (400 naming the parameter), and in every such field of a
  JSON body of a POST operation without path parameters (400 naming the field); a 40-digit number in every
  integer query parameter of a GET operation without path parameters (400 naming it).

Usage (from the repository root, the server already running)::

    CONFIOTES_ADMIN_TOKEN=... PARTNER_API_KEY=... .venv/bin/python tools/schemathesis/targeted_inputs.py \\
        --url http://127.0.0.1:PORT --spec openapi.yaml

The limits are read from the Django settings the server runs with (same environment). Credentials come
from the environment and are never printed: a reproduction names them ``$CONFIOTES_ADMIN_TOKEN`` and
``$PARTNER_API_KEY``. Exits 1 when any input was not answered as expected.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import select
import shlex
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.schemathesis.rules import error_shape_problem  # noqa: E402  (the check of the schemathesis passes)

BAD_QUERY_VALUES = {
    "date": ["2026-02-30", "2026-13-01", "2026-00-10", "99999-01-01"],
    "date-time": ["2026-02-30T10:00:00Z", "2026-01-01T25:00:00", "2026-01-01T25:00:00+01:00",
                  "2026-01-01T10:60:00Z", "2026-01-01T10:00:00+99:00"],
    "integer": ["9" * 40],
}
BAD_BODY_VALUES = {"date": ["2026-02-30"], "date-time": ["2026-01-01T25:00:00", "2026-02-30T10:00:00+01:00"]}
PARTNER_PREFIX = "/api/v1/partner/"
# Bodies of the oversize and nesting cases: a staff JSON endpoint, the token endpoint (no credentials),
# the two webhooks (no credentials; they check a signature or a secret) and the partner API.
JSON_TARGETS = [("staff", "/api/v1/contacts"), ("public", "/api/v1/auth/token"),
                ("public", "/api/v1/webhooks/meta"), ("public", "/api/v1/webhooks/telegram"),
                ("partner", "/api/v1/partner/orders")]
UPLOAD_PATH = "/api/v1/contacts/imports"
MULTIPART_BOUNDARY = "targeted-inputs-boundary"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass
class Case:
    group: str
    label: str
    who: str  # staff, partner or public
    method: str
    path: str  # with its query string
    body: bytes | None = None
    content_type: str = "application/json"
    curl_body: str = ""  # how the reproduction builds the body
    expect: Callable[[Answer], str | None] = field(default=lambda answer: None)
    send: Callable[[Case, Client], Answer] | None = None  # a special way to send it


class Client:
    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url)
        self.url = url.rstrip("/")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.timeout = timeout
        self.credentials = {"staff": f"Token {os.environ['CONFIOTES_ADMIN_TOKEN']}",
                            "partner": f"Api-Key {os.environ['PARTNER_API_KEY']}"}

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": self.credentials[who]} if who in self.credentials else {}

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Answer:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()

    def send(self, case: Case) -> Answer:
        if case.send is not None:
            return case.send(case, self)
        headers = self.headers(case.who)
        if case.body is not None:
            headers["Content-Type"] = case.content_type
        return self.request(case.method, case.path, case.body, headers)


def shape_problem(answer: Answer, method: str) -> str | None:
    return error_shape_problem(answer.status, answer.headers, answer.body, method)


def expect_status(status: int | range, code: str | None = None, *, field_name: str | None = None,
                  not_code: str | None = None) -> Callable[[Answer], str | None]:
    """A 4xx in the common shape with the given status (or one of a range), ``code`` and an error on ``field_name``."""
    def check(answer: Answer) -> str | None:
        wanted = status if isinstance(status, range) else range(status, status + 1)
        if answer.status not in wanted:
            name = f"{wanted.start}-{wanted.stop - 1}" if len(wanted) > 1 else str(wanted.start)
            return f"expected {name}, got {answer.status}: {answer.body[:200]!r}"
        problem = shape_problem(answer, "POST")
        if problem:
            return problem
        body = answer.json()
        if code is not None and body.get("code") != code:
            return f"expected code {code!r}, got {body.get('code')!r}: {body.get('message')!r}"
        if not_code is not None and body.get("code") == not_code:
            return f"refused as {not_code!r} at the limit: {body.get('message')!r}"
        if field_name is not None and field_name not in {e.get("field") for e in body.get("errors", [])}:
            return f"no error names {field_name!r}: {body.get('errors')!r}"
        return None
    return check


ANY_4XX = range(400, 500)


def nested(depth: int) -> bytes:
    """A JSON document of ``depth`` nested lists."""
    return b"[" * depth + b"]" * depth


def _streamed(body: bytes, *, announce: int | None = None, chunked: bool = False) -> Callable[[Case, Client], Answer]:
    """Send ``body`` on a raw socket, in 64 KiB pieces, and read the answer.

    The server may answer (and close) before it has read the whole body, which is the point of the
    size check: sending then stops, at the first piece after the answer arrived or when the server
    no longer reads (a broken pipe). ``announce`` puts that ``Content-Length`` in the headers instead of
    the body's own length (an upload announced over the limit of which only the first bytes are sent:
    a server that read the body before judging its size would wait for the rest until the timeout);
    ``chunked`` sends it with ``Transfer-Encoding: chunked`` and no ``Content-Length``.
    """
    def send(case: Case, client: Client) -> Answer:
        content_type = case.content_type
        if content_type == "multipart/form-data":
            content_type += f"; boundary={MULTIPART_BOUNDARY}"
        length = ["Transfer-Encoding: chunked"] if chunked else [f"Content-Length: {announce or len(body)}"]
        head = [f"{case.method} {case.path} HTTP/1.1", f"Host: {client.host}:{client.port}",
                f"Content-Type: {content_type}", *length, "Connection: close",
                *(f"{name}: {value}" for name, value in client.headers(case.who).items())]
        pieces = [body[i:i + 65536] for i in range(0, len(body), 65536)]
        if chunked:
            pieces = [b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces] + [b"0\r\n\r\n"]
        sock = socket.create_connection((client.host, client.port), timeout=client.timeout)
        try:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            for piece in pieces:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server answered already
                try:
                    sock.sendall(piece)
                except (BrokenPipeError, ConnectionResetError):
                    break  # the server answered and closed without reading the rest
            response = http.client.HTTPResponse(sock)
            response.begin()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            sock.close()
    return send


def _resolve(spec: dict[str, Any], schema: Any) -> dict[str, Any]:
    while isinstance(schema, dict) and "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema if isinstance(schema, dict) else {}


def _kind(schema: dict[str, Any]) -> str | None:
    if schema.get("type") == "string" and schema.get("format") in ("date", "date-time"):
        return schema["format"]
    if schema.get("type") == "integer":
        return "integer"
    return None


def _who(path: str, operation: dict[str, Any]) -> str:
    if path.startswith(PARTNER_PREFIX):
        return "partner"
    security = operation.get("security", [{"tokenAuth": []}])
    return "public" if not security or {} in security else "staff"


def oversize_cases(limit: int, upload_limit: int) -> Iterator[Case]:
    body = b'{"name": "' + b"x" * limit + b'"}'
    curl_json = f"--data-binary @<(head -c {limit + 1} /dev/zero | tr '\\0' ' ')"
    for who, path in JSON_TARGETS:
        yield Case("oversize", f"{len(body):,} bytes of JSON ({who})", who, "POST", path, curl_body=curl_json,
                   expect=expect_status(413, "payload_too_large"), send=_streamed(body))
    upload = (f"--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"contacts.csv\"\r\n"
              "Content-Type: text/csv\r\n\r\nname,phone\r\n").encode().ljust(65536, b"x")
    yield Case("oversize", f"an upload announced at {upload_limit + 1:,} bytes, 64 KiB sent", "staff", "POST",
               UPLOAD_PATH, content_type="multipart/form-data",
               curl_body=f"-F 'file=@<(head -c {upload_limit + 1} /dev/zero);filename=contacts.csv'",
               expect=expect_status(413, "payload_too_large"), send=_streamed(upload, announce=upload_limit + 1))
    # Django reads a body only up to Content-Length: a chunked one is refused (411), never read as empty.
    yield Case("oversize", f"{len(body):,} bytes of JSON, chunked, no Content-Length", "staff", "POST",
               "/api/v1/contacts", curl_body=f"-H 'Transfer-Encoding: chunked' {curl_json}",
               expect=expect_status(411, "length_required"), send=_streamed(body, chunked=True))
    small = b'{"name": "Mireille Ngo", "phone": "+237690112233"}'
    yield Case("oversize", "a small JSON body, chunked, no Content-Length", "staff", "POST", "/api/v1/contacts",
               curl_body=f"-H 'Transfer-Encoding: chunked' --data-binary '{small.decode()}'",
               expect=expect_status(411, "length_required"), send=_streamed(small, chunked=True))


def _curl_nested(depth: int) -> str:
    return f"--data-binary @<(python3 -c 'print(\"[\" * {depth} + \"]\" * {depth})')"


def nesting_cases(max_depth: int) -> Iterator[Case]:
    for depth in (max_depth + 1, 100_000):
        for who, path in JSON_TARGETS:
            webhook = path.startswith("/api/v1/webhooks/")
            yield Case("nesting", f"JSON nested {depth:,} deep ({who})", who, "POST", path, nested(depth),
                       curl_body=_curl_nested(depth),
                       expect=expect_status(ANY_4XX) if webhook else expect_status(400, "parse_error"))
    yield Case("nesting", f"JSON nested {max_depth} deep, the limit, is read (staff)", "staff", "POST",
               "/api/v1/contacts", nested(max_depth),
               curl_body=_curl_nested(max_depth),
               expect=expect_status(400, not_code="parse_error"))


def date_cases(spec: dict[str, Any]) -> Iterator[Case]:
    for path, operations in spec["paths"].items():
        get = operations.get("get")
        if get:
            has_path_parameters = "{" in path
            for parameter in get.get("parameters", []):
                kind = _kind(parameter.get("schema", {}))
                if parameter["in"] != "query" or kind is None or (kind == "integer" and has_path_parameters):
                    continue
                # A path's own parameters get an id that need not exist: the views read their query
                # before they look the id up, so a bad query value is a 400 either way.
                filled = re.sub(r"\{[^}]+\}", "1", path)
                for value in BAD_QUERY_VALUES[kind]:
                    yield Case("query", f"{parameter['name']}={value}", _who(path, get), "GET",
                               f"{filled}?{urlencode({parameter['name']: value})}",
                               expect=expect_status(400, field_name=parameter["name"]))
        post = operations.get("post")
        if post and "{" not in path:
            schema = _resolve(spec, (post.get("requestBody") or {}).get("content", {})
                              .get("application/json", {}).get("schema"))
            for name, prop in (schema.get("properties") or {}).items():
                prop = _resolve(spec, prop)
                kind = _kind(prop)
                if kind not in BAD_BODY_VALUES or prop.get("readOnly"):
                    continue
                for value in BAD_BODY_VALUES[kind]:
                    body = json.dumps({name: value})
                    yield Case("body", f"{name}: {value}", _who(path, post), "POST", path, body.encode(),
                               curl_body=f"-d {shlex.quote(body)}", expect=expect_status(400, field_name=name))


def reproduction(case: Case, url: str) -> str:
    auth = {"staff": " -H 'Authorization: Token '\"$CONFIOTES_ADMIN_TOKEN\"",
            "partner": " -H 'Authorization: Api-Key '\"$PARTNER_API_KEY\""}.get(case.who, "")
    body = f" -H 'Content-Type: {case.content_type}' {case.curl_body}" if case.curl_body else ""
    return f"curl -i -X {case.method}{auth}{body} {shlex.quote(url + case.path)}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--spec", default=str(ROOT / "openapi.yaml"))
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")
    import django
    django.setup()
    from django.conf import settings

    from api.common.parsers import MAX_JSON_DEPTH

    spec = yaml.safe_load(Path(args.spec).read_text())
    client = Client(args.url, args.timeout)
    groups: dict[str, tuple[str, list[Case]]] = {
        "oversize": (f"oversize bodies (limit {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes, uploads "
                     f"{settings.UPLOAD_MAX_BYTES:,}) and chunked ones (411)", []),
        "nesting": (f"nested JSON (limit {MAX_JSON_DEPTH} levels)", []),
        "query": ("impossible dates and numbers in query parameters", []),
        "body": ("impossible dates in JSON bodies", []),
    }
    upload_limit = settings.UPLOAD_MAX_BYTES + settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    for case in [*oversize_cases(settings.DATA_UPLOAD_MAX_MEMORY_SIZE, upload_limit), *nesting_cases(MAX_JSON_DEPTH),
                 *date_cases(spec)]:
        groups[case.group][1].append(case)

    failures: list[str] = []
    for title, cases in groups.values():
        started = time.monotonic()
        failed = 0
        for case in cases:
            try:
                problem = case.expect(client.send(case))
            except (OSError, http.client.HTTPException) as exc:
                problem = f"no answer: {exc!r}"
            if problem:
                failed += 1
                failures.append(f"{case.method} {case.path.split('?')[0]} [{case.label}]: {problem}\n"
                                f"    {reproduction(case, client.url)}")
        paths = len({case.path.split("?")[0] for case in cases})
        mark = "ok  " if not failed else "FAIL"
        print(f"  {mark} {title}: {len(cases) - failed}/{len(cases)} answered as expected on {paths} "
              f"operation(s) in {time.monotonic() - started:.1f}s")
    if failures:
        print(f"\n{len(failures)} input(s) not answered with the expected 4xx in the common error shape:")
        for failure in failures:
            print(f"  {failure}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
