"""Figure 1 — DAG parse cost: importing each example DAG file vs. the same DAG made of EmptyOperators.

Every measurement is a fresh interpreter (``benchmarks._parse_one``): ``airflow.sdk`` imported first (the DAG
processor has it), then the file loaded and timed. Ours and the twin alternate, median of REPEATS each. The
twin has the same dag_id, schedule, start date, task ids and edges. Modules: what the example DAG adds to
``sys.modules`` beyond its twin, filtered to the heavy client families that must stay out of parse time.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from benchmarks._common import ROOT, emit, median, row, run_child

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


def twin_source(dag: dict) -> str:
    lines = [
        "from datetime import datetime",
        "",
        "from airflow.providers.standard.operators.empty import EmptyOperator",
        "from airflow.sdk import DAG",
        "",
        "with DAG(",
        f"    dag_id={dag['dag_id']!r},",
        f"    schedule={dag['schedule']!r},",
    ]
    if dag["start_date"]:
        lines.append(f"    start_date=datetime.fromisoformat({dag['start_date']!r}),")
    lines += ["    catchup=False,", ") as dag:"]
    names = {task: f"t{i}" for i, task in enumerate(dag["tasks"])}
    lines += [f"    {names[t]} = EmptyOperator(task_id={t!r})" for t in dag["tasks"]]
    lines += [f"    {names[up]} >> {names[down]}" for up, down in dag["edges"]]
    return "\n".join(lines) + "\n"


def heavy(modules: list[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY_PREFIXES or m.startswith(HEAVY_PREFIXES))


def main() -> int:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else REPEATS
    workdir = Path(tempfile.mkdtemp(prefix="bench-parse-"))
    rows = []
    heavy_by_file: dict[str, list[str]] = {}
    baseline_heavy: set[str] = set()
    for path in sorted((ROOT / "example_dags").glob("*.py")):
        shape = run_child("benchmarks._parse_one", str(path), "--structure")
        twin = workdir / f"empty_{path.name}"
        twin.write_text(twin_source(shape["dag"]))
        run_child("benchmarks._parse_one", str(twin))  # warm the bytecode caches of both
        ours, base = [], []
        for _ in range(repeats):
            ours.append(run_child("benchmarks._parse_one", str(path)))
            base.append(run_child("benchmarks._parse_one", str(twin)))
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
                "same DAG of EmptyOperators",
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
            "EmptyOperator twins (beyond airflow.sdk)",
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
    sys.exit(main())
