"""A few thousand random inputs across every flow step, every persona, random and stale buttons and clock moves
(bench/fuzz.py, the same code `python -m bench.fuzz --inputs 100000` runs): no unhandled exception anywhere, and
the database's invariants hold afterwards."""

from __future__ import annotations

import os

from bench.fuzz import fuzz
from bot.app import App
from tests.conftest import on_postgres

# Enough to pass through every flow several times in well under a minute; the benchmark runs 100,000.
# Fewer on PostgreSQL: the inputs find faults of the conversation code, which are the same on both databases.
INPUTS = int(os.environ.get("LINLI_FUZZ_INPUTS", "600" if on_postgres() else "2500"))


async def test_random_inputs_raise_nothing_and_keep_the_invariants(app: App) -> None:
    report = await fuzz(app, INPUTS, seed=int(os.environ.get("LINLI_FUZZ_SEED", "15")))
    assert report.inputs == INPUTS
    assert report.kinds["presses"] > INPUTS // 5 and report.kinds["says"] > INPUTS // 4  # it did reach the flows
    assert report.unhandled == 0, "\n".join(report.lines())
    assert report.violations == [], "\n".join(report.lines())
