"""The set-based PostgreSQL import and the row-by-row Python import give the same results.

Hypothesis draws small, tricky CSV files (one person typed several ways, a phone and an e-mail
of two different contacts, rows that fill empty fields, bad cells, tags, blank lines, rows of
separators only, rows with more or fewer fields than the header, erased persons) and a starting
customer file (contacts with or without identity rows for their main numbers, and extra numbers and
e-mails a merge left them as identity rows). Each file is imported twice from the same starting
data, each time inside a savepoint that is rolled back afterwards: once through
``pg.import_apply_sql`` (what PostgreSQL runs), once through ``rows.import_apply_rows`` (what SQLite
runs, and what the SQL path hands its order-dependent rows to). The contacts (identities,
names, cities, tags, segment, source, notes, identity rows), the row report and the counts must be equal, and
each path counts every row of the file once (created, updated, unchanged, skipped or error).

Ids differ between the two runs (a sequence is not rolled back), so contacts are compared by
their content and ``#id`` in a message is replaced by the label of the starting contact.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from api.contacts import csv_io, services
from api.contacts.models import (
    Contact,
    ContactIdentity,
    ContactNote,
    ErasedIdentity,
    ImportJob,
    ImportRowError,
    Tag,
)
from api.contacts.services.identity_rows import identity_rows_heal
from api.contacts.services.imports import jobs, pg, rows

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the set-based import runs on PostgreSQL only"),
]

# National numbers: five valid Cameroonian ones, and how people type each of them.
NATIONALS = ["699123456", "677001122", "690000001", "699000002", "655443322"]


def _typed(national: str, style: int) -> str:
    return [
        national,
        "+237" + national,
        f"{national[0]}{national[1:3]} {national[3:5]} {national[5:7]} {national[7:]}",  # 699 12 34 56
        "00237 " + national,
        "+237 " + " ".join(national[i:i + 2] for i in range(0, 9, 2)),
        "237" + national,
        f" {national} ",
        f"(+237) {national[:3]}-{national[3:6]}-{national[6:]}",
    ][style]


phone_cells = st.one_of(
    st.builds(_typed, st.sampled_from(NATIONALS), st.integers(0, 7)),
    st.sampled_from(["12345", "abc", "+33 6 12 34 56 78", "699 12 34", "0699123456", "+2376991234567"]),
    st.just(""),
)
EMAILS = ["ama@example.cm", "bello@mail.cm", "chris@example.org", "dede@x.cm"]
email_cells = st.one_of(
    st.sampled_from(EMAILS),
    st.sampled_from(EMAILS).map(str.upper),
    st.sampled_from(EMAILS).map(lambda e: f"  {e.capitalize()} "),
    st.sampled_from(["pas-un-email", "a@b", "é@x.cm", "a..b@x.cm", "o'neil@x-y.org", "Ama@École.cm"]),
    st.just(""),
)
name_cells = st.sampled_from(["", "", "Mireille Ngo Bassa", "Hervé Fotso", " Aïcha ", "\u00a0Brice\u00a0", "x" * 201,
                              "NULL", "\\N", "a\\b", "{x,y}", 'Dit "Papa"', "ligne 1\nligne 2", "tab\tici"])
city_cells = st.sampled_from(["", "", "Douala", "Yaoundé", "douala", "Kribi ", "y" * 101])
segment_cells = st.sampled_from(["", "", "host", "ébahir", "sain", "Business", "unknown", "inconnu", "martien"])
source_cells = st.sampled_from(["", "", "Salon MIC", "Facebook", "Bouche à oreille"])
tag_cells = st.sampled_from(["", "", "bio", "bio, enfants", "Bio;fidèle", " tontine | bio ", ",", "t" * 70])
date_cells = st.sampled_from(["", "", "01/02/1990", "1990-02-01", "31/02/1990", "hier"])
note_cells = st.sampled_from(["", "", "Aime le bissap", "Rappeler"])
whatsapp_cells = st.one_of(st.just(""), st.just(""), phone_cells)
telegram_cells = st.sampled_from(["", "", "@mireille", "@@", "herve"])
channel_cells = st.sampled_from(["", "", "", "whatsapp", "salon"])
# A column no field maps to: anything goes (NUL included), except a lone carriage return,
# which makes the file unreadable as CSV (refused at upload: test_import_odd_files.py).
other_cells = st.one_of(st.just(""), st.text(st.characters(blacklist_characters="\r"), max_size=4))

COLUMNS = [
    ("nom", "name", name_cells), ("téléphone", "phone", phone_cells), ("email", "email", email_cells),
    ("whatsapp", "whatsapp", whatsapp_cells), ("ville", "city", city_cells), ("segment", "segment", segment_cells),
    ("source", "self_reported_source", source_cells), ("tags", "tags", tag_cells),
    ("date de naissance", "birth_date", date_cells), ("note", "note", note_cells),
    ("telegram", "telegram_username", telegram_cells), ("canal", "acquisition_channel", channel_cells),
    ("divers", "", other_cells),
]


@st.composite
def csv_files(draw) -> bytes:
    """A file with the identity columns and a few others, in any order, `;` or `,`, plain or quoted."""
    optional = draw(st.lists(st.sampled_from([c for c in COLUMNS if c[1] not in ("phone", "email")]),
                             unique=True, max_size=6))
    identity = draw(st.sampled_from([["phone"], ["email"], ["phone", "email"], ["phone", "email"]]))
    columns = draw(st.permutations([c for c in COLUMNS if c[1] in identity] + optional))
    rows = []
    for _ in range(draw(st.integers(1, 14))):
        kind = draw(st.integers(0, 19))
        if kind == 0:  # a blank line: separators only (as many as the header's or not), spaces, or nothing
            rows.append(draw(st.sampled_from([[""] * len(columns), [""] * (len(columns) + 2), [" "] * len(columns),
                                              [], [""]])))
            continue
        row = [draw(strategy) for _, _, strategy in columns]
        if kind == 1:  # a separator inside a cell, or one too many at the end: more fields than the header
            row.insert(draw(st.integers(0, len(row))), draw(st.sampled_from(["", "Akwa", "699 12 34 56"])))
        elif kind == 2 and len(row) > 1:  # a line cut short: fewer fields
            row = row[:draw(st.integers(1, len(row) - 1))]
        rows.append(row)
    delimiter = draw(st.sampled_from([";", ","]))
    buffer = io.StringIO()
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\n", "\r\n"])),
                        quoting=quoting)
    writer.writerow([header for header, _, _ in columns])
    writer.writerows(rows)
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))
    return buffer.getvalue().encode(encoding, errors="replace")


@st.composite
def starting_files(draw) -> dict[str, Any]:
    """Existing contacts (unique phones and e-mails, some fields empty), with or without identity rows for
    their main ones, extra identities a merge left them, and erased identities."""
    count = draw(st.integers(0, 4))
    phones = draw(st.permutations(NATIONALS))
    emails = draw(st.permutations(EMAILS))
    contacts = []
    for i in range(count):
        phone = "+237" + phones[i] if draw(st.booleans()) or i == 0 else None
        email = emails[i] if phone is None or draw(st.booleans()) else None
        if email and draw(st.booleans()):
            email = email.capitalize()  # stored as typed by staff: matched case-insensitively
        contacts.append({
            "label": f"C{i}", "phone": phone, "email": email,
            "name": draw(st.sampled_from(["", "Ancien Nom"])), "city": draw(st.sampled_from(["", "Bafoussam"])),
            "segment": draw(st.sampled_from(["unknown", "unknown", "healthy", ""])),
            "self_reported_source": draw(st.sampled_from(["", "Tontine"])),
            "whatsapp": draw(st.sampled_from([None, "+237" + phones[-1]])) if i == 0 else None,
            "tags": draw(st.sampled_from([[], ["vip"], ["bio"]])),
            "rows": draw(st.booleans()),  # identity rows for its main ones (else as an old import left it)
        })
    # Numbers and e-mails of merged-away persons, kept as identity rows of a survivor: the ones no contact
    # has as a main one (one owner per value, as the identity rows guarantee).
    mains = {(kind, c[kind].lower() if kind == "email" else c[kind]) for c in contacts
             for kind in ("phone", "whatsapp", "email") if c[kind]}
    extras = []
    if contacts:
        for kind, value in draw(st.lists(st.sampled_from(
                [("phone", "+237" + n) for n in NATIONALS] + [("whatsapp", "+237" + n) for n in NATIONALS]
                + [("email", e) for e in EMAILS]), unique=True, max_size=3)):
            if (kind, value) not in mains:
                extras.append((draw(st.integers(0, len(contacts) - 1)), kind, value))
    erased = draw(st.lists(st.one_of(
        st.sampled_from(NATIONALS[-2:]).map(lambda n: ("phone", "+237" + n)),
        st.sampled_from(EMAILS[-1:]).map(lambda e: ("email", e)),
    ), unique=True, max_size=2))
    return {"contacts": contacts, "extras": extras, "erased": erased, "consent": draw(st.booleans())}


class _Rollback(Exception):
    pass


def _import(start: dict[str, Any], data: bytes, batch_size: int, *, set_based: bool) -> dict[str, Any]:
    """Create the starting file, import ``data``, describe the result; roll everything back."""
    result: dict[str, Any] = {}
    try:
        with transaction.atomic():
            labels = {}
            made = []
            for spec in start["contacts"]:
                fields = {k: v for k, v in spec.items() if k not in ("label", "tags", "rows")}
                contact = Contact.objects.create(referral_code=services.referral_code_new(), **fields)
                for name in spec["tags"]:
                    contact.tags.add(Tag.objects.get_or_create(name=name)[0])
                if spec["rows"]:
                    identity_rows_heal(contact)
                labels[contact.pk] = spec["label"]
                made.append(contact)
            for owner, kind, value in start.get("extras", []):
                ContactIdentity.objects.create(contact=made[owner], kind=kind, value=value)
            for kind, value in start["erased"]:
                ErasedIdentity.objects.create(digest=services.identity_digest(kind, value), kind=kind)
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(transaction, "on_commit", lambda fn: None)  # no worker kick
                handed: list[int] = []
                if set_based:  # count the rows the SQL path hands to the row-by-row rules
                    rows_path = rows.import_apply_parsed_rows

                    def spy(job, batch, *args):
                        handed.append(len(batch))
                        return rows_path(job, batch, *args)

                    patch.setattr(pg, "import_apply_parsed_rows", spy)
                else:
                    # The csv module instead of COPY lines, and the row-by-row rules instead of SQL.
                    patch.setattr(csv_io, "is_plain", lambda data: False)
                    patch.setattr(jobs, "import_batch_apply", rows.import_apply_rows)
                job = services.import_job_create(file_name="t.csv", data=data, consent_given=start["consent"])
                job = services.import_job_run(job_id=job.pk, batch_size=batch_size)
            assert job is not None
            assert job.status == ImportJob.Status.DONE, job.failure
            result = _describe(job, labels)
            result["handed"] = sum(handed)
            raise _Rollback
    except _Rollback:
        pass
    return result


def _describe(job: ImportJob, labels: dict[int, str]) -> dict[str, Any]:
    def label(match: re.Match) -> str:
        return "#" + labels.get(int(match.group(1)), "new")

    contacts = []
    for contact in Contact.objects.prefetch_related("tags").order_by("phone", "email"):
        notes = sorted(ContactNote.objects.filter(contact=contact).values_list("text", flat=True))
        contacts.append({
            "label": labels.get(contact.pk, "new"),
            **{f: getattr(contact, f) for f in (
                "phone", "email", "whatsapp", "name", "city", "segment", "self_reported_source",
                "acquisition_channel", "birth_date", "telegram_username", "language", "first_name", "last_name")},
            "tags": sorted(t.name for t in contact.tags.all()), "notes": notes,
            "identities": sorted(ContactIdentity.objects.filter(contact=contact).values_list("kind", "value")),
        })
    errors = [(e.row, e.column, re.sub(r"#(\d+)", label, e.message))
              for e in ImportRowError.objects.filter(job=job).order_by("row", "id")]
    counts = {f: getattr(job, f) for f in ("rows_done", "total_rows", "created_count", "updated_count",
                                            "unchanged_count", "skipped_count", "error_count")}
    erased = sorted(ErasedIdentity.objects.values_list("digest", flat=True))
    return {"contacts": contacts, "errors": errors, "counts": counts, "erased": erased}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(start=starting_files(), data=csv_files(), batch_size=st.sampled_from([1, 2, 5, 1000]))
def test_the_set_based_import_gives_the_results_of_the_row_by_row_import(start, data, batch_size):
    sql = _import(start, data, batch_size, set_based=True)
    python = _import(start, data, batch_size, set_based=False)
    event("some rows handed to the row-by-row rules" if sql["handed"] else "all rows set-based")
    event(f"plain file: {csv_io.is_plain(data)}")
    for kind, found in (("a conflict", any("two contacts" in m for _, _, m in sql["errors"])),
                        ("an erased person refused", any("forgotten" in m for _, _, m in sql["errors"])),
                        ("an existing contact updated", sql["counts"]["updated_count"] > 0),
                        ("a duplicate in the file", sql["counts"]["unchanged_count"] > 0),
                        ("extra identities in the starting file", bool(start["extras"])),
                        ("an extra identity typed plainly in the file",
                         any(value.removeprefix("+237") in data.decode("cp1252", "replace").lower()
                             for _, _, value in start["extras"])),
                        ("a blank row", sql["counts"]["skipped_count"] > 0),
                        ("a row of the wrong field count", any("instead of" in m for _, _, m in sql["errors"]))):
        if found:
            event(kind)
    assert sql["errors"] == python["errors"]
    assert sql["contacts"] == python["contacts"]
    assert sql["counts"] == python["counts"]
    for counts in (sql["counts"], python["counts"]):
        assert counts["rows_done"] == counts["total_rows"] == sum(
            counts[f] for f in ("created_count", "updated_count", "unchanged_count", "skipped_count", "error_count"))
    assert sql["erased"] == python["erased"]
