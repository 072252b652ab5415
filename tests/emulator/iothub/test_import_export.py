"""Import/export jobs (``POST /jobs/create``, ``GET /jobs``, ``GET|DELETE /jobs/{id}``) against real blob storage.

Written from the wire contract (§1.1, §1.2 JobProperties, §1.5, §4) and the service's documented blob formats,
not from a client: every request is plain HTTP with a SAS token, every blob goes through Azurite with real
container SAS tokens.
"""

from __future__ import annotations

import base64
import json
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from azure.iot.hub import IoTHubJobManager
from azure.iot.hub.models import JobProperties
from azure.storage.blob import ContainerClient

from airflow_iot_jobs.emulator.clock import ManualClock
from airflow_iot_jobs.emulator.iothub import IoTHubEmulator
from tests.emulator.iothub.helpers import HubClient, assert_error, method_job, sas_sdk_style

if TYPE_CHECKING:
    from tests.azurite import Azurite

pytest_plugins = ["tests.azurite"]  # the session-scoped ``azurite`` fixture

TERMINAL = ("completed", "failed", "cancelled")
EXPORT_FIELDS = ["id", "eTag", "status", "authentication", "twinETag", "tags", "properties", "capabilities"]


# -- helpers ------------------------------------------------------------------------------------------


def container_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def create_job(client: HubClient, body: dict[str, Any]) -> Any:
    return client.request("POST", "/jobs/create", json=body)


