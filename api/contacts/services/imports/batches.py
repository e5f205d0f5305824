"""Cutting an import file into batches from its cursor: plain files into ``COPY`` lines on PostgreSQL,
any other file through the csv module."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection

from api.contacts import csv_io
from api.contacts.models import ImportJob


@dataclass
class ImportBatch:
    """Consecutive data rows ``start + 1 … end`` of a file (row index 1 is the line after the header).

    Either ``lines``: the rows as they are in a plain file, one line each, already escaped for
    PostgreSQL's ``COPY`` text format; or ``rows``: ``(index, cells)`` parsed by the csv module.
    """

    start: int
    end: int
    lines: bytes | None = None
    rows: list[tuple[int, list[str]]] | None = None


_NEWLINE = re.compile(b"\n")


def import_batches(job: ImportJob, data: bytes, start: int, batch_size: int) -> Iterator[ImportBatch]:
    """The rows after the cursor ``start``, in batches of ``batch_size``.

    On PostgreSQL a plain file (no quotes: each line is a row) is cut into lines without the
    csv module, and each batch goes to ``COPY`` as it is: the per-row work of Python is nil.
    Any other file is parsed by the csv module, streaming from the bytes.
    """
    if connection.vendor == "postgresql" and csv_io.is_plain(data):
        yield from import_line_batches(data, job.encoding, start, batch_size)
        return
    batch: list[tuple[int, list[str]]] = []
    for index, cells in csv_io.iter_data_rows_bytes(data, job.encoding, job.delimiter, start=start):
        batch.append((index, cells))
        if len(batch) >= batch_size:
            yield ImportBatch(start=batch[0][0] - 1, end=batch[-1][0], rows=batch)
            batch = []
    if batch:
        yield ImportBatch(start=batch[0][0] - 1, end=batch[-1][0], rows=batch)


def import_line_batches(data: bytes, encoding: str, start: int, batch_size: int) -> Iterator[ImportBatch]:
    """Batches of a plain file as ``COPY`` text: re-encoded to UTF-8, ``\\r\\n`` made ``\\n``,
    backslashes and tabs escaped (the only characters ``COPY`` would read otherwise; quotes,
    NUL and lone carriage returns do not occur in a plain file)."""
    newlines = _NEWLINE.finditer(data, csv_io.body_offset(data, encoding))
    # The header line, then the rows already committed.
    match = next(itertools.islice(newlines, start, None), None)
    if match is None:
        return
    pos = match.end()
    index = start
    while pos < len(data):
        match = next(itertools.islice(newlines, batch_size - 1, None), None)
        end = len(data) if match is None else match.end()
        chunk = data[pos:end]
        count = csv_io.line_count(chunk)
        if encoding != "utf-8-sig":
            chunk = chunk.decode(encoding).encode()
        chunk = chunk.replace(b"\r\n", b"\n").replace(b"\\", b"\\\\").replace(b"\t", b"\\t")
        if not chunk.endswith(b"\n"):
            chunk += b"\n"
        yield ImportBatch(start=index, end=index + count, lines=chunk)
        index += count
        pos = end

