"""CSV reading and writing for the customer file: encodings, separators, French or English
headers, one row parsed into contact fields, and a streamed export.

Pure functions: no database access, so they are cheap to test and to reuse in the benchmark.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from api.contacts.enums import Segment
from api.contacts.phones import normalize_phone

# Header (accents stripped, lower case, single spaces) -> contact field.
HEADER_ALIASES: dict[str, str] = {}
_ALIASES = {
    "name": ["nom", "name", "nom complet", "full name", "client", "nom et prenom", "nom prenom", "contact"],
    "first_name": ["prenom", "first name", "firstname", "given name"],
    "last_name": ["nom de famille", "last name", "lastname", "surname", "family name"],
    "salutation": ["civilite", "salutation", "title", "titre"],
    "phone": ["telephone", "tel", "phone", "mobile", "numero", "numero de telephone", "portable", "phone number",
              "gsm", "cellulaire"],
    "whatsapp": ["whatsapp", "numero whatsapp", "whatsapp number"],
    "email": ["email", "e mail", "courriel", "mail", "adresse email", "adresse e mail", "email address"],
    "city": ["ville", "city", "town", "localite"],
    "neighbourhood": ["quartier", "neighbourhood", "neighborhood", "district", "area"],
    "segment": ["segment", "cible", "target"],
    "self_reported_source": ["source", "d ou il vient", "dou il vient", "origine", "how did you hear",
                             "comment nous a t il connu", "self reported source", "provenance"],
    "acquisition_channel": ["canal", "channel", "acquisition", "acquisition channel", "canal d acquisition"],
    "tags": ["tags", "tag", "etiquettes", "etiquette", "labels"],
    "telegram_username": ["telegram", "telegram username", "pseudo telegram"],
    "instagram": ["instagram", "insta"],
    "birth_date": ["date de naissance", "naissance", "birth date", "birthday", "date of birth", "anniversaire"],
    "note": ["note", "notes", "remarque", "remarques", "commentaire", "commentaires", "comment", "comments"],
    "language": ["langue", "language"],
}
for _field, _names in _ALIASES.items():
    for _name in _names:
        HEADER_ALIASES[_name] = _field

IDENTITY_COLUMNS = {"phone", "whatsapp", "email"}

SEGMENT_ALIASES = {
    "host": Segment.HOST, "hote": Segment.HOST, "ebahir": Segment.HOST, "les ebahir": Segment.HOST,
    "healthy": Segment.HEALTHY, "sain": Segment.HEALTHY, "sain et mic": Segment.HEALTHY, "sante": Segment.HEALTHY,
    "reseller": Segment.RESELLER, "revendeur": Segment.RESELLER, "business": Segment.RESELLER,
    "les business": Segment.RESELLER, "unknown": Segment.UNKNOWN, "inconnu": Segment.UNKNOWN,
}


def simplify(text: str) -> str:
    """``"Téléphone "`` -> ``"telephone"``: no accents, lower case, words separated by one space."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return " ".join(re.split(r"[^a-z0-9]+", text)).strip()


def sniff_delimiter(text: str) -> str:
    """``;`` (French Excel), ``,``, tab or ``|``, guessed from the first lines."""
    sample = "\n".join(text[:65536].splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=";,\t|").delimiter
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        return max(";,\t|", key=first.count) if first else ","


def map_headers(header: list[str]) -> tuple[dict[str, str], list[str]]:
    """Map CSV columns to contact fields. Returns ({column index (str): field}, ignored header names)."""
    columns: dict[str, str] = {}
    ignored: list[str] = []
    taken: set[str] = set()
    for index, raw in enumerate(header):
        field = HEADER_ALIASES.get(simplify(raw))
        if field and field not in taken:
            columns[str(index)] = field
            taken.add(field)
        elif raw.strip():
            ignored.append(raw.strip())
    return columns, ignored


def read_header(text: str, delimiter: str) -> list[str]:
    return next(csv.reader(io.StringIO(text[:65536]), delimiter=delimiter), [])


def _parse_date(value: str) -> date:
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(value, fmt).date()  # noqa: DTZ007 - a date, no time zone involved
        except ValueError:
            continue
    raise ValueError("Enter a date as JJ/MM/AAAA or YYYY-MM-DD.")


MAX_LENGTHS = {"name": 200, "first_name": 100, "last_name": 100, "salutation": 30, "city": 100,
                "neighbourhood": 100, "self_reported_source": 200, "acquisition_channel": 50,
                "telegram_username": 64, "instagram": 64, "language": 10}


class CellError(ValueError):
    """A cell that cannot be imported; the message is shown in the row report."""


# Messages of the row report that the Python and the SQL paths of an import both write (the same words
# either way: tests compare the two paths' reports).
NO_IDENTITY = "No phone, WhatsApp or e-mail to identify the contact."
FORGOTTEN = "This person asked to be forgotten; import with consent to re-create them."
TWO_CONTACTS = "The phone, WhatsApp number and e-mail of this row belong to two contacts: {}."
TOO_LONG = "At most {} characters."