def wait_for_job(client: HubClient, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = client.request("GET", f"/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job = response.json()
        if job["status"] in TERMINAL:
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
        time.sleep(0.05)


def run_job(client: HubClient, body: dict[str, Any]) -> dict[str, Any]:
    response = create_job(client, body)
    assert response.status_code == 200, response.text
    return wait_for_job(client, response.json()["jobId"])


def read_lines(sas_url: str, blob: str) -> list[str]:
    data = ContainerClient.from_container_url(sas_url).download_blob(blob).readall()
    return data.decode("utf-8").splitlines()


def upload_lines(sas_url: str, blob: str, lines: list[Any]) -> None:
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    ContainerClient.from_container_url(sas_url).upload_blob(blob, text.encode("utf-8"), overwrite=True)


def twins(client: HubClient, where: str = "") -> dict[str, dict[str, Any]]:
    items = client.query_all("SELECT * FROM devices" + (f" WHERE {where}" if where else ""))
    return {twin["deviceId"]: twin for twin in items}


def export(client: HubClient, url: str, **extra: Any) -> list[dict[str, Any]]:
    job = run_job(client, {"type": "export", "outputBlobContainerUri": url, **extra})
    assert job["status"] == "completed", job
    return [json.loads(line) for line in read_lines(url, extra.get("outputBlobName", "devices.txt"))]


@pytest.fixture
def hub() -> Iterator[IoTHubEmulator]:
    with IoTHubEmulator(devices=40, seed=11, speed=50.0, offline_rate=0.0) as emulator:
        yield emulator


@pytest.fixture
def client(hub: IoTHubEmulator) -> HubClient:
    return HubClient(hub)


@pytest.fixture
def manual_hub() -> Iterator[IoTHubEmulator]:
    """A hub whose jobs stay enqueued until the test moves the clock."""
    with IoTHubEmulator(devices=10, seed=3, clock=ManualClock()) as emulator:
        yield emulator


# -- export -------------------------------------------------------------------------------------------


def test_export_writes_one_device_per_line_in_the_service_format(
    azurite: Azurite, hub: IoTHubEmulator, client: HubClient
) -> None:
    url = azurite.container_sas_url(container_name("export"))
    created = create_job(
        client, {"type": "export", "outputBlobContainerUri": url, "excludeKeysInExport": False}
    )
    assert created.status_code == 200, created.text
    body = created.json()
    assert uuid.UUID(body["jobId"]).version == 4  # the hub names the job
    assert (body["type"], body["status"], body["progress"]) == ("export", "enqueued", 0)
    assert body["startTimeUtc"].endswith("Z") and "endTimeUtc" not in body
    assert body["outputBlobContainerUri"] == ""  # the service does not echo the container URI (or its SAS)
    assert "sig=" not in created.text

    job = wait_for_job(client, body["jobId"])
    assert (job["status"], job["progress"], job["failureReason"]) == ("completed", 100, None)
    assert job["endTimeUtc"] >= job["startTimeUtc"]

    lines = read_lines(url, "devices.txt")
    registry = twins(client)
    assert len(lines) == len(registry) == 40
    records = [json.loads(line) for line in lines]
    assert [r["id"] for r in records] == sorted(registry)
    for line, record in zip(lines, records, strict=True):
        assert line == json.dumps(record, separators=(",", ":"), ensure_ascii=False)  # compact, one per line
        assert list(record) == EXPORT_FIELDS  # no statusReason: none is set
        twin = registry[record["id"]]
        assert record["eTag"] == twin["deviceEtag"]
        assert record["twinETag"] == twin["etag"]
        assert record["status"] == twin["status"] == "enabled"
        assert record["tags"] == twin["tags"]
        reported = {k: v for k, v in twin["properties"]["reported"].items() if not k.startswith("$")}
        assert record["properties"] == {"desired": {}, "reported": reported}
        assert record["capabilities"] == {"iotEdge": False}
        auth = record["authentication"]
        assert auth["type"] == "sas"
        assert auth["x509Thumbprint"] == {"primaryThumbprint": None, "secondaryThumbprint": None}
        keys = auth["symmetricKey"]
        assert len(base64.b64decode(keys["primaryKey"])) == len(base64.b64decode(keys["secondaryKey"])) == 32
        assert keys["primaryKey"] != keys["secondaryKey"]


def test_export_excluding_keys_writes_null_keys_to_the_named_blob(
    azurite: Azurite, client: HubClient
) -> None:
    url = azurite.container_sas_url(container_name("export"))
    records = export(client, url, excludeKeysInExport=True, outputBlobName="backups/registry.txt")
    assert len(records) == 40
    for record in records:
        assert record["authentication"]["symmetricKey"] == {"primaryKey": None, "secondaryKey": None}
        assert record["authentication"]["type"] == "sas"
    names = [blob.name for blob in ContainerClient.from_container_url(url).list_blobs()]
    assert names == ["backups/registry.txt"]


def test_device_keys_are_deterministic_per_seed(azurite: Azurite) -> None:
    def keys(seed: int) -> list[str]:
        with IoTHubEmulator(devices=5, seed=seed, speed=50.0) as emulator:
            url = azurite.container_sas_url(container_name("keys"))
            return [
                r["authentication"]["symmetricKey"]["primaryKey"] for r in export(HubClient(emulator), url)
            ]

    assert keys(4) == keys(4)
    assert keys(4) != keys(5)


def test_export_with_configurations_writes_the_configurations_blob(
    azurite: Azurite, client: HubClient
) -> None:
    url = azurite.container_sas_url(container_name("config"))
    job = run_job(client, {"type": "export", "outputBlobContainerUri": url, "includeConfigurations": True})
    assert job["status"] == "completed"
    assert (job["includeConfigurations"], job["configurationsBlobName"]) == (True, "configurations.txt")
    assert read_lines(url, "configurations.txt") == []  # the emulated hub has no configurations yet
    assert len(read_lines(url, "devices.txt")) == 40


# -- import -------------------------------------------------------------------------------------------


def test_import_applies_each_import_mode_and_logs_the_lines_it_rejects(
    azurite: Azurite, hub: IoTHubEmulator, client: HubClient
) -> None:
    url = azurite.container_sas_url(container_name("import"))
    before = twins(client)
    exported_before = {
        r["id"]: r for r in export(client, azurite.container_sas_url(container_name("before")))
    }
    etag_3, twin_etag_6 = before["device-00003"]["deviceEtag"], before["device-00006"]["etag"]
    new_key = base64.b64encode(bytes(range(32))).decode()
    lines: list[Any] = [
        {
            "id": "sensor-new-1",
            "importMode": "create",
            "status": "enabled",
            "authentication": {
                "symmetricKey": {"primaryKey": new_key, "secondaryKey": new_key},
                "type": "sas",
            },
            "tags": {"site": "lab", "ring": "canary"},
            "properties": {"desired": {"interval": 5}},
        },
        {"id": "sensor-new-2", "status": "enabled"},  # importMode defaults to createOrUpdate
        {"id": "device-00002", "importMode": "update", "status": "disabled", "statusReason": "retired"},
        {"id": "device-00003", "importMode": "updateIfMatchETag", "eTag": etag_3, "status": "disabled"},
        {"id": "device-00004", "importMode": "updateIfMatchETag", "eTag": "bm9wZQ==", "status": "disabled"},
        {"id": "device-00005", "importMode": "delete", "status": "enabled"},
        {"id": "device-00006", "importMode": "deleteIfMatchETag", "eTag": "bm9wZQ==", "status": "enabled"},
        {"id": "device-00007", "importMode": "updateTwin", "status": "enabled", "tags": {"site": "moved"}},
        {
            "id": "device-00006",
            "importMode": "updateTwinIfMatchETag",
            "twinETag": twin_etag_6,
            "status": "enabled",
            "properties": {"desired": {"telemetry": {"interval": 30}}},
        },
        {
            "id": "device-00008",
            "importMode": "updateTwinIfMatchETag",
            "twinETag": "AAAAAAAAAAk=",
            "status": "enabled",
        },
        {"id": "device-00009", "importMode": "create", "status": "enabled"},
        {"id": "ghost-device", "importMode": "delete", "status": "enabled"},
        "this is not JSON",
        {"id": "device-00010", "importMode": "merge", "status": "enabled"},
        {"id": "device-00011", "importMode": "update"},  # every line needs a status
        "",  # blank lines are skipped
    ]
    upload_lines(url, "devices.txt", lines)
    job = run_job(client, {"type": "import", "inputBlobContainerUri": url, "outputBlobContainerUri": url})
    # Per-line failures do not fail the job: they are only in importErrors.log.
    assert (job["type"], job["status"], job["progress"], job["failureReason"]) == (
        "import",
        "completed",
        100,
        None,
    )
    assert (job["inputBlobContainerUri"], job["inputBlobName"]) == ("", "devices.txt")

    errors = [json.loads(line) for line in read_lines(url, "importErrors.log")]
    assert [(e.get("deviceId"), e["errorCode"]) for e in errors] == [
        ("device-00004", 412001),  # eTag mismatch
        ("device-00006", 412001),
        ("device-00008", 412001),  # twin eTag mismatch
        ("device-00009", 409001),  # create of an existing device
        ("ghost-device", 404001),  # delete of a missing device
        (None, 400012),  # unreadable line: no device id, the line is quoted
        (None, 400012),  # unknown importMode
        ("device-00011", 400004),  # no status
    ]
    for entry in errors:
        assert list(entry)[-2:] == ["errorCode", "errorStatus"] and entry["errorStatus"]
    assert errors[5]["errorStatus"].startswith("Invalid device format in line: this is not JSON")
    assert "ImportMode" in errors[6]["errorStatus"] and '"merge"' in errors[6]["errorStatus"]

    after = twins(client)
    assert set(after) == set(before) - {"device-00005"} | {"sensor-new-1", "sensor-new-2"}
    assert len(hub.fleet) == 41
    created = after["sensor-new-1"]
    assert created["tags"] == {"site": "lab", "ring": "canary"}
    assert created["properties"]["desired"]["interval"] == 5
    assert created["status"] == "enabled"
    assert hub.identities.authentication("sensor-new-1")["symmetricKey"]["primaryKey"] == new_key
    assert after["sensor-new-2"]["tags"] == {}
    assert (after["device-00002"]["status"], after["device-00002"]["statusReason"]) == ("disabled", "retired")
    assert after["device-00002"]["deviceEtag"] != before["device-00002"]["deviceEtag"]
    assert after["device-00003"]["status"] == "disabled"
    assert after["device-00004"]["status"] == "enabled"  # rejected line left it alone
    assert after["device-00007"]["tags"] == {"site": "moved"}
    assert after["device-00007"]["etag"] != before["device-00007"]["etag"]
    assert after["device-00006"]["properties"]["desired"]["telemetry"] == {"interval": 30}
    assert after["device-00006"]["properties"]["desired"]["$version"] == 2
    # Later queries and exports see the new registry.
    assert len(client.query_all("SELECT * FROM devices WHERE tags.ring = 'canary'")) == len(
        [t for t in after.values() if t["tags"].get("ring") == "canary"]
    )
    exported = {r["id"]: r for r in export(client, azurite.container_sas_url(container_name("after")))}
    assert set(exported) == set(after)
    retired = exported["device-00002"]
    assert list(retired) == [*EXPORT_FIELDS[:3], "statusReason", *EXPORT_FIELDS[3:]]
    assert (retired["status"], retired["statusReason"]) == ("disabled", "retired")
    # An update without keys has the hub mint new ones; a line with keys sets them; others keep theirs.
    assert retired["authentication"] != exported_before["device-00002"]["authentication"]
    assert exported["sensor-new-1"]["authentication"]["symmetricKey"] == {
        "primaryKey": new_key,
        "secondaryKey": new_key,
    }
    assert exported["device-00007"]["authentication"] == exported_before["device-00007"]["authentication"]
    assert exported["device-00006"]["properties"]["desired"] == {"telemetry": {"interval": 30}}


def test_an_import_without_failures_writes_an_empty_error_log(azurite: Azurite, client: HubClient) -> None:
    name = container_name("in")
    upload_lines(azurite.container_sas_url(name), "batch.jsonl", [{"id": "batch-1", "status": "enabled"}])
    source = azurite.container_sas_url(name, permissions="r")  # the docs ask for read on the input
    target = azurite.container_sas_url(container_name("out"))
    job = run_job(
        client,
        {
            "type": "import",
            "inputBlobContainerUri": source,
            "inputBlobName": "batch.jsonl",
            "outputBlobContainerUri": target,
        },
    )
    assert job["status"] == "completed" and job["inputBlobName"] == "batch.jsonl"
    blob = ContainerClient.from_container_url(target).get_blob_client("importErrors.log")
    assert blob.get_blob_properties().size == 0
    assert "batch-1" in twins(client)


def test_an_import_whose_input_blob_is_missing_fails_with_a_reason(
    azurite: Azurite, client: HubClient
) -> None:
    url = azurite.container_sas_url(container_name("empty"))
    job = run_job(client, {"type": "import", "inputBlobContainerUri": url, "outputBlobContainerUri": url})
    assert job["status"] == "failed"
    assert "devices.txt" in job["failureReason"] and "not found" in job["failureReason"]
    assert "sig=" not in job["failureReason"]


def test_import_with_configurations_round_trips_the_configurations_blob(
    azurite: Azurite, client: HubClient
) -> None:
    url = azurite.container_sas_url(container_name("config"))
    configuration = {"id": "fw-rollout", "schemaVersion": "1.0", "priority": 10, "targetCondition": "*"}
    upload_lines(url, "devices.txt", [])
    upload_lines(url, "configs.txt", [configuration])
    job = run_job(
        client,
        {
            "type": "import",
            "inputBlobContainerUri": url,
            "outputBlobContainerUri": url,
            "includeConfigurations": True,
            "configurationsBlobName": "configs.txt",
        },
    )
    assert job["status"] == "completed", job
    out = azurite.container_sas_url(container_name("config-out"))
    run_job(client, {"type": "export", "outputBlobContainerUri": out, "includeConfigurations": True})
    assert [json.loads(line) for line in read_lines(out, "configurations.txt")] == [configuration]


def test_export_edit_import_export_round_trip(azurite: Azurite, client: HubClient) -> None:
    first = azurite.container_sas_url(container_name("first"))
    records = export(client, first)
    edited = []
    for record in records[:10]:
        record = dict(record, tags={**record["tags"], "migrated": True})
        edited.append(record)  # default importMode createOrUpdate; keys, eTags and twinETag as exported
    upload_lines(first, "devices.txt", edited)
    job = run_job(client, {"type": "import", "inputBlobContainerUri": first, "outputBlobContainerUri": first})
    assert job["status"] == "completed"
    assert read_lines(first, "importErrors.log") == []

    second = azurite.container_sas_url(container_name("second"))
    again = {record["id"]: record for record in export(client, second)}
    assert len(again) == 40
    for original in records:
        now = again[original["id"]]
        assert now["authentication"] == original["authentication"]  # explicit keys were re-imported as is
        if original["id"] in {record["id"] for record in edited}:
            assert now["tags"] == {**original["tags"], "migrated": True}
            assert now["twinETag"] != original["twinETag"] and now["eTag"] != original["eTag"]
        else:
            assert now == original


# -- quota, cancel, list ------------------------------------------------------------------------------


def test_a_second_active_import_export_job_is_403_job_quota_exceeded(
    azurite: Azurite, manual_hub: IoTHubEmulator
) -> None:
    client = HubClient(manual_hub)
    url = azurite.container_sas_url(container_name("quota"))
    first = create_job(client, {"type": "export", "outputBlobContainerUri": url})
    assert first.status_code == 200
    job_id = first.json()["jobId"]

    second = create_job(
        client, {"type": "import", "inputBlobContainerUri": url, "outputBlobContainerUri": url}
    )
    body = assert_error(second, 403, "JobQuotaExceeded")
    assert job_id in body["Message"]
    # Scheduled jobs have their own limit: they are not blocked by the import/export job.
    assert client.put_job("m1", method_job("m1")).status_code == 200

    cancelled = client.request("DELETE", f"/jobs/{job_id}")
    assert (cancelled.status_code, cancelled.content) == (204, b"")
    job = client.request("GET", f"/jobs/{job_id}").json()
    assert job["status"] == "cancelled" and "endTimeUtc" in job
    manual_hub.timeline.clock.advance(60)  # type: ignore[attr-defined]
    time.sleep(0.2)
    assert client.request("GET", f"/jobs/{job_id}").json()["status"] == "cancelled"
    assert list(ContainerClient.from_container_url(url).list_blobs()) == []  # nothing was published

    third = create_job(client, {"type": "export", "outputBlobContainerUri": url})
    assert third.status_code == 200, third.text


def test_jobs_move_from_enqueued_to_running_to_completed_with_the_clock(
    azurite: Azurite, manual_hub: IoTHubEmulator
) -> None:
    client = HubClient(manual_hub)
    clock = manual_hub.timeline.clock
    url = azurite.container_sas_url(container_name("clock"))
    job_id = create_job(client, {"type": "export", "outputBlobContainerUri": url}).json()["jobId"]
    time.sleep(0.2)
    assert client.request("GET", f"/jobs/{job_id}").json()["status"] == "enqueued"  # the clock did not move
    clock.advance(5)  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while (job := client.request("GET", f"/jobs/{job_id}").json())["status"] == "enqueued":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert job["status"] == "running"  # and stays so for one emulated second
    time.sleep(0.2)
    assert client.request("GET", f"/jobs/{job_id}").json()["status"] == "running"
    assert list(ContainerClient.from_container_url(url).list_blobs()) == []  # not published yet
    clock.advance(5)  # type: ignore[attr-defined]
    job = wait_for_job(client, job_id)
    assert (job["status"], job["progress"]) == ("completed", 100)
    assert len(read_lines(url, "devices.txt")) == 10


def test_delete_cancels_a_running_import(azurite: Azurite) -> None:
    # 2,000 lines at 20 lines per emulated second: the import runs long enough to be cancelled mid-way.
    with IoTHubEmulator(devices=5, seed=2, speed=1.0) as emulator:
        emulator.import_export.rate = 20.0
        client = HubClient(emulator)
        url = azurite.container_sas_url(container_name("cancel"))
        upload_lines(url, "devices.txt", [{"id": f"bulk-{i:05d}", "status": "enabled"} for i in range(2000)])
        job_id = create_job(
            client, {"type": "import", "inputBlobContainerUri": url, "outputBlobContainerUri": url}
        ).json()["jobId"]
        deadline = time.monotonic() + 30
        while client.request("GET", f"/jobs/{job_id}").json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert client.request("DELETE", f"/jobs/{job_id}").status_code == 204
        job = wait_for_job(client, job_id)
        assert job["status"] == "cancelled" and job["progress"] < 100 and job["failureReason"] is None
        imported = len(emulator.fleet) - 5
        time.sleep(0.3)
        assert len(emulator.fleet) - 5 == imported < 2000  # nothing more is applied after the cancel
        assert create_job(client, {"type": "export", "outputBlobContainerUri": url}).status_code == 200


def test_delete_of_an_unknown_job_is_500_or_404_by_switch(azurite: Azurite, client: HubClient) -> None:
    assert_error(client.request("DELETE", "/jobs/no-such-job"), 500, "ServerError")
    assert_error(client.request("GET", "/jobs/no-such-job"), 404, "JobNotFound")
    with IoTHubEmulator(devices=1, import_export_cancel_unknown="404") as strict:
        assert_error(HubClient(strict).request("DELETE", "/jobs/no-such-job"), 404, "JobNotFound")
    with pytest.raises(ValueError):
        IoTHubEmulator(devices=1, import_export_cancel_unknown="410")


def test_delete_of_a_finished_job_is_204_and_leaves_it_alone(azurite: Azurite, client: HubClient) -> None:
    url = azurite.container_sas_url(container_name("done"))
    job = run_job(client, {"type": "export", "outputBlobContainerUri": url})
    assert client.request("DELETE", f"/jobs/{job['jobId']}").status_code == 204
    assert client.request("GET", f"/jobs/{job['jobId']}").json() == job


def test_get_jobs_lists_every_import_export_job_as_one_array(azurite: Azurite, client: HubClient) -> None:
    assert client.request("GET", "/jobs").json() == []
    url = azurite.container_sas_url(container_name("list"))
    export_job = run_job(client, {"type": "export", "outputBlobContainerUri": url})
    import_job = run_job(
        client, {"type": "import", "inputBlobContainerUri": url, "outputBlobContainerUri": url}
    )
    response = client.request("GET", "/jobs")
    assert response.status_code == 200
    assert "x-ms-continuation" not in response.headers  # no paging
    assert response.json() == [export_job, import_job]
    # Scheduled jobs are not import/export jobs and stay on /jobs/v2.
    assert client.put_job("m2", method_job("m2")).status_code == 200
    assert [job["jobId"] for job in client.request("GET", "/jobs").json()] == [
        export_job["jobId"],
        import_job["jobId"],
    ]
    assert [job["jobId"] for job in client.request("GET", "/jobs/v2/query").json()] == ["m2"]


# -- validation on create ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("missing container", "does not exist"),
        ("bad signature", "Unauthorized to write to output blob container"),
        ("expired SAS", "Unauthorized to write to output blob container"),
        ("read-only SAS", "Unauthorized to write to output blob container"),
        ("no SAS", "Unauthorized to write to output blob container"),
        ("unreachable", "could not be reached"),
        ("not a URL", "not a valid blob container URI"),
    ],
)
def test_a_bad_output_container_is_400_blob_container_validation_error(
    azurite: Azurite, client: HubClient, case: str, fragment: str
) -> None:
    name = container_name("bad")
    good = azurite.container_sas_url(name)
    url = {
        "missing container": azurite.container_sas_url(container_name("absent"), create=False),
        "bad signature": good.replace("sig=", "sig=AAAA"),
        "expired SAS": azurite.container_sas_url(name, expiry_minutes=-1),
        "read-only SAS": azurite.container_sas_url(name, permissions="rl"),
        "no SAS": azurite.container_url(name),
        "unreachable": "http://127.0.0.1:9/devstoreaccount1/nowhere?sv=2021-08-06&sig=abc",
        "not a URL": "devices-container",
    }[case]
    started = time.monotonic()
    response = create_job(client, {"type": "export", "outputBlobContainerUri": url})
    body = assert_error(response, 400, "BlobContainerValidationError")
    assert fragment in body["Message"]
    assert "sig=" not in response.text  # the SAS never appears in the answer
    assert time.monotonic() - started < 10
    assert client.request("GET", "/jobs").json() == []  # nothing was created


