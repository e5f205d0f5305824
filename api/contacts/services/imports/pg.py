"""The PostgreSQL fast path of the contact import: one batch written with set-based statements.

``import_apply_sql`` has the signature and the results of its portable twin
``rows.import_apply_rows``; tests/contacts/test_import_equivalence.py runs both on generated files and
compares every contact, tag, note and row error, and tests/contacts/test_import_fast_path.py checks the
SQL forms of the phone, e-mail and digest rules against their Python definitions.

The batch goes to a temporary table with one COPY; cells are trimmed, validated and normalized by
a few statements over the whole batch; only the cells that the SQL rules do not cover for sure
(odd phone formats, unusual e-mails, segments, dates, tags: few distinct values) go through
``csv_io.parse_cell`` in Python, once per distinct value. Rows whose outcome depends on their order
in a way the set-based rules do not model are handed to ``rows.import_apply_parsed_rows``.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from api.contacts import csv_io
from api.contacts.models import Contact, ErasedIdentity, ImportJob
from api.contacts.phones import INVALID_PHONE, cm_validity_patterns, sql_national, sql_phone_digits
from api.contacts.services.identity import referral_codes_new
from api.contacts.services.imports.batches import ImportBatch
from api.contacts.services.imports.rows import FIELD_COUNT_MANY, FIELD_COUNT_ONE, import_apply_parsed_rows

EMAIL_FAST = (  # An ASCII subset of what Django's EmailValidator accepts (checked by a test).
    r"^[-!#$%&'*+/=?^_`{}|~0-9A-Za-z]+(\.[-!#$%&'*+/=?^_`{}|~0-9A-Za-z]+)*"
    r"@[A-Za-z0-9]+(-+[A-Za-z0-9]+)*(\.[A-Za-z0-9]+(-+[A-Za-z0-9]+)*)*\.[A-Za-z][A-Za-z]+$"
)
_TEMP_TABLES = "imp_line, imp_row, imp_map, imp_val, imp_err, imp_erased, imp_own, imp_ok, imp_grp, imp_new"
# Fields whose cells Python parses (few distinct values per file), and those SQL checks itself.
_PY_FIELDS = ("segment", "birth_date", "tags")


@functools.lru_cache(maxsize=1)
def _py_whitespace() -> str:
    """Every character Python's ``str.strip()`` removes, for ``btrim`` to trim cells the same way."""
    return "".join(chr(c) for c in range(0x110000) if chr(c).isspace())


def _hmac_pads() -> tuple[bytes, bytes]:
    """The inner and outer keys of HMAC-SHA256 with SECRET_KEY (RFC 2104), so that PostgreSQL's
    built-in ``sha256()`` computes ``identity_digest`` without the pgcrypto extension."""
    key = settings.SECRET_KEY.encode()
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def _sql_digest(kind: str, value_sql: str) -> str:
    """SQL computing ``identity_digest(kind, value)`` for a value already stripped and lower case."""
    return (f"encode(sha256(%(opad)s::bytea || sha256(%(ipad)s::bytea || convert_to('{kind}:' || {value_sql}, "
            f"'UTF8'))), 'hex')")


@dataclass
class _SqlBatch:
    """What the steps of one batch share: the cursor, the named parameters of every statement, and the
    columns of the file (``fields``: column index -> field)."""

    job: ImportJob
    start: int
    fields: dict[int, str]
    mapped: set[str]
    labels: dict[int, str]
    params: dict[str, Any]
    raw: Any  # the psycopg cursor under Django's
    run: Callable[[str], Any]


