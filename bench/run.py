"""Run every benchmark module under bench/ and print one table.

Each `bench/bench_*.py` exposes `run() -> list[Row]`. A row is a figure, optionally with a
baseline measured in the same run, their ratio and the goal for that ratio. Benchmarks report;
they never fail the build (machines are noisy).

The database: BENCH_DATABASE_URL, else a fresh database of the run's own on the server of
DATABASE_URL (dropped afterwards), else SQLite (bench/common.py). Each row shows the machine's
1-minute load average when it was measured: the machine may be shared, so compare ratios
measured in one run, not figures from different runs.

Usage: `make bench` (all) or `make bench BENCH_ARGS="render ledger"` (modules by name).
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from pathlib import Path
from typing import TypedDict

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class Row(TypedDict, total=False):
    name: str
    value: float
    unit: str
    baseline: float
    ratio: float
    goal: str
    note: str
    load: str


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return "" if value is None else str(value)


def main(argv: list[str]) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "veosaas.settings")
    os.environ.setdefault("VAR_DIR", str(ROOT / "var" / "bench"))
    from bench.common import choose_broker, load_average

    choose_broker()
    wanted = set(argv)
    modules = sorted(p.stem for p in (ROOT / "bench").glob("bench_*.py"))
    rows: list[Row] = []
    for module_name in modules:
        if wanted and module_name.removeprefix("bench_") not in wanted:
            continue
        print(f"# running {module_name} ...", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(f"bench.{module_name}")
            found = module.run()
        except Exception:  # one broken benchmark must not hide the others
            traceback.print_exc()
            found = [{"name": module_name, "note": "FAILED (see traceback above)"}]
        load = load_average()
        for row in found:
            row.setdefault("load", load)
        rows.extend(found)
    headers = ["benchmark", "value", "unit", "baseline", "ratio", "goal", "load", "note"]
    table = [
        [
            r.get("name", ""),
            _fmt(r.get("value")),
            r.get("unit", ""),
            _fmt(r.get("baseline")),
            _fmt(r.get("ratio")),
            r.get("goal", ""),
            r.get("load", ""),
            r.get("note", ""),
        ]
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *table, strict=False)]
    line = " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False))
    print(line)
    print("-+-".join("-" * w for w in widths))
    for row in table:
        print(" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
