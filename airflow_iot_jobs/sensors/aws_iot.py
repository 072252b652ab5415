"""Sensor for AWS IoT jobs."""

from __future__ import annotations

from airflow_iot_jobs.operators.aws_iot_base import AwsIoTConnectionMixin
from airflow_iot_jobs.sensors.aws_jobs import AwsJobSensorBase


class AwsIoTJobSensor(AwsIoTConnectionMixin, AwsJobSensorBase):
    """Waits on an AWS IoT job until it crosses its thresholds (``DescribeJob``'s ``jobProcessDetails``); a job its
    abort config cancelled is a failure that says so.

    :param job_id: the job to watch (templated).
    :param continuous_min_executions: for a CONTINUOUS job (it never ends): judge the thresholds over the
        executions finished so far once at least this many things finished (without it, the sensor still
        succeeds as soon as the success threshold of the things targeted so far is met).
    Plus the connection parameters ``aws_conn_id``, ``region_name``, ``verify``, ``botocore_config``.
    """

    template_fields = (*AwsJobSensorBase.template_fields, *AwsIoTConnectionMixin.aws_template_fields)