def test_an_unreadable_input_container_is_400_blob_container_validation_error(
    azurite: Azurite, client: HubClient
) -> None:
    output = azurite.container_sas_url(container_name("out"))
    write_only = azurite.container_sas_url(container_name("in"), permissions="w")
    response = create_job(
        client, {"type": "import", "inputBlobContainerUri": write_only, "outputBlobContainerUri": output}
    )
    body = assert_error(response, 400, "BlobContainerValidationError")
    assert "Unauthorized to read from input blob container" in body["Message"]


@pytest.mark.parametrize(
    "body",
    [
        {"type": "backup", "outputBlobContainerUri": "https://a.blob.core.windows.net/c"},
        {"outputBlobContainerUri": "https://a.blob.core.windows.net/c"},
        {"type": "export"},
        {"type": "import", "outputBlobContainerUri": "https://a.blob.core.windows.net/c"},
        {
            "type": "export",
            "outputBlobContainerUri": "https://a.blob.core.windows.net/c",
            "excludeKeysInExport": 1,
        },
        {
            "type": "export",
            "outputBlobContainerUri": "https://a.blob.core.windows.net/c",
            "storageAuthenticationType": "sas",
        },
    ],
)
def test_malformed_job_properties_are_400(client: HubClient, body: dict[str, Any]) -> None:
    response = create_job(client, body)
    assert response.status_code == 400, response.text
    assert response.headers["iothub-errorcode"] in ("ArgumentInvalid", "GenericBadRequest")
    assert "Traceback" not in response.text


