"""Identity export/import operators: real DAG runs against the emulator with Azurite as the blob service."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from airflow.sdk import DAG

from airflow_iot_jobs.hooks.blob_storage import BlobLocation, DeviceBlobStorage
from airflow_iot_jobs.operators.iothub import IoTHubExportDevicesOperator, IoTHubImportDevicesOperator
from airflow_iot_jobs.query.iothub import parse_condition
from tests.dag_runs import run_dag

START = datetime(2026, 1, 1, tzinfo=UTC)
STORAGE = "iot_registry_storage"
FAST = {"poll_interval": 0.3, "max_poll_interval": 1.0}


@pytest.fixture
def storage(azurite, monkeypatch):
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{STORAGE.upper()}",
        json.dumps({"conn_type": "wasb", "extra": {"connection_string": azurite.connection_string}}),
    )
    return DeviceBlobStorage(wasb_conn_id=STORAGE)


@pytest.fixture
def registry_hub(make_hub):
    return make_hub(devices=120, speed=50.0, offline_rate=0.0, max_active_jobs=5)


def dag_named(request, **kwargs) -> DAG:
    return DAG(
        dag_id=request.node.name.replace("[", "_").replace("]", ""), schedule=None, start_date=START, **kwargs
    )


def exported_records(storage: DeviceBlobStorage, xcom: dict) -> list[dict]:
    container = xcom["container_url"].rstrip("/").rsplit("/", 1)[-1]
    return list(storage.iter_records(BlobLocation(storage.container_uri(container, "rl"), xcom["blob_name"])))


def test_export_edit_import_export_round_trip(registry_hub, storage, request):
    with dag_named(request) as dag:
        IoTHubExportDevicesOperator(task_id="export", wasb_conn_id=STORAGE, container="backups", **FAST)
    first = run_dag(dag, logical_date=datetime(2026, 5, 1, tzinfo=UTC))
    assert first.state == "success", first.states
    exported = first.xcoms["export"]
    assert exported["device_count"] == 120
    assert "sig=" not in json.dumps(exported) and exported["blob_url"].endswith("/devices.txt")
    records = exported_records(storage, exported)
    assert len(records) == 120
    assert all(r["authentication"]["symmetricKey"]["primaryKey"] is None for r in records), "keys excluded"

    edits = [
        {"id": "new-gw-1", "importMode": "create", "status": "enabled", "tags": {"site": "osl"}},
        {"id": "new-gw-2", "importMode": "create", "status": "enabled", "tags": {"site": "osl"}},
        {"id": records[0]["id"], "importMode": "delete"},
        {"id": records[1]["id"], "importMode": "updateTwin", "tags": {"site": "osl"}},
    ]
    with dag_named(request) as import_dag:
        IoTHubImportDevicesOperator(
            task_id="import",
            wasb_conn_id=STORAGE,
            input_container="imports-round-trip",
            devices=edits,
            **FAST,
        )
    imported = run_dag(import_dag, logical_date=datetime(2026, 5, 2, tzinfo=UTC))
    assert imported.state == "success", imported.states
    assert imported.xcoms["import"]["lines"] == 4 and imported.xcoms["import"]["failed_lines"] == 0

    again = run_dag(dag, logical_date=datetime(2026, 5, 3, tzinfo=UTC))
    ids = {r["id"] for r in exported_records(storage, again.xcoms["export"])}
    assert again.xcoms["export"]["device_count"] == 121
    assert {"new-gw-1", "new-gw-2"} <= ids and records[0]["id"] not in ids
    assert registry_hub.state.count_devices(parse_condition("tags.site = 'osl'")) == 3


def test_import_errors_are_reported_by_line_number(registry_hub, storage, request):
    existing = "device-00001"
    lines = [
        {"id": "fresh-1", "importMode": "create"},
        {"id": existing, "importMode": "create"},  # already exists
        {"id": "fresh-2", "importMode": "create"},
        {"id": "ghost", "importMode": "delete"},  # does not exist
    ]
    with dag_named(request) as dag:
        IoTHubImportDevicesOperator(
            task_id="import",
            wasb_conn_id=STORAGE,
            input_container="imports-errors",
            devices=lines,
            success_threshold="0%",
            failure_threshold=5,
            **FAST,
        )
    result = run_dag(dag)
    assert result.state == "success", result.states
    report = result.xcoms["import"]
    assert report["failed_lines"] == 2
    assert [(f["line"], f["device_id"]) for f in report["failures"]] == [(2, existing), (4, "ghost")]
    assert all(f["code"] for f in report["failures"])


def test_import_failure_threshold_fails_the_task(registry_hub, storage, request):
    with dag_named(request) as dag:
        IoTHubImportDevicesOperator(
            task_id="import",
            wasb_conn_id=STORAGE,
            input_container="imports-threshold",
            devices=[{"id": "device-00002", "importMode": "create"}],
            failure_threshold=0,
            **FAST,
        )
    assert run_dag(dag).states["import"] == "failed"


def test_invalid_import_record_fails_before_any_request(registry_hub, storage, request):
    with dag_named(request) as dag:
        IoTHubImportDevicesOperator(
            task_id="import",
            wasb_conn_id=STORAGE,
            input_container="imports",
            devices=[{"id": "a", "importMode": "create"}, {"id": "b", "importMode": "upsert"}],
            **FAST,
        )
    result = run_dag(dag)
    assert result.states["import"] == "failed"
    assert registry_hub.request_log == []


def test_second_job_waits_for_the_slot(make_hub, storage, azurite, request):
    from airflow_iot_jobs.hooks.iothub import IoTHubHook

    registry_hub = make_hub(devices=120, speed=0.5, offline_rate=0.0)  # the blocking export lasts seconds
    hook = IoTHubHook()
    blocker = hook.create_import_export_job(
        {
            "type": "export",
            "outputBlobContainerUri": storage.container_uri("blocker", "wl"),
            "excludeKeysInExport": True,
        }
    )
    with dag_named(request) as dag:
        IoTHubExportDevicesOperator(task_id="export", wasb_conn_id=STORAGE, container="backups", **FAST)
    result = run_dag(dag)
    assert result.state == "success", result.states
    statuses = {
        (method, status) for method, path, status in registry_hub.request_log if path == "/jobs/create"
    }
    assert ("POST", 403) in statuses, "met JobQuotaExceeded first"
    assert hook.get_import_export_job(blocker["jobId"])["status"] == "completed"


def test_bad_container_surfaces_the_service_error(registry_hub, storage, azurite, request):
    bad_uri = azurite.container_url("no-such-container") + "?sv=2021-08-06&sr=c&sp=wl&sig=bm90LWEtc2ln"
    with dag_named(request) as dag:
        IoTHubExportDevicesOperator(task_id="export", container_uri=bad_uri, **FAST)
    result = run_dag(dag)
    assert result.states["export"] == "failed"
