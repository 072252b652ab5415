"""Extra links: computed on the worker when the task ends (Airflow stores them as XCom for the UI).

A link reads the job the operator launched from the operator itself, so a task that failed before any
launch simply has no link — no XCom lookup, no error in its log.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperatorLink


class JobPortalLink(BaseOperatorLink):
    """Opens the job in the service's own UI, as specifically as that UI allows (see each hook's
    ``portal_url``)."""

    name = "IoT job (service portal)"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        job_id = getattr(operator, "_launched_job_id", None)
        if not job_id:
            return ""
        try:
            return operator.hook.portal_url(job_id) or ""
        except Exception:  # a link must never fail the task or its log
            return ""


class IoTHubJobLink(JobPortalLink):
    """Opens the hub's jobs in the Azure portal (its Jobs page when the connection names the subscription and
    resource group; the portal has no page per job), else a portal search for the hub."""

    name = "IoT Hub jobs (Azure portal)"


class IoTCentralJobLink(JobPortalLink):
    """Opens the job's page in the IoT Central application."""

    name = "IoT Central job"


class AwsIoTJobLink(JobPortalLink):
    """Opens the job's page in the AWS IoT console (the connection's region)."""

    name = "AWS IoT job (AWS console)"


class DeviceManagementApiJobLink(JobPortalLink):
    """Opens the job's page in the AWS IoT console (the region of the API's host name, or the connection's)."""

    name = "AWS IoT job (AWS console)"
