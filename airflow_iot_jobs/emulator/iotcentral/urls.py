"""The IoT Central route table: the spec's ``paths`` under its ``basePath`` ``/api``, one row per operation.

Written as ``(method, path template, operationId, handler)`` exactly as the spec extract spells them; the regexes
are derived from the templates, and ``tests/emulator/iotcentral/test_central_routes.py`` checks the table against
the extract's ``paths`` (same templates, verbs and operationIds). Literal segments come before ``{id}`` segments
only where it matters (none do here: every ``{id}`` is one segment, and sub-resources are longer paths).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from airflow_iot_jobs.emulator.http import Router

if TYPE_CHECKING:
    from airflow_iot_jobs.emulator.iotcentral.responses import CentralResponses

BASE_PATH = "/api"

ROUTES: list[tuple[str, str, str, str]] = [
    ("GET", "/jobs", "Jobs_List", "list_jobs"),
    ("GET", "/jobs/{jobId}", "Jobs_Get", "get_job"),
    ("PUT", "/jobs/{jobId}", "Jobs_Create", "create_job"),
    ("GET", "/jobs/{jobId}/devices", "Jobs_GetDevices", "get_job_devices"),
    ("PUT", "/jobs/{jobId}/rerun/{rerunId}", "Jobs_Rerun", "rerun_job"),
    ("POST", "/jobs/{jobId}/resume", "Jobs_Resume", "resume_job"),
    ("POST", "/jobs/{jobId}/stop", "Jobs_Stop", "stop_job"),
    ("GET", "/scheduledJobs", "ScheduledJobs_List", "list_scheduled_jobs"),
    ("GET", "/scheduledJobs/{scheduledJobId}", "ScheduledJobs_Get", "get_scheduled_job"),
    ("PUT", "/scheduledJobs/{scheduledJobId}", "ScheduledJobs_Create", "put_scheduled_job"),
    ("PATCH", "/scheduledJobs/{scheduledJobId}", "ScheduledJobs_Update", "patch_scheduled_job"),
    ("DELETE", "/scheduledJobs/{scheduledJobId}", "ScheduledJobs_Remove", "delete_scheduled_job"),
    ("GET", "/scheduledJobs/{scheduledJobId}/jobs", "ScheduledJobs_ListJobs", "list_scheduled_job_jobs"),
    ("GET", "/deviceGroups", "DeviceGroups_List", "list_device_groups"),
    ("GET", "/deviceGroups/{deviceGroupId}", "DeviceGroups_Get", "get_device_group"),
    ("PUT", "/deviceGroups/{deviceGroupId}", "DeviceGroups_Create", "put_device_group"),
    ("PATCH", "/deviceGroups/{deviceGroupId}", "DeviceGroups_Update", "patch_device_group"),
    ("DELETE", "/deviceGroups/{deviceGroupId}", "DeviceGroups_Remove", "delete_device_group"),
    ("GET", "/deviceGroups/{deviceGroupId}/devices", "DeviceGroups_GetDevices", "get_device_group_devices"),
]


def pattern_of(template: str) -> str:
    """``/jobs/{jobId}`` -> ``/api/jobs/(?P<jobId>[^/]+)/?``."""
    parts = re.split(r"(\{\w+\})", BASE_PATH + template)
    regex = "".join(
        f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part) for part in parts if part
    )
    return regex + "/?"


def build_router(responses: CentralResponses) -> Router:
    router = Router()
    for method, template, _operation_id, name in ROUTES:
        router.add(method, pattern_of(template), getattr(responses, name))
    return router