def test_identity_based_jobs_use_the_emulators_storage_credentials(
    azurite: Azurite, client: HubClient
) -> None:
    name = container_name("identity")
    azurite.container(name)
    body = {
        "type": "export",
        "outputBlobContainerUri": azurite.container_url(name),  # no SAS: the hub's identity is used
        "storageAuthenticationType": "identityBased",
        "identity": {"userAssignedIdentity": "/subscriptions/s/resourceGroups/g/providers/x/hub-identity"},
    }
    refused = assert_error(create_job(client, body), 400, "BlobContainerValidationError")
    assert "managed identity has no access" in refused["Message"]

    with IoTHubEmulator(devices=7, speed=50.0, storage_connection_string=azurite.connection_string) as hub:
        job = run_job(HubClient(hub), body)
        assert job["status"] == "completed", job
        assert "storageAuthenticationType" not in job and "identity" not in job  # not echoed
    assert len(azurite.container(name).download_blob("devices.txt").readall().splitlines()) == 7


def test_import_export_jobs_need_registry_rights(azurite: Azurite, hub: IoTHubEmulator) -> None:
    url = azurite.container_sas_url(container_name("rights"))
    expiry = int(time.time() + 3600)

    def as_policy(policy: str) -> HubClient:
        return HubClient(hub, sas_sdk_style(hub.hostname, hub.policy_keys[policy], policy, expiry))

    export_body = {"type": "export", "outputBlobContainerUri": url}
    import_body = {"type": "import", "inputBlobContainerUri": url, "outputBlobContainerUri": url}
    assert_error(create_job(as_policy("service"), export_body), 401, "IotHubUnauthorizedAccess")
    assert_error(create_job(as_policy("registryRead"), import_body), 401, "IotHubUnauthorizedAccess")
    job = run_job(as_policy("registryRead"), export_body)
    assert job["status"] == "completed"
    assert_error(
        as_policy("registryRead").request("DELETE", f"/jobs/{job['jobId']}"), 401, "IotHubUnauthorizedAccess"
    )


