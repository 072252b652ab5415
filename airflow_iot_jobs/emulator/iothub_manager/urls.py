"""The IoTHub Manager routes (reference §4.1: ``JobsController`` at ``[Route("v1/[controller]")]`` and the
``DevicePropertiesController``). ASP.NET Core matches routes case-insensitively and tolerates a trailing slash."""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_iot_jobs.emulator.http import Router

if TYPE_CHECKING:
    from airflow_iot_jobs.emulator.iothub_manager.responses import ManagerResponses

BASE_PATH = "/v1"

#: (method, path regex, handler name, the [Authorize] action it needs)
ROUTES: list[tuple[str, str, str, str]] = [
    ("GET", r"(?i)/v1/jobs/?", "list_jobs", "ReadAll"),
    ("POST", r"(?i)/v1/jobs/?", "create_job", "CreateJobs"),
    ("GET", r"(?i)/v1/jobs/(?P<job_id>[^/]+)/?", "get_job", "ReadAll"),
    ("GET", r"(?i)/v1/deviceproperties/?", "device_properties", "ReadAll"),
]


#: The hub throttle (with a tier) each route spends, as the service's calls to the hub would: listing jobs and
#: reading device properties are hub queries, creating and reading a job are jobs operations.
THROTTLE_CLASSES: dict[str, str] = {
    "list_jobs": "queries",
    "create_job": "jobs",
    "get_job": "jobs",
    "device_properties": "queries",
}


def build_router(responses: ManagerResponses) -> Router:
    router = Router()
    for method, pattern, name, action in ROUTES:
        handler = responses.hub.app.throttled(THROTTLE_CLASSES.get(name), getattr(responses, name))
        router.add(method, pattern, responses.action(handler, action))
    return router
