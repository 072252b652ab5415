"""``python -m benchmarks [--only 1,3] [--quick] [--out benchmarks/results.json]`` — what ``make bench`` runs.

Runs every figure in its own subprocess against the bundled emulator, prints one table and writes the rows
(ours, the comparison measured in the same run, ratio, goal, pass/miss, details) plus the machine to JSON.
A missed goal is reported, not an error: the exit status is non-zero only when a figure could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks._common import ROOT, isolate_airflow, run_child, stop_on_signals

FIGURES = {
    1: ("DAG parse cost", "benchmarks.fig1_parse"),
    2: ("Call economy (IoT Hub, IoT Central, AWS IoT Jobs)", "benchmarks.fig2_hub_calls"),
    3: ("Per-device results", "benchmarks.fig3_device_results"),
    4: ("Triggerer footprint (IoT Hub, IoT Central, AWS IoT Jobs)", "benchmarks.fig4_triggerer"),
    5: ("Emulator scale", "benchmarks.fig5_emulator_scale"),
    6: ("Import/export throughput", "benchmarks.fig6_import_export"),
    7: ("Emulator ceilings (requests/s, connection bursts)", "benchmarks.fig7_emulator_ceiling"),
    8: (
        "Distributed deployment: deferrable vs poke mode (CeleryExecutor, 2 triggerers)",
        "benchmarks.fig8_scale",
    ),
}
QUICK_ARGS = {1: ["3"], 3: ["--quick"], 6: ["100000"], 8: ["--quick"]}
TIMEOUTS = {8: 2400}  # two deployments, 100 runs each
PACKAGES = (
    "airflow-iot-jobs",
    "apache-airflow",
    "apache-airflow-task-sdk",
    "azure-iot-hub",
    "azure-storage-blob",
    "apache-airflow-providers-amazon",
    "boto3",
    "botocore",
    "msrest",
    "httpx",
    "requests",
    "lark",
    "psutil",
)


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    node = None
    with contextlib.suppress(OSError):
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip() or None
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "node": node,
        "packages": versions,
        "commit": commit,
        "load_average_at_start": os.getloadavg(),
    }


def fmt(value: Any, unit: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and value != value:
        return "nan"
    if unit in ("rows/s",):
        return f"{value:,.0f} {unit}"
    if unit in ("requests", "queries", "modules"):
        return f"{value:,.0f} {unit}" if unit != "modules" else f"{value:,.0f}"
    if unit == "% core":
        return f"{value:.2f} %"
    if unit == "s emulated":
        return f"{value:.1f} s emul."
    if unit == "req/s":
        return f"{value:,.0f} {unit}"
    if unit in ("ms", "s", "MB"):
        return f"{value:,.1f} {unit}"
    return f"{value:,.3g} {unit}".strip()


def table(rows: list[dict[str, Any]]) -> str:
    header = ("Fig", "Metric", "Ours", "Comparison (same run)", "Ratio", "Goal", "Result")
    lines = []
    for r in rows:
        comparison = fmt(r["comparison"], r["unit"])
        lines.append(
            (
                str(r["figure"]),
                r["metric"],
                fmt(r["ours"], r["unit"]),
                f"{comparison} — {r['comparison_label']}",
                "—" if r["ratio"] is None else f"{r['ratio']:.3g}×",
                r["goal"],
                {True: "pass", False: "MISS", None: "error"}[r["pass"]],
            )
        )
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    out = [
        " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
        "-+-".join("-" * w for w in widths),
    ]
    out += [" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated figure numbers (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats (a smoke run)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results.json"))
    args = parser.parse_args(argv)
    chosen = [int(x) for x in args.only.split(",") if x.strip()] or list(FIGURES)

    isolate_airflow(Path(tempfile.mkdtemp(prefix="airflow-iot-jobs-bench-")))
    info = machine()
    began = time.time()
    rows: list[dict[str, Any]] = []
    timings: dict[str, float] = {}
    failed = False
    for number in chosen:
        title, module = FIGURES[number]
        print(f"figure {number}: {title} …", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            produced = run_child(
                module,
                *(QUICK_ARGS.get(number, []) if args.quick else []),
                timeout=TIMEOUTS.get(number, 1200),
            )
        except Exception as err:  # a figure that cannot run is reported and the others still run
            failed = True
            produced = [
                {
                    "figure": number,
                    "metric": f"{title}: could not run",
                    "ours": None,
                    "unit": "",
                    "comparison": None,
                    "comparison_label": "",
                    "ratio": None,
                    "goal": "",
                    "pass": None,
                    "details": {"error": str(err)[-3000:]},
                }
            ]
        timings[str(number)] = round(time.perf_counter() - started, 1)
        print(f"figure {number}: done in {timings[str(number)]:.0f} s", file=sys.stderr, flush=True)
        rows += produced
    info["load_average_at_end"] = os.getloadavg()
    result = {
        "command": "make bench" + (" (--quick)" if args.quick else ""),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(began)),
        "seconds": round(time.time() - began, 1),
        "figure_seconds": timings,
        "machine": info,
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(table(rows))
    print(
        f"\n{sum(r['pass'] is True for r in rows)} pass, {sum(r['pass'] is False for r in rows)} miss"
        f"{', ' + str(sum(r['pass'] is None for r in rows)) + ' error' if failed else ''}"
        f" — {result['seconds']:.0f} s on {info['nproc']} × {info['cpu']}; details in {args.out}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    stop_on_signals()
    sys.exit(main())
