"""The SQL fast paths of the PostgreSQL import give the same answers as the Python rules.

Phone cells: ``fast_path_phone`` below (the SQL rules written in Python) agrees with
``normalize_phone`` (phonenumbers) on every cell it handles; on PostgreSQL the SQL itself
agrees with ``fast_path_phone``. E-mail cells: what the SQL pattern accepts, Django's
validator accepts. Then the retry cap of a batch that keeps failing.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.validators import validate_email
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.contacts import services
from api.contacts.models import ImportJob
from api.contacts.phones import (
    CM_NATIONAL_SQL,
    CM_PREFIXES,
    FAST_CHARS,
    STRIP_CHARS,
    InvalidPhone,
    cm_validity_patterns,
    normalize_phone,
    sql_national,
    sql_phone_digits,
)
from api.contacts.services.imports import jobs, pg


def fast_path_phone(raw: str) -> tuple[bool, str | None]:
    """The SQL fast path (``sql_national`` and ``cm_validity_patterns``) written in Python:
    ``(handled, e164 or None when invalid)``; ``handled`` is False when the cell must go through
    ``normalize_phone`` instead."""
    if not raw or any(c not in FAST_CHARS for c in raw):
        return False, None
    digits = raw.translate({ord(c): None for c in STRIP_CHARS})
    candidate = digits if len(digits) == 9 else None
    for prefix in CM_PREFIXES:
        if len(digits) == len(prefix) + 9 and digits.startswith(prefix):
            candidate = digits[-9:]
    if candidate is None or not re.fullmatch(CM_NATIONAL_SQL[1:-1], candidate):
        return False, None
    general_re, types_re = cm_validity_patterns()
    valid = re.fullmatch(general_re, candidate) and re.fullmatch(types_re, candidate)
    return True, ("+237" + candidate if valid else None)


_SEPARATORS = st.sampled_from(["", " ", ".", "-", "/", "(", ")"])
typed_numbers = st.builds(
    lambda prefix, digits, seps: prefix + "".join(d + s for d, s in zip(digits, seps, strict=False)),
    st.sampled_from(["", "+237", "00237", "237", "+237 ", "00237 ", "+", "0", "00", "+33"]),
    st.text(alphabet="0123456789", min_size=7, max_size=11),
    st.lists(_SEPARATORS, min_size=11, max_size=11),
)
any_fast_chars = st.text(alphabet=FAST_CHARS, min_size=1, max_size=16)


def _expected(raw: str) -> str | None:
    try:
        return normalize_phone(raw)
    except InvalidPhone:
        return None


@settings(max_examples=3000, deadline=None)
@given(st.one_of(typed_numbers, any_fast_chars))
def test_the_phone_fast_path_agrees_with_phonenumbers(raw):
    handled, value = fast_path_phone(raw)
    if handled:
        assert value == _expected(raw)


def test_every_cameroonian_prefix_agrees_with_phonenumbers():
    # Validity depends on the leading digits: every 4-digit start of a 2… or 6… number.
    for start in [*range(2000, 3000), *range(6000, 7000)]:
        for tail in ("00000", "12345", "99999"):
            raw = f"{start}{tail}"
            assert fast_path_phone(raw) == (True, _expected(raw)), raw


EMAIL_FAST = pg.EMAIL_FAST


# 300: generating from this regex is slow (2,000 examples took two minutes, a third of one test
# process's share of the suite); every run draws 300 new ones, so CI keeps exploring.
@settings(max_examples=300, deadline=None)
@given(st.from_regex(re.compile(EMAIL_FAST[:-1] + r"\Z"), fullmatch=True))
def test_what_the_email_fast_path_accepts_django_accepts(raw):
    if len(raw) > 320 or len(raw.split("@")[-1]) > 63 or not raw.isascii():
        return
    validate_email(raw.lower())


@pytest.mark.parametrize("raw", ["a@b", "a..b@example.cm", "a@-x.cm", "a@x.c", "a@x.c0m", "é@x.cm", "a b@x.cm"])
def test_the_email_fast_path_leaves_doubtful_addresses_to_django(raw):
    assert not re.fullmatch(EMAIL_FAST[1:-1], raw)


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL fast path runs on PostgreSQL only")
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(typed_numbers, any_fast_chars, st.text(max_size=12)), min_size=50, max_size=50))
def test_the_sql_fast_path_is_the_python_one(cells):
    cells = [c.replace("\x00", "") for c in cells]
    general_re, types_re = cm_validity_patterns()
    national = sql_national("d")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c, (nat ~ %s AND nat ~ %s), nat FROM (SELECT c, {national} AS nat FROM ("
            f"SELECT c, {sql_phone_digits('c')} AS d FROM unnest(%s::text[]) AS c) x) y",
            [general_re, types_re, cells],
        )
        rows = cursor.fetchall()
    for cell, valid, nat in rows:
        handled, value = fast_path_phone(cell)
        assert (nat is not None) == handled, cell
        if handled:
            assert ("+237" + nat if valid else None) == value, cell


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the SQL fast path runs on PostgreSQL only")
def test_the_sql_email_pattern_is_the_python_one():
    samples = ["client1@example.cm", "A.B+c@Sub-1.example.CM", "a..b@x.cm", "a@-x.cm", "a@x.c", "a@x.c0m",
               "x@y.z", "é@x.cm", "o'neil@x-y.org", "a@b@c.cm", "a@x--y.cm", "a@x.cm-", "{}|~@a.bc"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT c, c ~ %s FROM unnest(%s::text[]) AS c", [EMAIL_FAST, samples])
        for cell, matched in cursor.fetchall():
            assert matched == bool(re.fullmatch(EMAIL_FAST[1:-1], cell)), cell


@pytest.mark.django_db
def test_a_batch_that_keeps_failing_fails_the_job_after_a_few_attempts(monkeypatch, staff_client):
    job = services.import_job_create(file_name="x.csv", data=b"nom;telephone\nA;699123456\n")

    def boom(*args, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(jobs, "import_batch_apply", boom)
    for attempt in range(1, services.IMPORT_MAX_ATTEMPTS + 1):
        with pytest.raises(RuntimeError):
            services.import_job_run(job_id=job.pk)
        assert ImportJob.objects.get(pk=job.pk).attempts == attempt
    assert services.import_job_run(job_id=job.pk) is None  # failed: the stalled-job sweep stops kicking it
    body = staff_client.get(f"/api/v1/contacts/imports/{job.pk}").json()
    assert body["status"] == "failed"
    assert "failed 5 times in a row" in body["failure"]
    assert "RuntimeError: unexpected" in body["failure"]
    assert services.import_jobs_claim_stalled(stalled_after=timedelta(0)) == []
