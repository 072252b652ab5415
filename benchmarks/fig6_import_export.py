"""Figure 6 — import/export file throughput: 1,000,000 device identities, streamed.

* import: the import operator's path — ``IoTHubImportDevicesOperator(devices_file=…)``: ``build_request()``
  checks every record (what ``execute`` does before any upload), then ``records()`` validated again as they
  stream into ``DeviceBlobStorage.upload_lines``, which writes ``devices.txt`` to the container in 4 MB
  blocks — against the floor: ``json.loads`` + ``json.dumps`` per line to a local file;
* export: ``DeviceBlobStorage.iter_records`` reading an export-format ``devices.txt`` back from the container
  (chunked download, one record at a time) against the floor: ``json.loads`` per line of a local copy.

Storage is Azurite (``node_modules/.bin/azurite-blob``, installed by ``make venv``), in memory, on 127.0.0.1.
Without it, both "ours" measurements fall back to local files (the label says so). The export file has the
emulator's own export line format (``emulator/iothub/importexport/export_lines.py``), built from a seeded fleet.
"""

from __future__ import annotations

import copy
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._common import ROOT, emit, row, run_child, stop_on_signals

ROWS = 1_000_000
TEMPLATES = 1000
GOAL_THROUGHPUT = 0.8
GOAL_ADDED_MB = 64.0


def write_sources(workdir: Path, rows: int) -> tuple[Path, Path]:
    """An import source (JSON lines, createOrUpdate with keys and tags) and an export-format file."""
    from airflow_iot_jobs.emulator.fleet import Fleet
    from airflow_iot_jobs.emulator.iothub.importexport.export_lines import export_record
    from airflow_iot_jobs.emulator.iothub.importexport.identities import derive_key, sas_authentication
    from airflow_iot_jobs.emulator.iothub.twins import TwinView

    fleet = Fleet(devices=TEMPLATES, seed=3, epoch=1.7e9, view=TwinView())
    twins = [fleet.doc(device_id) for device_id in fleet.ids()]
    auths = [
        sas_authentication(
            derive_key(3, t["deviceId"], "primary", 0), derive_key(3, t["deviceId"], "secondary", 0)
        )
        for t in twins
    ]
    source, export = workdir / "import-source.jsonl", workdir / "devices.txt"
    with source.open("w") as imports, export.open("w") as exports:
        for index in range(rows):
            twin, auth = twins[index % TEMPLATES], auths[index % TEMPLATES]
            device_id = f"bulk-{index:07d}"
            imports.write(
                json.dumps(
                    {
                        "id": device_id,
                        "importMode": "createOrUpdate",
                        "status": "enabled",
                        "authentication": auth,
                        "tags": twin["tags"],
                    },
                    separators=(",", ":"),
                )
                + "\n"
            )
            record = export_record({**twin, "deviceId": device_id}, copy.copy(auth), exclude_keys=False)
            exports.write(json.dumps(record, separators=(",", ":")) + "\n")
    return source, export


def start_storage(workdir: Path) -> Any:
    """Azurite, or None when it is not installed."""
    sys.path.insert(0, str(ROOT))
    try:
        from tests.azurite import AzuriteError, start_azurite
    except ImportError:
        return None
    try:
        return start_azurite(workdir / "azurite")
    except AzuriteError:
        return None


def main() -> int:
    rows_wanted = int(sys.argv[1]) if len(sys.argv) > 1 else ROWS
    workdir = Path(tempfile.mkdtemp(prefix="bench-import-export-"))
    source, export = write_sources(workdir, rows_wanted)
    storage = start_storage(workdir)
    try:
        if storage is not None:
            import_container = storage.container_sas_url("bench-import")
            export_container = storage.container_sas_url("bench-export")
            with export.open("rb") as data:
                storage.container("bench-export").upload_blob("devices.txt", data, overwrite=True)
            export_target = (export_container, "devices.txt")
        else:
            import_container = "-"
            export_target = ("-", str(export))
        out = str(workdir / "written.jsonl")
        results = {
            "import-ours": run_child(
                "benchmarks._io_child", "import-ours", str(source), import_container, out
            ),
            "import-limit": run_child("benchmarks._io_child", "import-limit", str(source), out),
            "export-ours": run_child("benchmarks._io_child", "export-ours", *export_target),
            "export-limit": run_child("benchmarks._io_child", "export-limit", str(export)),
        }
    finally:
        if storage is not None:
            storage.stop()
    sizes = {
        "import_source_mb": source.stat().st_size / 2**20,
        "export_file_mb": export.stat().st_size / 2**20,
    }
    source.unlink()
    export.unlink()
    rows = []
    for kind in ("import", "export"):
        ours, limit = results[f"{kind}-ours"], results[f"{kind}-limit"]
        assert ours["rows"] == limit["rows"] == rows_wanted, (ours, limit)
        added = ours["peak_rss_mb"] - ours["baseline_rss_mb"]
        what = "write the import file" if kind == "import" else "read the export file"
        rows.append(
            row(
                6,
                f"{what}, {rows_wanted:,} identities",
                ours["rows_per_s"],
                limit["rows_per_s"],
                limit["label"],
                f"≥ {GOAL_THROUGHPUT:.0%} of the floor",
                ours["rows_per_s"] >= GOAL_THROUGHPUT * limit["rows_per_s"],
                unit="rows/s",
                ours_label=ours["label"],
                ours_run=ours,
                limit_run=limit,
                **sizes,
            )
        )
        rows.append(
            row(
                6,
                f"{what}: added peak RSS",
                added,
                limit["peak_rss_mb"] - limit["baseline_rss_mb"],
                "the same floor loop",
                f"≤ {GOAL_ADDED_MB:.0f} MB (file {sizes['import_source_mb' if kind == 'import' else 'export_file_mb']:.0f} MB)",
                added <= GOAL_ADDED_MB,
                unit="MB",
                no_ratio=True,
            )
        )
    emit(rows)
    return 0


if __name__ == "__main__":
    stop_on_signals()
    sys.exit(main())