def import_apply_sql(job: ImportJob, batch: ImportBatch, columns: dict[str, str],
                     header: list[str]) -> dict[str, int]:
    """Write one batch on PostgreSQL with set-based statements; the same results as
    ``rows.import_apply_rows``.

    How the row-by-row rules become set-based: every valid row has a *target*. A row whose
    phone, WhatsApp number or e-mail belongs to an existing contact (its main one, or one a merge
    brought: ``selectors.identity_owners``) targets it (two different ones: reported); any other
    row targets the new contact of its phone (or, without phone, of its e-mail). When every
    phone, WhatsApp number and e-mail of the batch leads to one target, the row-by-row
    algorithm, in any order, sends each row to its target: the first row of a new target
    creates it, and each field of a target takes the first non-empty value in file order
    when the contact has none. Rows connected to a phone, WhatsApp number or e-mail with two
    targets keep an order-dependent outcome: they, and every row connected to them, go to the
    row-by-row rules. Every contact a row went to then holds an identity row for each of its main
    phone, WhatsApp number and e-mail, as ``identity_rows.identity_rows_heal_many`` writes them. The
    steps share temporary tables dropped at commit (``_TEMP_TABLES``).
    """
    start = batch.start
    fields = {int(i): f for i, f in columns.items()}
    ipad, opad = _hmac_pads()
    general_re, types_re = cm_validity_patterns()
    params: dict[str, Any] = {
        "ws": _py_whitespace(), "delim": job.delimiter, "gen": general_re, "typ": types_re, "ef": EMAIL_FAST,
        "ipad": ipad, "opad": opad, "now": timezone.now(), "job": job.pk, "start": start,
        "invalid_phone": INVALID_PHONE, "no_identity": csv_io.NO_IDENTITY, "forgotten": csv_io.FORGOTTEN,
        "two_contacts": csv_io.TWO_CONTACTS, "header_fields": len(header), "fields_one": FIELD_COUNT_ONE,
        "fields_many": FIELD_COUNT_MANY,
    }
    with connection.cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor

        def run(sql: str) -> Any:
            raw.execute(sql, params)
            return raw

        c = _SqlBatch(job=job, start=start, fields=fields, mapped=set(fields.values()),
                      labels={i: csv_io.column_label(header, i, f) for i, f in fields.items()}, params=params,
                      raw=raw, run=run)
        _sql_load(c, batch)
        _sql_trim(c)
        _sql_parse_rare(c)
        _sql_report_cells(c, _sql_values(c))
        _sql_targets(c, _sql_erased(c))
        counts = _sql_order_dependent(c, columns, header)
        column_of = _sql_group(c)
        new_count = _sql_insert_new(c, column_of)
        updated = _sql_fill_existing(c, column_of)
        _sql_identities(c, new_count)
        _sql_tags(c)
        error_rows, simple_rows, blank_rows = _sql_report(c)
    counts["created"] += new_count
    counts["updated"] += updated
    counts["unchanged"] += simple_rows - new_count - updated
    counts["skipped"] += blank_rows
    counts["errors"] += error_rows
    return counts


def _sql_load(c: _SqlBatch, batch: ImportBatch) -> None:
    """Step 1: the raw rows in ``imp_line``, numbered in file order (row index = start + n)."""
    raw = c.raw
    # 1. The raw rows, numbered in file order (row index = start + n).
    raw.execute(f"DROP TABLE IF EXISTS {_TEMP_TABLES}")
    raw.execute("CREATE TEMP TABLE imp_line (n integer GENERATED ALWAYS AS IDENTITY, line text, cells text[]) "
                "ON COMMIT DROP")
    if batch.lines is not None:
        with raw.copy("COPY imp_line (line) FROM STDIN") as copy:
            copy.write(batch.lines)
    else:
        with raw.copy("COPY imp_line (cells) FROM STDIN") as copy:
            copy.set_types(["text[]"])
            for _, cells in batch.rows or []:
                copy.write_row((cells,))


def _sql_trim(c: _SqlBatch) -> None:
    """Step 2: the mapped cells of each row in ``imp_row``, trimmed, with the phone and e-mail fast-path checks."""
    run = c.run
    fields = c.fields
    mapped = c.mapped
    # 2. Mapped cells, trimmed like str.strip(); empty cells are NULL (an import never blanks a field).
    cells_sql = ", ".join(f"nullif(btrim(coalesce(a[{i + 1}], ''), %(ws)s), '') AS r_{f}" for i, f in fields.items())
    #    Computed once here (OFFSET 0 keeps the planner from inlining the subqueries, which
    #    would evaluate each expression once per use): the national number of phone cells on
    #    the fast path, its validity, and whether an e-mail cell is on the fast path.
    fast = settings.DEFAULT_PHONE_REGION == "CM"
    phones = [f for f in ("phone", "whatsapp") if f in mapped]
    digits = "".join(f", {sql_phone_digits(f'r_{f}') if fast else 'NULL::text'} AS d_{f}" for f in phones)
    nats = "".join(f", {sql_national(f'd_{f}')} AS nat_{f}" for f in phones)
    valids = "".join(f", (nat_{f} ~ %(gen)s AND nat_{f} ~ %(typ)s) AS valid_{f}" for f in phones)
    email_fast = ("(r_email ~ %(ef)s AND char_length(r_email) <= 320 "
                  "AND char_length(split_part(r_email, '@', 2)) <= 63)")
    emails = f", {email_fast} AS fast_email" if "email" in mapped else ""
    run("CREATE TEMP TABLE imp_row ON COMMIT DROP AS "
        f"SELECT *{valids} FROM (SELECT *{nats} FROM (SELECT *{digits}{emails} FROM ("
        f"SELECT n, btrim(array_to_string(a, ''), %(ws)s) = '' AS blank, cardinality(a) AS nf, {cells_sql} "
        "FROM (SELECT n, coalesce(cells, string_to_array(line, %(delim)s)) AS a FROM imp_line OFFSET 0) x"
        " OFFSET 0) x0 OFFSET 0) x1 OFFSET 0) x2")
    # Temporary tables have no statistics until analysed: without them the planner picks
    # nested loops over the batch (measured: 1.5 s instead of 0.1 s for 25,000 rows).
    # A sample of 3,000 rows (statistics target 10) is enough for these plans: counts and the number
    # of distinct values; the default target samples 30,000 rows, for 0.1 s per batch.
    run("SET LOCAL default_statistics_target = 10")
    run("ANALYZE imp_row")


