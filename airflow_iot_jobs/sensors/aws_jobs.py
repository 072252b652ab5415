"""The AWS IoT job sensor without a connection: each AWS backend binds its own (boto3, or the Device Management
API)."""

from __future__ import annotations

from typing import Any

from airflow_iot_jobs.sensors.base import JobThresholdSensor
from airflow_iot_jobs.validation.aws_iot import min_executions


class AwsJobSensorBase(JobThresholdSensor):
    """Waits on an AWS IoT job until it crosses its thresholds (over ``jobProcessDetails``); a job its abort config
    cancelled is a failure that says so.

    :param job_id: the job to watch (templated).
    :param continuous_min_executions: for a CONTINUOUS job (it never ends): judge the thresholds over the
        executions finished so far once at least this many things finished (without it, the sensor still
        succeeds as soon as the success threshold of the things targeted so far is met).
    """

    def __init__(self, *, continuous_min_executions: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settle_after = min_executions(continuous_min_executions)
