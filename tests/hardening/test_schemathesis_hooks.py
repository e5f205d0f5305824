"""The pieces ``bin/schemathesis`` adds to schemathesis: the rules of the ``error_shape`` check and of the one
dropped kind of ``negative_data_rejection`` failure (tools/schemathesis/rules.py; hooks.py, which registers
them, is not imported here: registering is global and other tests run schemathesis in-process), and the
targeted inputs (tools/schemathesis/targeted_inputs.py). No server: the live run is ``bin/schemathesis``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from tools.schemathesis import targeted_inputs
from tools.schemathesis.rules import error_shape_problem, is_empty_query_value_accepted

SPEC = yaml.safe_load((Path(__file__).resolve().parents[2] / "openapi.yaml").read_text())
APP = {"server": "gunicorn", "content-type": "application/json"}


def _json(body: object) -> bytes:
    return json.dumps(body).encode()


class TestErrorShape:
    def test_the_common_shape_passes(self):
        body = {"code": "validation_error", "message": "The request is invalid: day: Enter a valid date.",
                "errors": [{"field": "day", "code": "invalid", "message": "Enter a valid date."}]}
        assert error_shape_problem(400, APP, _json(body)) is None
        assert error_shape_problem(500, APP, _json({"code": "server_error", "message": "Logged.", "errors": []})) is None

    def test_only_refusals_and_errors_are_judged(self):
        assert error_shape_problem(200, APP, _json([1, 2])) is None
        assert error_shape_problem(302, APP, b"") is None

    @pytest.mark.parametrize(("body", "problem"), [
        (_json({"detail": "Not found."}), "without code, message, errors"),
        (_json({"code": "x", "message": "y", "errors": {"day": ["bad"]}}), "`errors` is not a list"),
        (_json({"code": "x", "message": "y", "errors": ["bad"]}), "errors[0] is not an object"),
        (_json({"code": "", "message": "y", "errors": []}), "`code` is not a non-empty string"),
        (_json(["bad"]), "not an object"),
        (b"<h1>Server Error (500)</h1>", "not JSON"),
        (b"", "empty body"),
    ])
    def test_anything_else_is_a_problem(self, body, problem):
        assert problem in (error_shape_problem(404, APP, body) or "")

    def test_gunicorn_refusing_a_request_line_itself_is_not_the_application(self):
        html = b"<html><head><title>URI Too Long</title></head></html>"
        assert error_shape_problem(414, {"content-type": "text/html", "connection": "close"}, html) is None
        assert error_shape_problem(414, {**APP, "content-type": "text/html"}, html) is not None

    def test_a_head_answer_has_no_body(self):
        assert error_shape_problem(405, APP, b"", "HEAD") is None


def _case(location: str | None, parameter: str | None, mutations: tuple = ()) -> SimpleNamespace:
    data = SimpleNamespace(parameter_location=SimpleNamespace(value=location) if location else None,
                           parameter=parameter, mutations=mutations)
    return SimpleNamespace(meta=SimpleNamespace(phase=SimpleNamespace(data=data)))


ACCEPTED_NEGATIVE = SimpleNamespace(code="ST201")


class TestEmptyQueryValues:
    URL = "http://127.0.0.1:1/api/v1/partner/orders"

    def test_an_empty_filter_read_as_no_filter_is_dropped(self):
        case = _case("query", "updated_since")
        assert is_empty_query_value_accepted(ACCEPTED_NEGATIVE, case, f"{self.URL}?updated_since=")
        assert is_empty_query_value_accepted(ACCEPTED_NEGATIVE, case, f"{self.URL}?updated_since=&updated_since=")

    def test_any_other_accepted_invalid_value_stays_a_failure(self):
        case = _case("query", "updated_since")
        assert not is_empty_query_value_accepted(ACCEPTED_NEGATIVE, case, f"{self.URL}?updated_since=AAA")
        assert not is_empty_query_value_accepted(ACCEPTED_NEGATIVE, case, f"{self.URL}?updated_since=&updated_since=x")
        assert not is_empty_query_value_accepted(ACCEPTED_NEGATIVE, case, self.URL)

    def test_a_negated_body_or_path_stays_a_failure(self):
        assert not is_empty_query_value_accepted(ACCEPTED_NEGATIVE, _case("body", None), f"{self.URL}?x=")
        mixed = _case(None, None, (SimpleNamespace(parameter_location=SimpleNamespace(value="query"), parameter="x"),
                                   SimpleNamespace(parameter_location=SimpleNamespace(value="body"), parameter=None)))
        assert not is_empty_query_value_accepted(ACCEPTED_NEGATIVE, mixed, f"{self.URL}?x=")

    def test_fuzzing_mutations_of_query_parameters_only(self):
        mutated = _case(None, None, (SimpleNamespace(parameter_location=SimpleNamespace(value="query"), parameter="a"),
                                     SimpleNamespace(parameter_location=SimpleNamespace(value="query"), parameter="b")))
        assert is_empty_query_value_accepted(ACCEPTED_NEGATIVE, mutated, f"{self.URL}?a=&b=")
        assert not is_empty_query_value_accepted(ACCEPTED_NEGATIVE, mutated, f"{self.URL}?a=&b=1")

    def test_other_failures_are_kept(self):
        case = _case("query", "updated_since")
        assert not is_empty_query_value_accepted(SimpleNamespace(code="ST101"), case, f"{self.URL}?updated_since=")


class TestTargetedInputs:
    def test_every_date_filter_of_the_spec_gets_impossible_values(self):
        wanted = {(path, parameter["name"])
                  for path, operations in SPEC["paths"].items()
                  for parameter in operations.get("get", {}).get("parameters", [])
                  if parameter["in"] == "query" and parameter.get("schema", {}).get("format") in ("date", "date-time")}
        assert len(wanted) >= 20  # the spec still has its filters
        cases = [case for case in targeted_inputs.date_cases(SPEC) if case.group == "query"]
        # A path's own parameters are sent filled in (``/conversations/1/messages``).
        wanted = {(re.sub(r"\{[^}]+\}", "1", path), name) for path, name in wanted}
        sent = {(case.path.split("?")[0], case.path.split("?")[1].split("=")[0]) for case in cases}
        assert wanted <= sent
        assert any("2026-02-30" in case.path for case in cases)
        assert any("25%3A00%3A00" in case.path for case in cases)

    def test_the_partner_api_is_called_with_the_partner_key(self):
        cases = [case for case in targeted_inputs.date_cases(SPEC) if "updated_since" in case.path]
        assert cases
        assert {case.who for case in cases} == {"partner"}

    def test_expectations(self):
        answer = targeted_inputs.Answer
        refusal = _json({"code": "validation_error", "message": "m",
                         "errors": [{"field": "week", "code": "invalid", "message": "m"}]})
        expect = targeted_inputs.expect_status(400, field_name="week")
        assert expect(answer(400, APP, refusal)) is None
        assert "expected 400, got 500" in expect(answer(500, APP, refusal))
        assert "no error names 'until'" in targeted_inputs.expect_status(400, field_name="until")(answer(400, APP, refusal))
        assert "expected code 'parse_error'" in targeted_inputs.expect_status(400, "parse_error")(answer(400, APP, refusal))
        assert "not JSON" in targeted_inputs.expect_status(range(400, 500))(answer(413, APP, b"<html>"))

    def test_a_reproduction_never_holds_a_credential(self, monkeypatch):
        monkeypatch.setenv("CONFIOTES_ADMIN_TOKEN", "staff-secret")
        monkeypatch.setenv("PARTNER_API_KEY", "cfk_partner-secret")
        client = targeted_inputs.Client("http://127.0.0.1:1", 1.0)
        for case in [*targeted_inputs.oversize_cases(10, 20), *targeted_inputs.nesting_cases(3),
                     *targeted_inputs.date_cases(SPEC)]:
            line = targeted_inputs.reproduction(case, client.url)
            assert "secret" not in line
            assert case.who == "public" or "_API_KEY" in line or "_ADMIN_TOKEN" in line
