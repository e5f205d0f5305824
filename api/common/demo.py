"""Demo data registry: each app adds its own seeder, run in order by ``seed_demo``.

An app registers in its ``AppConfig.ready()``::

    from api.common.demo import register_demo_seeder
    register_demo_seeder("orders", seed_orders, after=["contacts"])

A seeder is ``seed(*, rng: random.Random, stdout) -> str`` returning a one-line summary;
it must be deterministic for a given ``rng``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Seeder = Callable[..., str]


@dataclass
class _Entry:
    name: str
    seed: Seeder
    after: list[str] = field(default_factory=list)


_SEEDERS: dict[str, _Entry] = {}


def register_demo_seeder(name: str, seed: Seeder, *, after: list[str] | None = None) -> None:
    """Register ``seed`` under ``name``; it runs after the seeders named in ``after``."""
    _SEEDERS[name] = _Entry(name, seed, list(after or []))


def ordered_seeders() -> list[_Entry]:
    """Seeders in an order that respects ``after`` (a stable topological sort)."""
    done: list[_Entry] = []
    seen: set[str] = set()

    def visit(entry: _Entry) -> None:
        if entry.name in seen:
            return
        seen.add(entry.name)
        for dep in entry.after:
            if dep in _SEEDERS:
                visit(_SEEDERS[dep])
        done.append(entry)

    for entry in sorted(_SEEDERS.values(), key=lambda e: e.name):
        visit(entry)
    return done


def run_demo_seeders(*, seed: int = 2026, stdout: Any = None) -> list[str]:
    """Run every registered seeder with one shared random generator."""
    rng = random.Random(seed)
    return [f"{entry.name}: {entry.seed(rng=rng, stdout=stdout)}" for entry in ordered_seeders()]