def _sql_parse_rare(c: _SqlBatch) -> None:
    """Step 3: ``imp_map``, the cells outside the SQL fast paths parsed in Python once per distinct value."""
    run = c.run
    raw = c.raw
    mapped = c.mapped
    # 3. Cells outside the SQL fast paths: parsed in Python, once per distinct value.
    parts = []
    for f in ("phone", "whatsapp"):
        if f in mapped:
            parts.append(f"SELECT 'phone', r_{f} FROM imp_row WHERE r_{f} IS NOT NULL AND nat_{f} IS NULL")
    if "email" in mapped:
        parts.append("SELECT 'email', r_email FROM imp_row WHERE r_email IS NOT NULL AND NOT fast_email")
    for f in _PY_FIELDS:
        if f in mapped:
            parts.append(f"SELECT '{f}', r_{f} FROM imp_row WHERE r_{f} IS NOT NULL")
    run("CREATE TEMP TABLE imp_map (kind text, raw text, value text, error text) ON COMMIT DROP")
    if parts:
        pending = run("SELECT DISTINCT * FROM (" + " UNION ALL ".join(parts) + ") s").fetchall()
        with raw.copy("COPY imp_map (kind, raw, value, error) FROM STDIN") as copy:
            for kind, cell in pending:
                try:
                    value = csv_io.parse_cell(kind, cell)
                except csv_io.CellError as exc:
                    copy.write_row((kind, cell, None, str(exc)))
                    continue
                if kind == "tags":
                    for tag in value:
                        copy.write_row(("tag", cell, tag, None))
                else:
                    copy.write_row((kind, cell, str(value), None))
        run("ANALYZE imp_map")


def _sql_values(c: _SqlBatch) -> list[tuple[int, str]]:
    """Step 4: ``imp_val``, the value and error of each cell; returns the (column index, field) that can hold a bad cell."""
    run, params, fields, mapped = c.run, c.params, c.fields, c.mapped
    # 4. Values and errors of each cell.
    # A row whose field count is not the header's is reported whatever its cells (rows.py does the same).
    misfit = "NOT blank AND nf <> %(header_fields)s" if c.params["header_fields"] else "false"
    select = ["n", "blank", "nf", f"({misfit}) AS misfit"]
    joins = []
    errors = []  # (column index, field) of the columns that can hold a bad cell
    for i, f in sorted(fields.items()):
        if f in ("phone", "whatsapp"):
            valid = f"valid_{f}"
            joins.append(f"LEFT JOIN imp_map m_{f} ON m_{f}.kind = 'phone' AND m_{f}.raw = r_{f}")
            select.append(f"CASE WHEN nat_{f} IS NOT NULL THEN CASE WHEN {valid} THEN '+237' || nat_{f} END "
                          f"ELSE m_{f}.value END AS v_{f}")
            select.append(f"CASE WHEN nat_{f} IS NOT NULL THEN CASE WHEN NOT {valid} THEN "
                          f"replace(%(invalid_phone)s, '{{}}', r_{f}) END ELSE m_{f}.error END AS e_{f}")
        elif f == "email":
            joins.append("LEFT JOIN imp_map m_email ON m_email.kind = 'email' AND m_email.raw = r_email")
            select.append("CASE WHEN fast_email THEN lower(r_email) ELSE m_email.value END AS v_email")
            select.append("CASE WHEN fast_email THEN NULL ELSE m_email.error END AS e_email")
        elif f in ("segment", "birth_date"):
            joins.append(f"LEFT JOIN imp_map m_{f} ON m_{f}.kind = '{f}' AND m_{f}.raw = r_{f}")
            cast = "::date" if f == "birth_date" else ""
            select.append(f"m_{f}.value{cast} AS v_{f}")
            select.append(f"m_{f}.error AS e_{f}")
        elif f in ("tags", "note"):
            select.append(f"r_{f} AS v_{f}")
            continue
        elif f in ("telegram_username", "instagram"):
            select.append(f"nullif(left(ltrim(r_{f}, '@'), {csv_io.MAX_LENGTHS[f]}), '') AS v_{f}")
            continue
        else:
            limit = csv_io.MAX_LENGTHS[f]
            params[f"too_long_{f}"] = csv_io.TOO_LONG.format(limit)
            select.append(f"CASE WHEN char_length(r_{f}) <= {limit} THEN r_{f} END AS v_{f}")
            select.append(f"CASE WHEN char_length(r_{f}) > {limit} THEN %(too_long_{f})s END AS e_{f}")
        errors.append((i, f))
    bad = " OR ".join(f"e_{f} IS NOT NULL" for _, f in errors) or "false"
    phone = "coalesce(" + ", ".join([f"v_{f}" for f in ("phone", "whatsapp") if f in mapped] + ["NULL"]) + ")"
    email = "v_email" if "email" in mapped else "NULL::text"
    run("CREATE TEMP TABLE imp_val ON COMMIT DROP AS "
        "SELECT *, NOT blank AND NOT misfit AND NOT bad AND (p IS NOT NULL OR e IS NOT NULL) AS ok FROM ("
        f"SELECT *, ({bad}) AS bad, {phone} AS p, {email} AS e FROM ("
        f"SELECT {', '.join(select)} FROM imp_row r {' '.join(joins)}"
        ") v0) v1")
    return errors


