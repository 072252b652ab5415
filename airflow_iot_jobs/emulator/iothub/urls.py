"""The IoT Hub route table (wire contract §1.1). Order matters: the first full match wins.

Routes are derived from the service's published model where one ships with a library (botocore's service
models for AWS IoT). For IoT Hub the table is written from the REST reference and checked against the published
model in tests: every path is a URL template of azure-iot-hub's generated operations, with the verb of the REST
spec (``tests/emulator/iothub/test_routes_contract.py``).

``/jobs/v2/query`` must come before ``/jobs/v2/{id}``, and ``/jobs/create`` before ``/jobs/{id}`` (import/export
jobs). ``{id}`` is one path segment, so ``/jobs/{id}`` never shadows ``/jobs/v2/...``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_iot_jobs.emulator.http import Router

if TYPE_CHECKING:
    from airflow_iot_jobs.emulator.iothub.responses import IoTHubResponses

_JOB_ID = r"(?P<job_id>[^/]+)"

URL_PATTERNS: list[tuple[str, str, str]] = [
    ("GET", r"/jobs/v2/query/?", "query_jobs"),
    ("PUT", rf"/jobs/v2/{_JOB_ID}/?", "create_job"),
    ("GET", rf"/jobs/v2/{_JOB_ID}/?", "get_job"),
    ("POST", rf"/jobs/v2/{_JOB_ID}/cancel/?", "cancel_job"),
    ("POST", r"/jobs/create/?", "create_import_export_job"),
    ("GET", r"/jobs/?", "list_import_export_jobs"),
    ("GET", rf"/jobs/{_JOB_ID}/?", "get_import_export_job"),
    ("DELETE", rf"/jobs/{_JOB_ID}/?", "cancel_import_export_job"),
    ("POST", r"/devices/query/?", "query_devices"),
    ("GET", r"/twins/(?P<device_id>[^/]+)/?", "get_twin"),
    ("PATCH", r"/twins/(?P<device_id>[^/]+)/?", "update_twin"),
]


#: The throttle each route counts against when the hub has a tier: IoT Hub's "jobs operations (create, update,
#: get, delete)" (import/export jobs are jobs too), its "queries", or its twin reads / updates.
THROTTLE_CLASSES: dict[str, str] = {
    "query_jobs": "queries",
    "create_job": "jobs",
    "get_job": "jobs",
    "cancel_job": "jobs",
    "create_import_export_job": "jobs",
    "list_import_export_jobs": "jobs",
    "get_import_export_job": "jobs",
    "cancel_import_export_job": "jobs",
    "query_devices": "queries",
    "get_twin": "twin_reads",
    "update_twin": "twin_updates",
}


def build_router(responses: IoTHubResponses) -> Router:
    router = Router()
    for method, pattern, name in URL_PATTERNS:
        router.add(method, pattern, responses.throttled(THROTTLE_CLASSES.get(name), getattr(responses, name)))
    return router