def parse_cell(field: str, raw: str) -> Any:
    """Turn one non-empty, stripped cell into the value of ``field``, or raise ``CellError``.

    The one definition of what a cell means: ``parse_row`` uses it for every cell, and the
    PostgreSQL import uses it for the cells its SQL fast paths do not handle.
    """
    try:
        if field in ("phone", "whatsapp"):
            return normalize_phone(raw)
        if field == "email":
            email = raw.lower()
            validate_email(email)
            return email
        if field == "segment":
            segment = SEGMENT_ALIASES.get(simplify(raw))
            if segment is None:
                raise ValueError(f"Unknown segment {raw!r}: use host, healthy, reseller (or ébahir, sain, business).")
            return segment.value
        if field == "tags":
            return split_tags(raw)
        if field == "birth_date":
            return _parse_date(raw)
        if field == "telegram_username" or field == "instagram":
            return raw.lstrip("@")[: MAX_LENGTHS[field]]
        if field == "note":
            return raw
        if len(raw) > MAX_LENGTHS[field]:
            raise ValueError(TOO_LONG.format(MAX_LENGTHS[field]))
        return raw
    except ValidationError:
        raise CellError("Enter a valid e-mail address.") from None
    except ValueError as exc:
        raise CellError(str(exc)) from None


def split_tags(raw: str) -> list[str]:
    """``"bio, enfants"`` -> ``["bio", "enfants"]``: sorted, without duplicates, at most 60 characters each."""
    return sorted({t.strip()[:60] for t in re.split(r"[,;|/]", raw) if t.strip()})


def parse_row(cells: list[str], columns: dict[str, str], header: list[str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Turn one CSV row into contact fields. Returns (values, [(column header, message)]).

    Empty cells are left out, so an import never blanks a field.
    """
    values: dict[str, Any] = {}
    errors: list[tuple[str, str]] = []
    for index, field in columns.items():
        i = int(index)
        raw = cells[i].strip() if i < len(cells) else ""
        if not raw:
            continue
        try:
            values[field] = parse_cell(field, raw)
        except CellError as exc:
            errors.append((column_label(header, i, field), str(exc)))
    return values, errors


def column_label(header: list[str], index: int, field: str) -> str:
    """The column name shown in the row report: the file's own header."""
    return header[index].strip() if index < len(header) else field


# --- Streaming over the stored bytes ------------------------------------------------------------
# An import never decodes the whole file into one string: a 50 MB file with accents would take
# 100 to 200 MB as a Python str, and a copy more in a StringIO.

_SAMPLE_CHARS = 65536


def detect_encoding(data: bytes) -> str:
    """``"utf-8-sig"`` when the whole file is UTF-8 (with or without BOM), else ``"cp1252"``
    (Excel), else ``"latin-1"``, checked chunk by chunk without decoding the whole file at once."""
    for encoding in ("utf-8-sig", "cp1252"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            for offset in range(0, len(data), 1 << 20):
                decoder.decode(data[offset:offset + (1 << 20)])
            decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            continue
    return "latin-1"


def sample(data: bytes, encoding: str) -> str:
    """The first 65,536 characters of the file (what ``sniff_delimiter`` and ``read_header`` read)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    return decoder.decode(data[: _SAMPLE_CHARS * 4])[:_SAMPLE_CHARS]


def open_text(data: bytes, encoding: str) -> io.TextIOWrapper:
    """The file as a text stream decoded on the fly. Lines end at ``\n`` only, untranslated,
    like ``io.StringIO(text)``, so the csv module sees exactly what it saw on the decoded text."""
    return io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline="\n")


def iter_data_rows_bytes(data: bytes, encoding: str, delimiter: str, *, start: int = 0) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(index, cells)`` for data rows after the header, ``index`` counting from 1, decoding
    the stored bytes as it goes. Rows up to ``start`` are skipped (the job's cursor); the row number
    shown to users is ``index + 1``, the line of the file when the header is line 1."""
    reader = csv.reader(open_text(data, encoding), delimiter=delimiter)
    next(reader, None)
    # PostgreSQL cannot store NUL in text (COPY refuses the whole batch): it is dropped from every cell,
    # on every database, so that a stray NUL in any column imports the same way.
    nul = "\x00" if b"\x00" in data else None
    for index, cells in enumerate(reader, start=1):
        if index > start:
            yield index, [c.replace(nul, "") for c in cells] if nul else cells


def is_plain(data: bytes) -> bool:
    """True when each line of the file is one row and no cell needs unquoting: no ``"``, no NUL,
    no carriage return other than in ``\r\n``. Then the csv module splits a line exactly like
    ``line.split(delimiter)``, and the data rows are the lines after the first."""
    return b'"' not in data and b"\x00" not in data and data.count(b"\r") == data.count(b"\r\n")


def body_offset(data: bytes, encoding: str) -> int:
    """Where the text of the file starts: after the UTF-8 byte order mark, if any."""
    return 3 if encoding == "utf-8-sig" and data.startswith(codecs.BOM_UTF8) else 0


def line_count(chunk: bytes) -> int:
    """Lines in ``chunk``, the last one with or without its ``\\n``."""
    return chunk.count(b"\n") + (0 if not chunk or chunk.endswith(b"\n") else 1)


def count_data_rows_bytes(data: bytes, encoding: str, delimiter: str) -> int:
    """How many data rows the file has: a line count when the file is plain."""
    if is_plain(data):
        return max(line_count(data[body_offset(data, encoding):]) - 1, 0)
    return sum(1 for _ in iter_data_rows_bytes(data, encoding, delimiter))


class _Echo:
    """A file-like object whose ``write`` returns the line, for streaming with ``csv.writer``."""

    def write(self, value: str) -> str:
        return value


EXPORT_COLUMNS = ["id", "name", "phone", "whatsapp", "email", "city", "neighbourhood", "segment",
                  "lifecycle_stage", "acquisition_channel", "self_reported_source", "tags", "telegram_username",
                  "instagram", "preferred_channel", "opted_out_at", "last_seen_at", "last_verified_at", "created_at"]


def export_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """CSV lines (UTF-8 BOM first, so that Excel opens accents right) for an iterable of row dicts."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        yield writer.writerow(["" if row.get(c) is None else row.get(c) for c in EXPORT_COLUMNS])
