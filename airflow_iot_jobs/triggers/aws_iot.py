"""Deferrable waiting on an AWS IoT job."""

from __future__ import annotations

from airflow_iot_jobs.backends import AWS_IOT
from airflow_iot_jobs.triggers.base import JobThresholdTrigger


class AwsIoTJobTrigger(JobThresholdTrigger):
    """Polls ``DescribeJob`` (boto3 in a worker thread; the connection read with ``aget_connection``) until the
    job meets or fails its thresholds, its abort config cancels it, or the absolute deadline ``end_time`` passes.
    ``hook_params`` holds ``aws_conn_id``, ``region_name``, ``verify`` and ``botocore_config`` — no secret."""

    backend = AWS_IOT