def _sql_report_cells(c: _SqlBatch, errors: list[tuple[int, str]]) -> None:
    """Step 5: ``imp_err``, the row report of rows of the wrong field count, bad cells and rows without an
    identity."""
    run = c.run
    params = c.params
    labels = c.labels
    # 5. The row report: rows of the wrong field count, bad cells (in column order), then rows without an
    #    identity.
    run("CREATE TEMP TABLE imp_err (n integer, ord integer, col text, msg text) ON COMMIT DROP")
    run("INSERT INTO imp_err SELECT n, -1, '', replace(replace(CASE WHEN nf = 1 THEN %(fields_one)s "
        "ELSE %(fields_many)s END, '{found}', nf::text), '{expected}', %(header_fields)s::text) "
        "FROM imp_val WHERE misfit")
    if errors:
        for i, _ in errors:
            params[f"label_{i}"] = labels[i]
        bad_cells = ", ".join(f"({i}, %(label_{i})s, e_{f})" for i, f in errors)
        run("INSERT INTO imp_err SELECT v.n, x.ord, x.col, x.msg FROM imp_val v "
            f"CROSS JOIN LATERAL (VALUES {bad_cells}) x(ord, col, msg) "
            "WHERE v.bad AND NOT v.blank AND NOT v.misfit AND x.msg IS NOT NULL")
    run("INSERT INTO imp_err SELECT n, -1, '', %(no_identity)s FROM imp_val "
        "WHERE NOT blank AND NOT misfit AND NOT bad AND p IS NULL AND e IS NULL")


def _sql_erased(c: _SqlBatch) -> str:
    """Step 6: erased persons; returns the SQL condition of the refused rows."""
    run = c.run
    mapped = c.mapped
    job = c.job
    # 6. Erased persons (skipped when nobody was ever erased: no digest can match).
    refused = "false"
    if ErasedIdentity.objects.exists():
        digests = [f"SELECT n, {_sql_digest('phone', 'p')} AS digest FROM imp_val WHERE ok AND p IS NOT NULL"]
        if "whatsapp" in mapped:
            digests.append(f"SELECT n, {_sql_digest('phone', 'v_whatsapp')} FROM imp_val "
                           "WHERE ok AND v_whatsapp IS NOT NULL")
        if "email" in mapped:
            digests.append(f"SELECT n, {_sql_digest('email', 'e')} FROM imp_val WHERE ok AND e IS NOT NULL")
        run("CREATE TEMP TABLE imp_erased ON COMMIT DROP AS SELECT DISTINCT d.n, d.digest FROM ("
            + " UNION ALL ".join(digests) + ") d JOIN contacts_erasedidentity x ON x.digest = d.digest")
        if job.consent_given:
            run("DELETE FROM contacts_erasedidentity WHERE digest IN (SELECT digest FROM imp_erased)")
        else:
            run("INSERT INTO imp_err SELECT DISTINCT n, -1, '', %(forgotten)s FROM imp_erased")
            refused = "n IN (SELECT n FROM imp_erased)"
    return refused


