"""Provider metadata read by Airflow's ProvidersManager (plain data: no imports beyond the stdlib)."""

from __future__ import annotations

IOTHUB_CONN_FIELDS = {
    "connection_string": {
        "label": "Connection string (alternative to Password)",
        "description": "IoT Hub connection string: HostName=…;SharedAccessKeyName=…;SharedAccessKey=…",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "endpoint_url": {
        "label": "Endpoint URL override",
        "description": "Replaces https://<HostName>, e.g. http://127.0.0.1:PORT for the local emulator or a proxy.",
        "schema": {"type": ["string", "null"], "format": "url"},
    },
    "tenant_id": {
        "label": "Entra ID tenant ID",
        "description": "Microsoft Entra ID auth (no connection string): tenant of the service principal.",
        "schema": {"type": ["string", "null"]},
    },
    "client_id": {
        "label": "Entra ID client ID",
        "description": "Service principal (or user-assigned managed identity) client ID.",
        "schema": {"type": ["string", "null"]},
    },
    "client_secret": {
        "label": "Entra ID client secret",
        "description": "Service principal secret; leave empty to use DefaultAzureCredential (managed identity, CLI…).",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "subscription_id": {
        "label": "Subscription ID (portal links)",
        "schema": {"type": ["string", "null"]},
    },
    "resource_group": {
        "label": "Resource group (portal links)",
        "schema": {"type": ["string", "null"]},
    },
}

PROVIDER_INFO: dict = {
    "package-name": "airflow-iot-jobs",
    "name": "IoT Jobs",
    "description": "Fleet-wide IoT device jobs: Azure IoT Hub scheduled device-method and twin-update jobs, "
    "with completion-threshold sensors, deferrable triggers and a local emulator.",
    "versions": ["0.1.0"],
    "integrations": [
        {
            "integration-name": "Azure IoT Hub",
            "external-doc-url": "https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-jobs",
            "tags": ["azure"],
        }
    ],
    "hooks": [
        {"integration-name": "Azure IoT Hub", "python-modules": ["airflow_iot_jobs.hooks.iothub"]},
    ],
    "operators": [
        {"integration-name": "Azure IoT Hub", "python-modules": ["airflow_iot_jobs.operators.iothub"]},
    ],
    "sensors": [
        {"integration-name": "Azure IoT Hub", "python-modules": ["airflow_iot_jobs.sensors.iothub"]},
    ],
    "triggers": [
        {"integration-name": "Azure IoT Hub", "python-modules": ["airflow_iot_jobs.triggers.iothub"]},
    ],
    "connection-types": [
        {
            "hook-class-name": "airflow_iot_jobs.hooks.iothub.IoTHubHook",
            "hook-name": "Azure IoT Hub",
            "connection-type": "azure_iot_hub",
            "ui-field-behaviour": {
                "hidden-fields": ["schema", "port", "login", "extra"],
                "relabeling": {"host": "IoT Hub host name", "password": "Connection string"},
                "placeholders": {
                    "host": "myhub.azure-devices.net (needed for Entra ID auth)",
                    "password": "HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=…",
                },
            },
            "conn-fields": IOTHUB_CONN_FIELDS,
        }
    ],
    "extra-links": ["airflow_iot_jobs.links.IoTHubJobLink"],
}
