"""Reading the facts of a full run on PostgreSQL in threads, on other connections, on one snapshot.

Used by :func:`.recompute_pg.credits_replace_all`; ``tests/attribution/test_full_recompute.py`` shows
that the slices give the rows of one read and that a reader's error fails the run and leaves the old
credits.
"""

from __future__ import annotations

import itertools
import queue
import re
import threading
from collections.abc import Iterator
from typing import Any

from django.db import connection, transaction

from api.attribution.services import inputs, inputs_pg
from api.attribution.services.credits import typed_codes
from api.attribution.services.facts import Facts


class SliceReader:
    """Reads the facts of a full run in threads, each on its own connection bound to the run's snapshot,
    and hands them over slice by slice (ranges of contact ids, in order): PostgreSQL reads the next slices
    while the caller computes the one before.

    Each slice's queries cost about in proportion to it (orders by their contact index, windows by an index
    probe per order), so the first slice, small, comes at once, and slicing adds little work (each reader
    also counts the orders once, to size the slices). ``READERS`` connections read alternate slices: the
    reading is PostgreSQL's work (index probes and joins), about as long as the caller's computing, and a
    connection works on one core only. Iterating gives ``(facts, typed codes)`` per slice; an error in a
    thread is raised there. ``close()`` stops the threads and closes their connections.
    """

    FIRST_SLICE = 1_000  # orders (about) in the first slice: the caller waits for it
    SLICE_ORDERS = 20_000  # orders (about) in a slice at most; the sizes double up to it
    READERS = 2

    def __init__(self, snapshot: str) -> None:
        if not re.fullmatch(r"[0-9A-F-]+", snapshot):  # an id like 00000003-0000001B-1
            raise ValueError(f"unexpected snapshot id {snapshot!r}")
        self._snapshot = snapshot
        # Slice i goes through queue i % READERS; a reader puts None when it has no slice left.
        self._queues: list[queue.Queue[tuple | BaseException | None]] = [
            queue.Queue(maxsize=1) for _ in range(self.READERS)]
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        # Everyone's stated sources, read once (one scan of the touchpoints rather than one per slice) by the
        # reader of the second slice once it has handed that slice over; until then each slice reads its own.
        self._stated: dict[int, str] | None = None
        self._threads = [threading.Thread(target=self._run, args=(k,), name=f"attribution-reader-{k}", daemon=True)
                         for k in range(self.READERS)]
        for thread in self._threads:
            thread.start()

    def _put(self, reader: int, item: tuple | BaseException | None) -> None:
        while not self._stop.is_set():
            try:
                self._queues[reader].put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _run(self, reader: int) -> None:
        # Django connections are per thread: this is a new one, closed below.
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cursor.execute(f"SET TRANSACTION SNAPSHOT '{self._snapshot}'")  # a utility statement: no parameters
                cursor.execute("SET LOCAL work_mem = '64MB'")
                cursor.execute("SET LOCAL jit = off")
                low, high, count = inputs_pg.order_contact_span()
                contacts_per_order = (high - low + 1) / count if count else 0
                index, bound, size = 0, low, self.FIRST_SLICE
                while count and bound <= high and not self._stop.is_set():
                    top = min(high, bound + max(1, int(size * contacts_per_order)) - 1)
                    if index % self.READERS == reader:
                        self._read_slice(cursor, reader, (bound, top))
                        if index == 1 and top < high and not self._stop.is_set():  # for the slices still to come
                            self._stated = inputs.stated_sources(None)
                    index, bound, size = index + 1, top + 1, min(2 * size, self.SLICE_ORDERS)
            self._put(reader, None)
        except BaseException as exc:  # handed to the caller's thread
            self._errors.append(exc)
            self._put(reader, exc)
        finally:
            connection.close()

    def _read_slice(self, cursor: Any, reader: int, contact_range: tuple[int, int]) -> None:
        """Read the facts of the contacts ``lo <= id <= hi`` and hand them to the caller."""
        sales = inputs_pg.counted_sales(None, contact_range)
        orders = inputs_pg.read_orders(cursor, sales)
        stated = self._stated
        facts = Facts(orders, inputs_pg.read_windows(cursor, sales, probe=True),
                      inputs_pg.read_refunds(cursor, sales),
                      inputs.stated_sources(None, contact_range) if stated is None else stated)
        self._put(reader, (facts, typed_codes(orders)))

    def __iter__(self) -> Iterator[tuple]:
        for index in itertools.count():
            item = self._queues[index % self.READERS].get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise self._errors[0]
            yield item

    def close(self) -> None:
        """Stop the reader threads and wait for them (each closes its connection)."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