def _sql_owners(c: _SqlBatch) -> None:
    """Step 7a: ``imp_own``, who owns each phone, WhatsApp number and e-mail of the valid rows: the SQL twin
    of ``selectors.identity_owners`` (identity rows first, then the columns of the live contacts; of
    several old contacts with one WhatsApp number in their column, the oldest).

    One statement per kind, each a plain equi-join of the batch's distinct values with the identity rows
    and with the contacts' column of that kind. ``held``: the value has an identity row (step 11b skips
    the values it knows held without looking them up again)."""
    live = "c.merged_into_id IS NULL AND c.erased_at IS NULL"
    # The planner must know how many distinct values the batch has (a fresh temporary table has no
    # statistics: it guessed a few hundred and looped over the contacts for each, minutes a file).
    c.run("ANALYZE imp_val")
    c.run("CREATE TEMP TABLE imp_own (kind text, value text, cid bigint, held boolean) ON COMMIT DROP")
    c.run("INSERT INTO imp_own SELECT 'phone', k.value, coalesce(i.contact_id, c.id), i.contact_id IS NOT NULL "
          "FROM (SELECT DISTINCT p AS value FROM imp_val WHERE ok AND p IS NOT NULL) k "
          "LEFT JOIN contacts_contactidentity i ON i.kind = 'phone' AND i.value = k.value "
          f"LEFT JOIN contacts_contact c ON c.phone = k.value AND c.phone IS NOT NULL AND {live}")
    if "whatsapp" in c.mapped:
        c.run("INSERT INTO imp_own SELECT 'whatsapp', k.value, coalesce(i.contact_id, c.id), "
              "i.contact_id IS NOT NULL "
              "FROM (SELECT DISTINCT v_whatsapp AS value FROM imp_val WHERE ok AND v_whatsapp IS NOT NULL) k "
              "LEFT JOIN contacts_contactidentity i ON i.kind = 'whatsapp' AND i.value = k.value "
              "LEFT JOIN LATERAL (SELECT c.id FROM contacts_contact c WHERE c.whatsapp = k.value "
              f"AND c.whatsapp IS NOT NULL AND {live} ORDER BY c.created_at, c.id LIMIT 1) c ON true")
    c.run("INSERT INTO imp_own SELECT 'email', k.value, coalesce(i.contact_id, c.id), i.contact_id IS NOT NULL "
          "FROM (SELECT DISTINCT e AS value FROM imp_val WHERE ok AND e IS NOT NULL) k "
          "LEFT JOIN contacts_contactidentity i ON i.kind = 'email' AND i.value = k.value "
          f"LEFT JOIN contacts_contact c ON lower(c.email) = k.value AND c.email IS NOT NULL AND {live}")
    c.run("ANALYZE imp_own")


def _sql_targets(c: _SqlBatch, refused: str) -> None:
    """Step 7: ``imp_ok``, the target of each valid row."""
    run = c.run
    # 7. Targets: the existing contact owning the phone, the WhatsApp number or the e-mail, else a new contact.
    _sql_owners(c)
    whatsapp = "v.v_whatsapp" if "whatsapp" in c.mapped else "NULL::text"
    run("CREATE TEMP TABLE imp_ok ON COMMIT DROP AS "
        "SELECT v.*, op.cid AS cp, ow.cid AS cw, oe.cid AS ce, coalesce(op.cid, ow.cid, oe.cid) AS cid, "
        "(CASE WHEN coalesce(op.cid, ow.cid, oe.cid) IS NOT NULL THEN 'c' || coalesce(op.cid, ow.cid, oe.cid) "
        "WHEN v.p IS NOT NULL THEN 'p' || v.p ELSE 'e' || v.e END) COLLATE \"C\" AS tgt, false AS complex "
        "FROM imp_val v LEFT JOIN imp_own op ON op.kind = 'phone' AND op.value = v.p "
        f"LEFT JOIN imp_own ow ON ow.kind = 'whatsapp' AND ow.value = {whatsapp} "
        f"LEFT JOIN imp_own oe ON oe.kind = 'email' AND oe.value = v.e WHERE v.ok AND NOT ({refused})")
    # Two or three different owners: reported, naming them in the order of the row-by-row rules (phone,
    # WhatsApp, e-mail), each once.
    two = "(cp <> cw OR cp <> ce OR cw <> ce)"
    run("INSERT INTO imp_err SELECT n, -1, '', replace(%(two_contacts)s, '{}', concat_ws(' and ', '#' || cp, "
        "CASE WHEN cp IS NULL OR cw <> cp THEN '#' || cw END, "
        "CASE WHEN (cp IS NULL OR ce <> cp) AND (cw IS NULL OR ce <> cw) THEN '#' || ce END)) "
        f"FROM imp_ok WHERE {two}")
    run(f"DELETE FROM imp_ok WHERE {two}")


