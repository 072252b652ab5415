"""``python -m benchmarks._report <mode> <job_id> <out file>``: fetch every ``devices.jobs`` row of one job in a
fresh process and report rows, seconds and this process's peak RSS. The hub comes from the
``AIRFLOW_CONN_AZURE_IOT_HUB_DEFAULT`` connection in the environment.

modes:
  ours  — ``IoTHubHook.write_device_job_report(job_id, out)`` (rows streamed to JSON lines); falls back to
          ``iter_device_job_rows`` written line by line when the hook has no such method yet;
  raw   — the limit: httpx POSTs the same query with the same headers, follows the continuation, discards pages;
  sdk   — the comparison: azure-iot-hub ``IoTHubRegistryManager.query_iot_hub`` in a loop, rows accumulated.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from benchmarks._common import emit, isolate_airflow, peak_rss_mb, rss_mb, sas_token, stop_on_signals

PAGE = 100


def settings() -> tuple[str, str, str]:
    conn = json.loads(os.environ["AIRFLOW_CONN_AZURE_IOT_HUB_DEFAULT"])
    cs = conn["password"]
    hostname = dict(p.split("=", 1) for p in cs.split(";") if p)["HostName"]
    return cs, hostname, conn["extra"]["endpoint_url"]


def query_text(job_id: str) -> str:
    from airflow_iot_jobs.hooks.iothub import device_jobs_query

    return device_jobs_query(job_id, None)


def ours(job_id: str, out: Path) -> tuple[int, str]:
    from airflow_iot_jobs.hooks.iothub import IoTHubHook

    hook = IoTHubHook()
    if hasattr(hook, "write_device_job_report"):
        return hook.write_device_job_report(job_id, out), "IoTHubHook.write_device_job_report"
    count = 0
    with out.open("w") as handle:
        for item in hook.iter_device_job_rows(job_id):
            handle.write(json.dumps(item, separators=(",", ":")) + "\n")
            count += 1
    return count, "IoTHubHook.iter_device_job_rows → file"


def raw(job_id: str, out: Path) -> tuple[int, str]:
    import httpx

    cs, hostname, endpoint = settings()
    body = {"query": query_text(job_id)}
    headers = {
        "Authorization": sas_token(hostname, cs),
        "x-ms-max-item-count": str(PAGE),
        "Content-Type": "application/json",
    }
    count = 0
    with httpx.Client(timeout=60) as client:
        continuation = None
        while True:
            page_headers = dict(headers)
            if continuation:
                page_headers["x-ms-continuation"] = continuation
            response = client.post(
                f"{endpoint}/devices/query",
                params={"api-version": "2021-04-12"},
                json=body,
                headers=page_headers,
            )
            response.raise_for_status()
            count += response.content.count(b'"deviceId"')  # rows, without decoding them
            continuation = response.headers.get("x-ms-continuation")
            if not continuation:
                return count, "httpx, pages fetched and discarded"


def sdk(job_id: str, out: Path) -> tuple[int, str]:
    from azure.iot.hub import IoTHubRegistryManager
    from azure.iot.hub.models import QuerySpecification

    cs, _hostname, endpoint = settings()
    manager = IoTHubRegistryManager.from_connection_string(cs)
    manager.protocol.config.base_url = endpoint
    spec = QuerySpecification(query=query_text(job_id))
    rows: list = []
    continuation = None
    while True:
        result = manager.query_iot_hub(spec, continuation, PAGE)
        rows.extend(result.items)
        continuation = result.continuation_token
        if not continuation:
            return len(rows), "azure-iot-hub query_iot_hub loop, rows accumulated"


MODES = {"ours": ours, "raw": raw, "sdk": sdk}


def main() -> int:
    mode, job_id, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    isolate_airflow()
    import logging

    logging.disable(logging.INFO)
    # Import what the mode needs before the baseline, so "added" is the fetching alone.
    if mode == "ours":
        import azure.iot.hub  # noqa: F401
        import requests  # noqa: F401

        import airflow_iot_jobs.hooks.iothub  # noqa: F401
    elif mode == "raw":
        import httpx  # noqa: F401

        import airflow_iot_jobs.hooks.iothub  # noqa: F401  (only for the query text)
    else:
        import azure.iot.hub  # noqa: F401
    baseline = rss_mb()
    started = time.perf_counter()
    rows, label = MODES[mode](job_id, out)
    seconds = time.perf_counter() - started
    size = out.stat().st_size if out.exists() else 0
    if out.exists():
        out.unlink()
    emit(
        {
            "mode": mode,
            "label": label,
            "rows": rows,
            "seconds": seconds,
            "rows_per_s": rows / seconds if seconds else None,
            "peak_rss_mb": peak_rss_mb(),
            "baseline_rss_mb": baseline,
            "file_bytes": size,
        }
    )
    return 0


if __name__ == "__main__":
    stop_on_signals()
    sys.exit(main())
