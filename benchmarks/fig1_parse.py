"""Figure 1 — DAG parse cost: importing each example DAG file vs. the same file with every provider operator
and sensor swapped for an EmptyOperator stand-in.

Every measurement is a fresh interpreter (``benchmarks._parse_one``), byte code cached: ``airflow.sdk`` imported
first (the DAG processor has it, and pre-imports the file's ``airflow.*`` imports), then the file loaded and
timed. Ours and the stand-in run alternate, median of REPEATS each. Modules: what the example DAG adds to
``sys.modules`` beyond its stand-in run, filtered to the heavy client families that must stay out of parse time.
"""

from __future__ import annotations

import os
import sys
import tempfile

from benchmarks._common import ROOT, emit, median, row, run_child, stop_on_signals

REPEATS = 5
GOAL_RATIO = 1.15
HEAVY_PREFIXES = (
    "azure",
    "msrest",
    "uamqp",
    "boto3",
    "botocore",
    "httpx",
    "httpcore",
    "requests",
    "lark",
    "airflow_iot_jobs.emulator",
)


def heavy(modules: list[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY_PREFIXES or m.startswith(HEAVY_PREFIXES))


def main() -> int:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else REPEATS
    # Byte code cached, as on a DAG processor: PYTHONDONTWRITEBYTECODE (set on some machines) would make every
    # run compile every module; the cache goes to a directory of its own, not into the tree.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="bench-pycache-")
    rows = []
    heavy_by_file: dict[str, list[str]] = {}
    baseline_heavy: set[str] = set()
    for path in sorted((ROOT / "example_dags").glob("*.py")):
        # the first run also writes the byte code both sides then read
        shape = run_child("benchmarks._parse_one", str(path), "--structure", env=env)
        run_child("benchmarks._parse_one", str(path), "--stand-in", env=env)
        ours, base = [], []
        for _ in range(repeats):
            ours.append(run_child("benchmarks._parse_one", str(path), env=env))
            base.append(run_child("benchmarks._parse_one", str(path), "--stand-in", env=env))
        ours_s = median([r["seconds"] for r in ours])
        base_s = median([r["seconds"] for r in base])
        extra = sorted(set(ours[0]["modules"]) - set(base[0]["modules"]))
        heavy_extra = heavy(extra)
        tasks = len(shape["dag"]["tasks"])
        rows.append(
            row(
                1,
                f"parse {path.name} ({tasks} tasks)",
                ours_s * 1000,
                base_s * 1000,
                "same file, EmptyOperator stand-ins",
                f"≤ {GOAL_RATIO}×",
                ours_s / base_s <= GOAL_RATIO,
                unit="ms",
                repeats=repeats,
                ours_all_ms=[round(r["seconds"] * 1000, 2) for r in ours],
                twin_all_ms=[round(r["seconds"] * 1000, 2) for r in base],
                extra_module_count=len(extra),
                extra_modules=extra,
            )
        )
        heavy_by_file[path.name] = heavy_extra
        baseline_heavy |= set(heavy(base[0]["modules"]))
    found = sorted(set().union(*heavy_by_file.values()))
    rows.append(
        row(
            1,
            f"client modules imported at parse ({len(heavy_by_file)} example DAGs)",
            len(found),
            len(baseline_heavy),
            "EmptyOperator stand-in runs (beyond airflow.sdk)",
            "0 beyond airflow.sdk",
            not found,
            unit="modules",
            no_ratio=True,
            modules=found,
            by_file=heavy_by_file,
            baseline_modules=sorted(baseline_heavy),
            families=list(HEAVY_PREFIXES),
        )
    )
    emit(rows)
    return 0


if __name__ == "__main__":
    stop_on_signals()
    sys.exit(main())