def _sql_order_dependent(c: _SqlBatch, columns: dict[str, str], header: list[str]) -> dict[str, int]:
    """Step 8: rows whose outcome depends on their order, applied by the row-by-row rules; returns their counts."""
    run, params, job, start = c.run, c.params, c.job, c.start
    # 8. Rows whose outcome depends on their order: a phone, a WhatsApp number or an e-mail with two
    #    targets (the row-by-row rules match an earlier row by any of them), or a contact whose segment
    #    is blank (the row-by-row rules treat it in two steps).
    whatsapp = "v_whatsapp" if "whatsapp" in c.mapped else "NULL::text"
    seeds = run(
        "SELECT 'p', p FROM imp_ok WHERE p IS NOT NULL GROUP BY p HAVING min(tgt) <> max(tgt) "
        "UNION ALL SELECT 'e', e FROM imp_ok WHERE e IS NOT NULL GROUP BY e HAVING min(tgt) <> max(tgt) "
        + ("UNION ALL SELECT 'w', v_whatsapp FROM imp_ok WHERE v_whatsapp IS NOT NULL GROUP BY v_whatsapp "
           "HAVING min(tgt) <> max(tgt) " if "whatsapp" in c.mapped else "") +
        "UNION ALL SELECT DISTINCT 'c', o.cid::text FROM imp_ok o JOIN contacts_contact c ON c.id = o.cid "
        "WHERE coalesce(c.segment, '') = ''").fetchall()
    counts = {"created": 0, "updated": 0, "unchanged": 0, "skipped": 0, "errors": 0}
    if seeds:
        params["sp"] = [v for k, v in seeds if k == "p"]
        params["se"] = [v for k, v in seeds if k == "e"]
        params["sw"] = [v for k, v in seeds if k == "w"]
        params["sc_ids"] = [int(v) for k, v in seeds if k == "c"]
        run("UPDATE imp_ok SET complex = true WHERE p = ANY(%(sp)s) OR e = ANY(%(se)s) "
            f"OR {whatsapp} = ANY(%(sw)s) OR cid = ANY(%(sc_ids)s)")
        while run("UPDATE imp_ok SET complex = true WHERE NOT complex AND ("
                  "p IN (SELECT p FROM imp_ok WHERE complex) OR e IN (SELECT e FROM imp_ok WHERE complex) "
                  f"OR {whatsapp} IN (SELECT {whatsapp} FROM imp_ok WHERE complex) "
                  "OR cid IN (SELECT cid FROM imp_ok WHERE complex))").rowcount:
            pass
        rows = run("SELECT n, coalesce(cells, string_to_array(line, %(delim)s)) FROM imp_line "
                   "WHERE n IN (SELECT n FROM imp_ok WHERE complex) ORDER BY n").fetchall()
        counts = import_apply_parsed_rows(job, [(start + n, list(cells)) for n, cells in rows], columns, header)
    return counts


def _sql_group(c: _SqlBatch) -> dict[str, str]:
    """Step 9: ``imp_grp``, one row per target; returns the column of ``imp_ok`` holding each value field."""
    run, mapped = c.run, c.mapped
    # 9. One row per target: its first row, and per field the first non-empty value in file order.
    value_fields = sorted((mapped - {"tags", "note"}) | {"phone", "email"})
    column_of = {f: ("p" if f == "phone" else "e" if f == "email" else f"v_{f}") for f in value_fields}
    #    Most targets have one row, whose values are the first ones: only targets of several rows
    #    go through the window functions (their sort costs as much as the rest of this step).
    window, single = [], []
    for f in value_fields:
        present = f"{column_of[f]} IS NOT NULL" + (" AND v_segment <> 'unknown'" if f == "segment" else "")
        window.append(f"min(n) FILTER (WHERE {present}) OVER w AS n_{f}")
        window.append(f"(array_agg({column_of[f]}) FILTER (WHERE {present}) OVER w)[1] AS f_{f}")
        single.append(f"CASE WHEN {present} THEN n END AS n_{f}")
        single.append(f"CASE WHEN {present} THEN {column_of[f]} END AS f_{f}")
    own = "".join(f"v_{f}, " for f in ("note", "acquisition_channel") if f in mapped)
    firsts = ", ".join(f"n_{f}, f_{f}" for f in value_fields)
    run("CREATE TEMP TABLE imp_grp ON COMMIT DROP AS "
        "WITH multi AS (SELECT tgt FROM imp_ok WHERE NOT complex GROUP BY tgt HAVING count(*) > 1) "
        f"SELECT tgt, n, cid, {own}{', '.join(single)} FROM imp_ok o "
        "WHERE NOT complex AND NOT EXISTS (SELECT FROM multi m WHERE m.tgt = o.tgt) "
        f"UNION ALL SELECT tgt, n, cid, {own}{firsts} FROM ("
        f"SELECT tgt, n, cid, {own}{', '.join(window)}, row_number() OVER (PARTITION BY tgt ORDER BY n) AS rn "
        "FROM imp_ok WHERE NOT complex AND tgt IN (SELECT tgt FROM multi) "
        "WINDOW w AS (PARTITION BY tgt ORDER BY n ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
        ") x WHERE rn = 1")
    return column_of


