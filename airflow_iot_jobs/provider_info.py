"""Provider metadata read by Airflow's ProvidersManager (plain data: no imports beyond the stdlib)."""

from __future__ import annotations

_TEXT = {"type": ["string", "null"]}
_SECRET = {"type": ["string", "null"], "format": "password"}


def endpoint_field(replaces: str) -> dict:
    return {
        "endpoint_url": {
            "label": "Endpoint URL override",
            "description": f"Replaces {replaces}, e.g. http://127.0.0.1:PORT for the local emulator or a proxy.",
            "schema": {"type": ["string", "null"], "format": "url"},
        }
    }


def entra_fields(instead_of: str) -> dict:
    """Microsoft Entra ID: the same three fields on every Azure backend's form."""
    return {
        "tenant_id": {
            "label": "Entra ID tenant ID",
            "description": f"Microsoft Entra ID auth (no {instead_of}): tenant of the service principal.",
            "schema": _TEXT,
        },
        "client_id": {
            "label": "Entra ID client ID",
            "description": "Service principal (or user-assigned managed identity) client ID.",
            "schema": _TEXT,
        },
        "client_secret": {
            "label": "Entra ID client secret",
            "description": "Service principal secret; leave empty to use DefaultAzureCredential (managed identity, CLI…).",
            "schema": _SECRET,
        },
    }


IOTHUB_CONN_FIELDS = {
    "connection_string": {
        "label": "Connection string (alternative to Password)",
        "description": "IoT Hub connection string: HostName=…;SharedAccessKeyName=…;SharedAccessKey=…",
        "schema": _SECRET,
    },
    **endpoint_field("https://<HostName>"),
    **entra_fields("connection string"),
    "subscription_id": {"label": "Subscription ID (portal links)", "schema": _TEXT},
    "resource_group": {"label": "Resource group (portal links)", "schema": _TEXT},
}

IOTCENTRAL_CONN_FIELDS = {
    "base_domain": {
        "label": "Base domain",
        "description": "azureiotcentral.com unless the application lives in another cloud.",
        "schema": _TEXT,
    },
    **endpoint_field("https://<subdomain>.<base domain>"),
    **entra_fields("API token"),
}

IOTHUB_MANAGER_CONN_FIELDS = {
    "headers": {
        "label": "Extra headers (JSON)",
        "description": 'Sent with every request, e.g. {"Ocp-Apim-Subscription-Key": "…"}; values of headers named '
        "like a key, token or secret are masked in logs.",
        "schema": {"type": ["string", "null"]},
    },
    "x_source": {
        "label": "X-Source header value",
        "description": "Sent with the bearer token, as the solution's reverse proxy does (default: external).",
        "schema": _TEXT,
    },
}

DEVICE_MANAGEMENT_API_CONN_FIELDS = {
    "auth": {
        "label": "Auth (none, iam or cognito)",
        "description": "none: the construct's default (an open API); iam: SigV4 for execute-api (keys in Login / "
        "Password, or an aws connection below, or boto3's default chain); cognito: the ID token in Password.",
        "schema": _TEXT,
    },
    "region": {
        "label": "Region (iam)",
        "description": "The region the API is in; read from an execute-api host name when empty.",
        "schema": _TEXT,
    },
    "aws_conn_id": {
        "label": "AWS connection for iam credentials",
        "description": "An aws connection whose credentials (keys, role) sign the requests when Login is empty.",
        "schema": _TEXT,
    },
    "headers": IOTHUB_MANAGER_CONN_FIELDS["headers"],
}

#: each backend's connection form, by connection type
CONNECTION_FORMS: dict[str, dict] = {
    "azure_iot_hub": {
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "login", "extra"],
            "relabeling": {"host": "IoT Hub host name", "password": "Connection string"},
            "placeholders": {
                "host": "myhub.azure-devices.net (needed for Entra ID auth)",
                "password": "HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=…",
            },
        },
        "conn-fields": IOTHUB_CONN_FIELDS,
    },
    "azure_iot_central": {
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "login", "extra"],
            "relabeling": {"host": "Application (subdomain or host name)", "password": "API token"},
            "placeholders": {
                "host": "myapp or myapp.azureiotcentral.com",
                "password": "SharedAccessSignature sr=…&sig=…&skn=…&se=…",
            },
        },
        "conn-fields": IOTCENTRAL_CONN_FIELDS,
    },
    "iothub_manager": {
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "login", "extra"],
            "relabeling": {"host": "Service base URL", "password": "Bearer token (JWT, optional)"},
            "placeholders": {
                "host": "http://remote-monitoring:9002 or https://<solution>.azurewebsites.net/iothubmanager",
                "password": "eyJ… (empty: no auth, as inside the solution's network)",
            },
        },
        "conn-fields": IOTHUB_MANAGER_CONN_FIELDS,
    },
    "iot_device_management_api": {
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "extra"],
            "relabeling": {
                "host": "Job API base URL (with its stage)",
                "login": "AWS access key id (iam, optional)",
                "password": "Secret access key (iam) or Cognito ID token",
            },
            "placeholders": {
                "host": "https://<api-id>.execute-api.<region>.amazonaws.com/prod",
                "password": "empty for auth none",
            },
        },
        "conn-fields": DEVICE_MANAGEMENT_API_CONN_FIELDS,
    },
}


def build_provider_info() -> dict:
    """Airflow's provider metadata, assembled from :data:`airflow_iot_jobs.backends.BACKENDS`."""
    from airflow_iot_jobs.backends import BACKENDS

    def per_backend(kind: str) -> list[dict]:
        return [
            {"integration-name": b.name, "python-modules": list(b.modules[kind])}
            for b in BACKENDS
            if b.modules.get(kind)
        ]

    return {
        "package-name": "airflow-iot-jobs",
        "name": "IoT Jobs",
        "description": "Fleet-wide IoT device jobs: "
        + ", ".join(b.name for b in BACKENDS)
        + " — operators, completion-threshold sensors, deferrable triggers and a local emulator.",
        "versions": ["0.1.0"],
        "integrations": [
            {"integration-name": b.name, "external-doc-url": b.doc_url, "tags": list(b.tags)}
            for b in BACKENDS
        ],
        "hooks": per_backend("hooks"),
        "operators": per_backend("operators"),
        "sensors": per_backend("sensors"),
        "triggers": per_backend("triggers"),
        "connection-types": [
            {
                "hook-class-name": b.hook,
                "hook-name": b.name,
                "connection-type": b.conn_type,
                **CONNECTION_FORMS[b.conn_type],
            }
            for b in BACKENDS
            if b.registers_connection  # e.g. AWS reuses the Amazon provider's ``aws`` connection and form
        ],
        "extra-links": [link for b in BACKENDS for link in b.extra_links],
    }


PROVIDER_INFO: dict = build_provider_info()