# -- interplay, routes, SDK, CLI --------------------------------------------------------------------------


def test_a_device_deleted_by_an_import_fails_its_row_in_a_running_scheduled_job(azurite: Azurite) -> None:
    clock = ManualClock()
    with IoTHubEmulator(devices=10, seed=5, clock=clock, offline_rate=0.0, device_rate=1.0) as emulator:
        client = HubClient(emulator)
        assert client.put_job("slow", method_job("slow", "ping")).status_code == 200
        clock.advance(1.0)  # running: rows start one per emulated second
        url = azurite.container_sas_url(container_name("interplay"))
        upload_lines(
            url, "devices.txt", [{"id": "device-00010", "importMode": "delete", "status": "enabled"}]
        )
        job_id = create_job(
            client, {"type": "import", "inputBlobContainerUri": url, "outputBlobContainerUri": url}
        ).json()["jobId"]
        clock.advance(2.0)
        deadline = time.monotonic() + 30
        while "device-00010" in emulator.fleet:  # the import ran while row 10 was still pending
            assert time.monotonic() < deadline
            time.sleep(0.05)
        clock.advance(60.0)
        assert wait_for_job(client, job_id)["status"] == "completed"
        scheduled = client.get_job("slow").json()
        assert scheduled["status"] == "completed"
        rows = {row["deviceId"]: row for row in emulator.state.device_job_rows("slow")}
        assert rows["device-00010"]["status"] == "failed"
        assert rows["device-00010"]["error"]["code"] == "DeviceNotFound"
        assert scheduled["deviceJobStatistics"]["succeededCount"] == 9