def _sql_insert_new(c: _SqlBatch, column_of: dict[str, str]) -> int:
    """Step 10: new contacts in file order; returns how many."""
    run = c.run
    params = c.params
    mapped = c.mapped
    job = c.job
    # 10. New contacts: ids and referral codes drawn in file order; the first row's note.
    new_count = run("SELECT count(*) FROM imp_grp WHERE cid IS NULL").fetchone()[0]
    if new_count:
        # Ids drawn in file order: the window function hands the rows over sorted by n, and nextval()
        # runs on them in that order. Referral codes are drawn in Python, all at once, and sent as one
        # string of 8-byte codes that the k-th new contact slices at 8k - 7 (a bytea: slicing a text
        # would count characters from its start each time). The sequence is looked up once here:
        # pg_get_serial_sequence() in the select list would run once per row.
        params["codes"] = "".join(referral_codes_new(new_count)).encode()
        params["seq"] = run("SELECT pg_get_serial_sequence('contacts_contact', 'id')").fetchone()[0]
        run("CREATE TEMP TABLE imp_new ON COMMIT DROP AS SELECT nextval(%(seq)s::regclass) AS id, "
            "encode(substring(%(codes)s::bytea FROM (8 * row_number() OVER (ORDER BY n) - 7)::int FOR 8), "
            "'escape') AS code, g.* FROM imp_grp g WHERE cid IS NULL")
        names, values = ["id", "referral_code", "created_at", "updated_at"], ["id", "code", "%(now)s", "%(now)s"]
        for field in Contact._meta.concrete_fields:
            name = field.attname
            if field.primary_key or name in names:
                continue
            params[f"d_{name}"] = field.get_default()
            default = f"%(d_{name})s::{field.cast_db_type(connection)}"
            if name == "acquisition_channel":
                value = "coalesce(v_acquisition_channel, 'import')" if name in mapped else "'import'"
            elif name in column_of:
                value = f"coalesce(f_{name}, {default})"
            else:
                value = default
            names.append(name)
            values.append(value)
        run(f"INSERT INTO contacts_contact ({', '.join(connection.ops.quote_name(n) for n in names)}) "
            f"SELECT {', '.join(values)} FROM imp_new ORDER BY id")
        if "note" in mapped:
            params["author"] = job.created_by_id
            run("INSERT INTO contacts_contactnote (contact_id, author_id, text, created_at) "
                "SELECT id, %(author)s, v_note, %(now)s FROM imp_new WHERE v_note IS NOT NULL ORDER BY id")
    else:
        run("CREATE TEMP TABLE imp_new ON COMMIT DROP AS SELECT 0::bigint AS id, ''::text AS tgt LIMIT 0")
    return new_count


def _sql_fill_existing(c: _SqlBatch, column_of: dict[str, str]) -> int:
    """Step 11: existing contacts get what they lack; returns how many changed."""
    run = c.run
    mapped = c.mapped
    value_fields = list(column_of)
    # 11. Existing contacts: fill what is missing, never overwrite (staff edits win over an old file).
    updated = 0
    fill = [f for f in value_fields if f != "acquisition_channel" or f in mapped]
    missing = {f: ("(c.segment = 'unknown')" if f == "segment"
                   else f"(c.{f} IS NULL)" if f == "birth_date" else f"coalesce(c.{f}, '') = ''") for f in fill}
    if fill and run("SELECT 1 FROM imp_grp WHERE cid IS NOT NULL LIMIT 1").fetchone():
        setters = ", ".join(f"(CASE WHEN {missing[f]} THEN g.n_{f} END)" for f in fill)
        updated = run("SELECT count(DISTINCT s.n) FROM imp_grp g JOIN contacts_contact c ON c.id = g.cid "
                      f"CROSS JOIN LATERAL (VALUES {setters}) s(n) WHERE s.n IS NOT NULL").fetchone()[0]
        if updated:
            sets = ", ".join(f"{f} = CASE WHEN {missing[f]} AND g.f_{f} IS NOT NULL THEN g.f_{f} ELSE c.{f} END"
                             for f in fill)
            changed = " OR ".join(f"({missing[f]} AND g.f_{f} IS NOT NULL)" for f in fill)
            run(f"UPDATE contacts_contact c SET {sets} FROM imp_grp g WHERE c.id = g.cid AND ({changed})")
    return updated


