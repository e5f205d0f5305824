"""The spec's post-processing: what client generators and validators would otherwise reject."""

from __future__ import annotations

import copy

import pytest
from drf_spectacular.drainage import GENERATOR_STATS
from openapi_schema_validator import OAS30Validator

from api.common.schema import check_component_names, exclusive_blank_alternatives


def _blank_or_url(**outer):
    """What drf-spectacular writes for ``URLField(allow_blank=True, default="")``."""
    return {"components": {"schemas": {"Partner": {"type": "object", "properties": {"landing_url": {
        **outer, "oneOf": [{"type": "string", "format": "uri", "default": ""}, {"type": "string", "maxLength": 0}],
    }}}}}}


def _field(result):
    return result["components"]["schemas"]["Partner"]["properties"]["landing_url"]


@pytest.mark.parametrize("value", ["", "https://confiotes.cm/coffrets"])
def test_a_blank_or_url_field_takes_blank_and_a_url_once_each(value):
    # Given the schema as drf-spectacular writes it, a validator that does not assert formats refuses ''
    written = _blank_or_url()
    assert not OAS30Validator(_field(written)).is_valid("")

    # When the hook has run, blank and a URL are each valid (one branch, not two)
    field = _field(exclusive_blank_alternatives(copy.deepcopy(written), None, None, True))
    assert OAS30Validator(field).is_valid(value)


def test_the_default_of_a_blank_or_url_field_is_valid_against_the_field():
    field = _field(exclusive_blank_alternatives(_blank_or_url(), None, None, True))

    assert field["default"] == ""
    assert all("default" not in branch for branch in field["oneOf"])
    assert OAS30Validator(field).is_valid(field["default"])


def test_a_nullable_blank_or_url_field_takes_null_too():
    field = _field(exclusive_blank_alternatives(_blank_or_url(nullable=True), None, None, True))

    assert OAS30Validator(field).is_valid(None)
    assert OAS30Validator(field).is_valid("")


@pytest.fixture
def spectacular_warnings():
    GENERATOR_STATS.reset()
    yield GENERATOR_STATS
    GENERATOR_STATS.reset()


def test_two_component_names_for_one_generated_class_fail_the_spec(spectacular_warnings, capsys):
    # Given ``Cohort`` and ``_Cohort``: openapi-python-client makes class ``Cohort`` of both, and drops one
    schemas = {"components": {"schemas": {"Cohort": {"type": "object"}, "_Cohort": {"type": "object"}}}}

    check_component_names(schemas, None, None, True)

    # Then drf-spectacular counts a warning, which ``bin/openapi`` (--fail-on-warn) turns into a failure
    assert spectacular_warnings
    assert '"Cohort" and "_Cohort"' in capsys.readouterr().err


def test_distinct_pascal_case_component_names_pass(spectacular_warnings):
    check_component_names({"components": {"schemas": {"Cohort": {}, "CohortRow": {}}}}, None, None, True)

    assert not spectacular_warnings