def test_scheduled_job_routes_are_untouched(client: HubClient) -> None:
    assert client.request("GET", "/jobs/v2/query").json() == []
    assert client.get_job("nope").json() == {"jobId": "nope", "type": "unknown", "status": "unknown"}
    assert client.put_job("j1", method_job("j1")).status_code == 200
    assert client.request("POST", "/jobs/v2/j1/cancel").json()["status"] == "cancelled"
    assert_error(client.request("PUT", "/jobs/create"), 405, "GenericMethodNotAllowed")


def test_azure_iot_hub_job_manager_runs_import_export_jobs(azurite: Azurite, hub: IoTHubEmulator) -> None:
    manager = IoTHubJobManager.from_connection_string(hub.connection_string)
    manager.protocol.config.base_url = hub.endpoint
    url = azurite.container_sas_url(container_name("sdk"))

    created = manager.create_import_export_job(
        JobProperties(type="export", output_blob_container_uri=url, exclude_keys_in_export=True)
    )
    assert (created.type, created.status, created.progress) == ("export", "enqueued", 0)
    assert created.exclude_keys_in_export is True and created.start_time_utc is not None
    deadline = time.monotonic() + 30
    while (job := manager.get_import_export_job(created.job_id)).status not in TERMINAL:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert (job.status, job.progress, job.failure_reason) == ("completed", 100, None)
    assert job.end_time_utc >= job.start_time_utc
    assert [j.job_id for j in manager.get_import_export_jobs()] == [created.job_id]
    assert manager.cancel_import_export_job(created.job_id) is None  # 204
    assert len(read_lines(url, "devices.txt")) == 40

    upload_lines(url, "devices.txt", [{"id": "from-sdk", "importMode": "create", "status": "enabled"}])
    imported = manager.create_import_export_job(
        JobProperties(
            type="import",
            input_blob_container_uri=url,
            output_blob_container_uri=url,
            storage_authentication_type="keyBased",
        )
    )
    deadline = time.monotonic() + 30
    while (job := manager.get_import_export_job(imported.job_id)).status not in TERMINAL:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert job.status == "completed"
    assert "from-sdk" in hub.fleet