def _sql_identities(c: _SqlBatch, new_count: int) -> None:
    """Step 11b: identity rows for the main phone, WhatsApp number and e-mail of every contact a row went to
    (new or existing): the set-based twin of ``identity_rows.identity_rows_heal_many``, which the row-by-row
    rules call. A value that has a row keeps its owner, so a contact that has its rows gets nothing new (a
    re-import writes none); of two contacts given one value nobody holds, the lower id gets it. The rows
    the row-by-row rules took (``complex``) got theirs there."""
    run = c.run
    whatsapp = "f_whatsapp" if "whatsapp" in c.mapped else "NULL::text"
    # The batch's new contacts: their values are those step 10 wrote in their columns, read from
    # ``imp_new`` rather than from the contacts just written (a join and a sort of every new contact: a
    # tenth of this step). No row holds them (step 7 matched them against every identity row and
    # contact, and a value shared by two targets went to the row-by-row rules), so a plain insert: ON
    # CONFLICT costs a third more on 100,000 contacts. A value a concurrent writer took meanwhile fails
    # the batch, which the job retries.
    if new_count:
        run("INSERT INTO contacts_contactidentity (contact_id, kind, value, created_at) "
            "SELECT s.id, k.kind, k.value, %(now)s FROM imp_new s CROSS JOIN LATERAL (VALUES "
            f"('phone', s.f_phone), ('whatsapp', {whatsapp}), ('email', lower(s.f_email))) k(kind, value) "
            "WHERE k.value <> ''")
    # Existing contacts: their main values (after step 11) that no row holds. Most have their rows (a
    # re-import: all of them), and step 7 saw the rows of the batch's own values (``imp_own.held``): only
    # the other values are looked up, one probe of the unique index each (a scalar subquery, whatever the
    # statistics: for NOT EXISTS the planner sorted the whole identity table), and only the missing ones
    # inserted and sorted. Checking every value through ON CONFLICT took 0.5 s a batch of a re-import of
    # 100,000 rows; ON CONFLICT stays for a value a concurrent writer took meanwhile (it keeps its owner).
    if not run("SELECT 1 FROM imp_grp WHERE cid IS NOT NULL LIMIT 1").fetchone():
        return
    run("ANALYZE imp_grp")  # a hash join over the batch's contacts, not a loop per contact
    run("INSERT INTO contacts_contactidentity (contact_id, kind, value, created_at) "
        "SELECT id, kind, value, %(now)s FROM ("
        "SELECT c.id, k.kind, k.value FROM imp_grp g JOIN contacts_contact c ON c.id = g.cid "
        "CROSS JOIN LATERAL (VALUES ('phone', c.phone), ('whatsapp', c.whatsapp), ('email', lower(c.email))) "
        "k(kind, value) WHERE g.cid IS NOT NULL AND k.value <> '' AND NOT EXISTS ("
        "SELECT FROM imp_own o WHERE o.held AND o.kind = k.kind AND o.value = k.value) OFFSET 0) m "
        "WHERE (SELECT 1 FROM contacts_contactidentity i WHERE i.kind = m.kind AND i.value = m.value) IS NULL "
        "ORDER BY id, kind ON CONFLICT DO NOTHING")


def _sql_tags(c: _SqlBatch) -> None:
    """Step 12: the tags of every row, on its target."""
    run = c.run
    mapped = c.mapped
    # 12. Tags of every row, on its target.
    if "tags" in mapped:
        run("INSERT INTO contacts_tag (name, created_at) SELECT DISTINCT m.value, %(now)s FROM imp_ok o "
            "JOIN imp_map m ON m.kind = 'tag' AND m.raw = o.v_tags WHERE NOT o.complex "
            "ON CONFLICT (name) DO NOTHING")
        # A contact created by this batch has no tag yet: a plain insert (ON CONFLICT costs a third
        # more). An existing one may have the tag already.
        tagged = ("FROM imp_ok o JOIN imp_map m ON m.kind = 'tag' AND m.raw = o.v_tags "
                  "JOIN contacts_tag t ON t.name = m.value")
        run("INSERT INTO contacts_contact_tags (contact_id, tag_id) SELECT DISTINCT nw.id, t.id "
            f"{tagged} JOIN imp_new nw ON nw.tgt = o.tgt WHERE NOT o.complex AND o.cid IS NULL")
        run("INSERT INTO contacts_contact_tags (contact_id, tag_id) SELECT DISTINCT o.cid, t.id "
            f"{tagged} WHERE NOT o.complex AND o.cid IS NOT NULL ON CONFLICT DO NOTHING")


def _sql_report(c: _SqlBatch) -> tuple[int, int, int]:
    """Step 13: the row report written; returns (rows in error, rows applied set-based, blank rows)."""
    run = c.run
    # 13. The row report, and the counts.
    run('INSERT INTO contacts_importrowerror (job_id, "row", "column", message) '
        "SELECT %(job)s, %(start)s + n + 1, left(col, 100), left(msg, 500) FROM imp_err ORDER BY n, ord")
    error_rows, simple_rows, blank_rows = run(
        "SELECT (SELECT count(DISTINCT n) FROM imp_err), (SELECT count(*) FROM imp_ok WHERE NOT complex), "
        "(SELECT count(*) FROM imp_val WHERE blank)"
    ).fetchone()
    return error_rows, simple_rows, blank_rows
