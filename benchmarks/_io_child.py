"""``python -m benchmarks._io_child <mode> …``: one import-file write or export-file read in a fresh process;
reports rows, seconds and the process's peak RSS (and its RSS after imports, the baseline).

modes:
  import-ours <source.jsonl> <container SAS URL | -> <local out>
      the import operator's own path: ``build_request()`` (the pass over every record that ``execute`` makes
      before uploading anything), then ``records()`` (each record validated) as compact JSON into
      ``DeviceBlobStorage.upload_lines`` to the blob ``devices.txt`` (4 MB blocks);
      with ``-`` instead of a container (no Azurite) the same lines go to <local out>;
  import-limit <source.jsonl> <local out>
      the floor: ``json.loads`` + ``json.dumps`` per line to a local file, nothing else;
  export-ours <container SAS URL | -> <blob name | local file>
      ``DeviceBlobStorage.iter_records`` over the exported blob (chunked download, one record at a time);
      with ``-``: the local file read line by line with ``json.loads``;
  export-limit <local file>
      the floor: ``json.loads`` per line of a local copy of the same file.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks._common import emit, isolate_airflow, peak_rss_mb, quiet_logs, rss_mb, stop_on_signals


def import_ours(source: str, container: str, out: str) -> tuple[int, str]:
    from airflow_iot_jobs.hooks.blob_storage import BlobLocation, DeviceBlobStorage
    from airflow_iot_jobs.operators.iothub_import_export import IoTHubImportDevicesOperator

    operator = IoTHubImportDevicesOperator(task_id="import", devices_file=source)
    operator.build_request()  # execute() first walks every record once: a bad line fails before any upload
    lines = (json.dumps(record, separators=(",", ":")) for record in operator.records())
    if container != "-":
        count = DeviceBlobStorage().upload_lines(BlobLocation(container, "devices.txt"), lines)
        return count, "import operator: build_request() check pass + records() → upload_lines (Azurite)"
    count = 0
    with open(out, "w") as handle:
        for line in lines:
            handle.write(line + "\n")
            count += 1
    return count, "IoTHubImportDevicesOperator.records() → local file (no Azurite)"


def import_limit(source: str, out: str) -> tuple[int, str]:
    count = 0
    with open(source) as lines, open(out, "w") as handle:
        for line in lines:
            handle.write(json.dumps(json.loads(line), separators=(",", ":")) + "\n")
            count += 1
    return count, "json.loads + json.dumps per line, local file"


def export_ours(container: str, name: str) -> tuple[int, str]:
    records: Iterator
    if container != "-":
        from airflow_iot_jobs.hooks.blob_storage import BlobLocation, DeviceBlobStorage

        records = DeviceBlobStorage().iter_records(BlobLocation(container, name))
        label = "DeviceBlobStorage.iter_records (Azurite)"
    else:
        records = (json.loads(line) for line in open(name))  # noqa: SIM115
        label = "local file, json.loads per line (no Azurite)"
    count = 0
    for _record in records:
        count += 1
    return count, label


def export_limit(path: str) -> tuple[int, str]:
    count = 0
    with open(path) as lines:
        for line in lines:
            json.loads(line)
            count += 1
    return count, "json.loads per line, local file"


def main() -> int:
    mode, args = sys.argv[1], sys.argv[2:]
    if mode.endswith("-ours"):
        isolate_airflow()
        quiet_logs()
        import azure.storage.blob  # noqa: F401

        import airflow_iot_jobs.hooks.blob_storage  # noqa: F401
        import airflow_iot_jobs.operators.iothub_import_export  # noqa: F401
    baseline = rss_mb()
    started = time.perf_counter()
    if mode == "import-ours":
        rows, label = import_ours(*args)
    elif mode == "import-limit":
        rows, label = import_limit(*args)
    elif mode == "export-ours":
        rows, label = export_ours(*args)
    elif mode == "export-limit":
        rows, label = export_limit(*args)
    else:
        raise SystemExit(f"unknown mode {mode}")
    seconds = time.perf_counter() - started
    for arg in args[1:]:
        if mode.startswith("import") and Path(arg).is_file() and arg != args[0]:
            Path(arg).unlink()
    emit(
        {
            "mode": mode,
            "label": label,
            "rows": rows,
            "seconds": seconds,
            "rows_per_s": rows / seconds if seconds else None,
            "peak_rss_mb": peak_rss_mb(),
            "baseline_rss_mb": baseline,
        }
    )
    return 0


if __name__ == "__main__":
    stop_on_signals()
    sys.exit(main())