def test_cli_passes_the_storage_options(azurite: Azurite) -> None:
    from airflow_iot_jobs.emulator.__main__ import STARTERS, build_parser

    args = build_parser().parse_args(
        [
            "iothub",
            "--devices",
            "3",
            "--storage-connection-string",
            azurite.connection_string,
            "--import-export-cancel-unknown",
            "404",
        ]
    )
    emulator = STARTERS["iothub"](args)
    try:
        client = HubClient(emulator)
        assert_error(client.request("DELETE", "/jobs/unknown"), 404, "JobNotFound")
        name = container_name("cli")
        azurite.container(name)
        body = {
            "type": "export",
            "outputBlobContainerUri": azurite.container_url(name),
            "storageAuthenticationType": "identityBased",
        }
        assert create_job(client, body).status_code == 200
    finally:
        emulator.stop()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["iothub", "--import-export-cancel-unknown", "418"])


# -- scale ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_an_export_of_100000_devices_streams_with_bounded_memory(azurite: Azurite) -> None:
    with IoTHubEmulator(devices=100_000, seed=1, speed=1_000_000.0) as emulator:
        client = HubClient(emulator)
        url = azurite.container_sas_url(container_name("large"))
        tracemalloc.start()
        try:
            job = run_job(
                client,
                {"type": "export", "outputBlobContainerUri": url},
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert job["status"] == "completed", job
    blob = ContainerClient.from_container_url(url).get_blob_client("devices.txt")
    size = blob.get_blob_properties().size
    lines = sum(chunk.count(b"\n") for chunk in blob.download_blob().chunks())
    assert lines == 100_000
    assert size > 40_000_000  # ~500 bytes a device
    # The whole file never sits in the emulator's memory: a few 4 MiB blocks at most.
    assert peak < size / 4, (peak, size)
    assert peak < 32 * 1024 * 1024, peak
