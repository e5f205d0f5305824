"""Measuring tools of ``bench/dispatch.py``: CPU per phase, CPU of other processes, fakes in a process of their own.

- ``CpuPhases`` wraps functions so that the CPU time of this process (``time.process_time``) is
  charged to the innermost phase running; what runs outside every wrapped function is ``other``.
  The wrapper costs two clock reads per call (about 1 µs), negligible against a message's cost.
- ``proc_cpu_seconds(pid)`` reads the user + system CPU of any process from ``/proc`` (Linux); the
  benchmark uses it for the PostgreSQL backends of its workers. ``machine_cpu()`` reads the whole
  machine's busy and total CPU seconds, to say how loaded the machine was during a run.
- ``FakeProcess`` runs a fake provider server in a forked process, so that its CPU is counted apart
  from the dispatchers'; at the end it hands back what the fake recorded and the CPU it used.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class CpuPhases:
    """CPU seconds of this process per phase; wrap functions with ``wrap`` or ``patch``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._stack = ["other"]
        self._mark = time.process_time()

    def reset(self) -> None:
        """Count from now on (call outside every wrapped function)."""
        self.seconds.clear()
        self._mark = time.process_time()

    def wrap(self, phase: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            now = time.process_time()
            self.seconds[self._stack[-1]] += now - self._mark
            self._mark = now
            self._stack.append(phase)
            try:
                return function(*args, **kwargs)
            finally:
                now = time.process_time()
                self.seconds[self._stack.pop()] += now - self._mark
                self._mark = now

        timed.__wrapped__ = function  # type: ignore[attr-defined]
        return timed

    def patch(self, phase: str, owner: Any, *names: str) -> None:
        """Wrap ``owner.<name>`` for each name that exists (module functions, methods, instance attributes)."""
        for name in names:
            function = getattr(owner, name, None)
            if callable(function):
                setattr(owner, name, self.wrap(phase, function))

    def close(self) -> dict[str, float]:
        """Charge the time since the last event to the running phase and return the totals."""
        now = time.process_time()
        self.seconds[self._stack[-1]] += now - self._mark
        self._mark = now
        return dict(self.seconds)


def proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (None when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime: fields 14 and 15 of stat(5)


def machine_cpu() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine since boot, from ``/proc/stat`` (None elsewhere)."""
    try:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
    except OSError:
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])
    return (total - idle) / _TICKS, total / _TICKS


def _serve(factory: Callable[[], Any], summarize: Callable[[Any], Any], pipe: Any) -> None:
    with factory() as fake:
        pipe.send(fake.base_url)
        started = time.process_time()
        pipe.recv()  # "stop"
        cpu = time.process_time() - started
        pipe.send((summarize(fake), cpu))


class FakeProcess:
    """A fake server (``factory()`` returns its context manager) serving from a forked process.

    ``summarize(fake)`` runs in that process at the end; ``stop()`` returns its result and the CPU
    seconds the process used while serving. Fork before any database connection is open.
    """

    def __init__(self, factory: Callable[[], Any], summarize: Callable[[Any], Any]):
        context = multiprocessing.get_context("fork")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(factory, summarize, child), daemon=True)
        self._process.start()
        self.base_url: str = self._pipe.recv()

    def stop(self) -> tuple[Any, float]:
        self._pipe.send("stop")
        summary, cpu = self._pipe.recv()
        self._process.join(10)
        return summary, cpu
