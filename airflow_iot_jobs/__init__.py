"""Apache Airflow provider for fleet-wide IoT device jobs."""

from __future__ import annotations

__version__ = "0.1.0"


def get_provider_info() -> dict:
    from airflow_iot_jobs.provider_info import PROVIDER_INFO

    return PROVIDER_INFO
