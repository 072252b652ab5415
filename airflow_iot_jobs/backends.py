"""What the provider knows about each backend before importing any of its code.

Operators, sensors and the provider metadata read a :class:`Backend` at DAG-parse time; the hook and trigger
classes it names are imported only when a task runs (``hook_class()``, ``trigger_class()``). Adding a backend
means adding one entry to :data:`BACKENDS`; ``get_provider_info`` is built from it.
Standard library only.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_iot_jobs.hooks.base import JobsHook
    from airflow_iot_jobs.triggers.base import JobThresholdTrigger


def import_path(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Backend:
    """One IoT jobs service: its connection, its classes (by dotted path) and what it can do.

    :param conn_param: the keyword that takes the connection id on its hook, operators, sensor and trigger.
    :param hook_params: further hook keywords operators accept and triggers serialise, with their defaults
        (AWS: ``region_name``, ``verify``, ``botocore_config``).
    :param supports_cancel: the service can cancel a job (the IoTHub Manager API cannot).
    :param supports_count: the service can count the devices a target selects before a launch.
    :param cancel_through: for a backend that cannot cancel (or count): the hook keyword naming a second
        connection that can (IoTHub Manager: ``iothub_conn_id``, the hub behind the service); a task that sets it
        may ask for cancels.
    :param registers_connection: the provider registers a connection form for ``conn_type``; ``False`` when the
        connection type belongs to another provider (AWS: the Amazon provider's ``aws``), whose form is reused.
    """

    name: str
    conn_type: str
    conn_param: str
    default_conn_id: str
    hook: str
    trigger: str
    modules: Mapping[str, tuple[str, ...]]  # "hooks" / "operators" / "sensors" / "triggers" -> module paths
    doc_url: str
    tags: tuple[str, ...] = ()
    extra_links: tuple[str, ...] = ()
    hook_params: Mapping[str, Any] = field(default_factory=dict)
    supports_cancel: bool = True
    supports_count: bool = True
    registers_connection: bool = True
    cancel_through: str | None = None

    def hook_class(self) -> type[JobsHook]:
        return import_path(self.hook)

    def trigger_class(self) -> type[JobThresholdTrigger]:
        return import_path(self.trigger)

    def check_cancel_flags(self, *, cancel_conn_id: str | None = None, **flags: bool | None) -> None:
        """Refuse, at DAG parse, a cancel this backend cannot perform (``cancel_conn_id``: the task's value of
        ``cancel_through``, which makes the cancel possible)."""
        if self.supports_cancel or cancel_conn_id:
            return
        for name, value in flags.items():
            if value:
                hint = ""
                if self.cancel_through:
                    hint = f", or set {self.cancel_through} to cancel through that connection"
                raise ValueError(
                    f"{name}: {self.name} has no way to cancel a job (its API has no cancel route); "
                    f"leave {name} unset{hint}"
                )

    @property
    def hook_param_names(self) -> tuple[str, ...]:
        return (self.conn_param, *self.hook_params)


IOTHUB = Backend(
    name="Azure IoT Hub",
    conn_type="azure_iot_hub",
    conn_param="iothub_conn_id",
    default_conn_id="azure_iot_hub_default",
    hook="airflow_iot_jobs.hooks.iothub.IoTHubHook",
    trigger="airflow_iot_jobs.triggers.iothub.IoTHubJobTrigger",
    modules={
        "hooks": ("airflow_iot_jobs.hooks.iothub",),
        "operators": ("airflow_iot_jobs.operators.iothub",),
        "sensors": ("airflow_iot_jobs.sensors.iothub",),
        "triggers": ("airflow_iot_jobs.triggers.iothub",),
    },
    doc_url="https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-jobs",
    tags=("azure",),
    extra_links=("airflow_iot_jobs.links.IoTHubJobLink",),
)

IOTCENTRAL = Backend(
    name="Azure IoT Central",
    conn_type="azure_iot_central",
    conn_param="iotcentral_conn_id",
    default_conn_id="azure_iot_central_default",
    hook="airflow_iot_jobs.hooks.iotcentral.IoTCentralHook",
    trigger="airflow_iot_jobs.triggers.iotcentral.IoTCentralJobTrigger",
    modules={
        "hooks": ("airflow_iot_jobs.hooks.iotcentral",),
        "operators": ("airflow_iot_jobs.operators.iotcentral",),
        "sensors": ("airflow_iot_jobs.sensors.iotcentral",),
        "triggers": ("airflow_iot_jobs.triggers.iotcentral",),
    },
    doc_url="https://learn.microsoft.com/azure/iot-central/core/howto-manage-jobs-with-rest-api",
    tags=("azure",),
    extra_links=("airflow_iot_jobs.links.IoTCentralJobLink",),
)

AWS_IOT = Backend(
    name="AWS IoT Jobs",
    conn_type="aws",  # the Amazon provider's connection (and form): aws_default, roles, endpoint_url
    conn_param="aws_conn_id",
    default_conn_id="aws_default",
    hook="airflow_iot_jobs.hooks.aws_iot.AwsIoTJobsHook",
    trigger="airflow_iot_jobs.triggers.aws_iot.AwsIoTJobTrigger",
    modules={
        "hooks": ("airflow_iot_jobs.hooks.aws_iot",),
        "operators": ("airflow_iot_jobs.operators.aws_iot",),
        "sensors": ("airflow_iot_jobs.sensors.aws_iot",),
        "triggers": ("airflow_iot_jobs.triggers.aws_iot",),
    },
    doc_url="https://docs.aws.amazon.com/iot/latest/developerguide/iot-jobs.html",
    tags=("aws",),
    extra_links=("airflow_iot_jobs.links.AwsIoTJobLink",),
    hook_params={"region_name": None, "verify": None, "botocore_config": None},
    registers_connection=False,
)

IOTHUB_MANAGER = Backend(
    name="Azure IoTHub Manager (Remote Monitoring)",
    conn_type="iothub_manager",
    conn_param="iothub_manager_conn_id",
    default_conn_id="iothub_manager_default",
    hook="airflow_iot_jobs.hooks.iothub_manager.IoTHubManagerHook",
    trigger="airflow_iot_jobs.triggers.iothub_manager.IoTHubManagerJobTrigger",
    modules={
        "hooks": ("airflow_iot_jobs.hooks.iothub_manager",),
        "operators": ("airflow_iot_jobs.operators.iothub_manager",),
        "sensors": ("airflow_iot_jobs.sensors.iothub_manager",),
        "triggers": ("airflow_iot_jobs.triggers.iothub_manager",),
    },
    doc_url="https://github.com/Azure/remote-monitoring-services-dotnet/tree/master/iothub-manager",
    tags=("azure",),
    # the service has no cancel route and no device count; the IoT Hub behind it, named by iothub_conn_id, has both
    hook_params={"iothub_conn_id": None},
    supports_cancel=False,
    supports_count=False,
    cancel_through="iothub_conn_id",
)

DEVICE_MANAGEMENT_API = Backend(
    name="AWS IoT Jobs through the Device Management API (cdk-iot-device-management)",
    conn_type="iot_device_management_api",
    conn_param="device_management_api_conn_id",
    default_conn_id="iot_device_management_api_default",
    hook="airflow_iot_jobs.hooks.device_management_api.DeviceManagementApiHook",
    trigger="airflow_iot_jobs.triggers.device_management_api.DeviceManagementApiJobTrigger",
    modules={
        "hooks": ("airflow_iot_jobs.hooks.device_management_api",),
        "operators": ("airflow_iot_jobs.operators.device_management_api",),
        "sensors": ("airflow_iot_jobs.sensors.device_management_api",),
        "triggers": ("airflow_iot_jobs.triggers.device_management_api",),
    },
    doc_url="https://github.com/SoftChef/cdk-iot-device-management/blob/main/docs/job-api.md",
    tags=("aws",),
    extra_links=("airflow_iot_jobs.links.DeviceManagementApiJobLink",),
    # an optional ``aws`` connection that may read thing groups: the Job API cannot list a group's things
    hook_params={"aws_conn_id": None},
)

#: the backends the provider registers with Airflow (a backend joins when it is complete)
BACKENDS: tuple[Backend, ...] = (IOTHUB, IOTCENTRAL, AWS_IOT, IOTHUB_MANAGER, DEVICE_MANAGEMENT_API)
