"""The Amazon provider's connection parameters, shared by every AWS IoT operator and the sensor.

A ``BaseOperator`` subclass (with the hook built from ``hook_params``), so Airflow applies ``default_args`` (``aws_conn_id``, ``region_name``…) to them like
it does for the Amazon provider's own operators. Nothing of boto3 or the Amazon provider is imported here.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_iot_jobs.backends import AWS_IOT
from airflow_iot_jobs.links import AwsIoTJobLink
from airflow_iot_jobs.waiting import BackendTask


class AwsIoTConnectionMixin(BackendTask, BaseOperator):
    """:param aws_conn_id: an ``aws`` connection (default ``aws_default``; ``None``: boto3's default chain).
    :param region_name: overrides the connection's region.
    :param verify: TLS certificate verification (``False``, or the path of a CA bundle).
    :param botocore_config: ``botocore.config.Config`` keywords, e.g. ``{"retries": {"mode": "adaptive"}}``.
    """

    backend = AWS_IOT
    operator_extra_links = (AwsIoTJobLink(),)
    aws_template_fields: ClassVar[tuple[str, ...]] = ("aws_conn_id", "region_name")

    def __init__(
        self,
        *,
        aws_conn_id: str | None = AWS_IOT.default_conn_id,
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config
