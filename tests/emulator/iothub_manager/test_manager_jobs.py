"""``/v1/jobs`` against a running emulator: every route, every query parameter, the shapes of JobApiModel."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from airflow_iot_jobs.emulator.clock import ManualClock
from airflow_iot_jobs.emulator.iothub_manager import IoTHubManagerEmulator
from tests.emulator.iothub.helpers import HubClient
from tests.emulator.iothub_manager.conftest import Api

HMS = re.compile(r"\d\d:\d\d:\d\d")


def _finish(clock: ManualClock, seconds: float = 120) -> None:
    clock.advance(seconds)


# -- POST /v1/jobs ------------------------------------------------------------------------------------------------


def test_post_method_job_answers_the_hubs_create_through_the_model(api: Api) -> None:
    response = api.method_job("m1")
    assert response.status_code == 200
    # The hub answers a create with jobId, type and status only; the service passes that through its model.
    assert response.json() == {"JobId": "m1", "Type": 3, "Status": 7}


def test_post_twin_job_type_4_and_the_twin_lands_on_devices(
    api: Api, manager: IoTHubManagerEmulator, clock: ManualClock
) -> None:
    response = api.twin_job("t1", {"wave": "w1"}, condition="tags.site = 'ams'")
    assert response.json() == {"JobId": "t1", "Type": 4, "Status": 7}
    _finish(clock)
    job = api.get("/v1/jobs/t1").json()
    assert job["Status"] == 3 and job["Type"] == 4
    assert job["UpdateTwin"] == {
        "ETag": "*",  # inferred: an absent ETag goes to the hub as '*'
        "Properties": {"Desired": {}, "Reported": {}},
        "Tags": {"wave": "w1"},
        "IsSimulated": False,
    }
    ams = [d for d in manager.fleet.snapshot() if d["tags"]["site"] == "ams"]
    assert ams and all(d["tags"]["wave"] == "w1" for d in ams)
    assert job["ResultStatistics"]["SucceededCount"] == len(ams)


def test_twin_job_desired_properties_reach_the_hub(api: Api, clock: ManualClock) -> None:
    body = {
        "jobId": "t2",  # Newtonsoft reads members case-insensitively
        "queryCondition": "*",
        "updateTwin": {"etag": "*", "properties": {"desired": {"interval": 5}}},
    }
    assert api.post(body).status_code == 200
    _finish(clock)
    job = api.get("/v1/jobs/t2").json()
    assert job["UpdateTwin"]["Properties"]["Desired"] == {"interval": 5}


def test_update_twin_wins_over_method_parameter(api: Api) -> None:
    body = {
        "JobId": "both",
        "QueryCondition": "*",
        "MethodParameter": {"Name": "reboot"},
        "UpdateTwin": {"Tags": {"a": 1}},
    }
    assert api.post(body).json()["Type"] == 4


def test_defaults_start_now_and_3600_seconds(api: Api, manager: IoTHubManagerEmulator) -> None:
    before = manager.timeline.now()
    api.method_job("d1")
    job = api.get("/v1/jobs/d1").json()
    assert job["MaxExecutionTimeInSeconds"] == 3600
    start = datetime.fromisoformat(job["StartTimeUtc"][:26] + "+00:00").timestamp()
    assert abs(start - before) < 1
    assert job["MethodParameter"] == {
        "Name": "reboot",
        "ResponseTimeout": "00:00:30",
        "ConnectionTimeout": "00:00:00",
    }


def test_explicit_start_max_execution_and_method_parameter(api: Api, clock: ManualClock) -> None:
    start = datetime.fromtimestamp(clock.now(), UTC) + timedelta(hours=1)
    body = {
        "JobId": "e1",
        "QueryCondition": "deviceId = 'device-00001'",
        "StartTimeUtc": start.isoformat(),
        "MaxExecutionTimeInSeconds": 120,
        "MethodParameter": {
            "Name": "firmwareUpdate",
            "ResponseTimeout": "00:01:00",
            "ConnectionTimeout": "00:00:10",
            "JsonPayload": '{"version": "2.0"}',
        },
    }
    assert api.post(body).status_code == 200
    clock.advance(1)
    job = api.get("/v1/jobs/e1").json()
    assert job["Status"] == 6  # Scheduled: starts in an hour
    assert job["MaxExecutionTimeInSeconds"] == 120
    assert job["MethodParameter"] == {
        "Name": "firmwareUpdate",
        "ResponseTimeout": "00:01:00",
        "ConnectionTimeout": "00:00:10",
        "JsonPayload": '{"version":"2.0"}',
    }
    assert job["StartTimeUtc"].startswith(start.strftime("%Y-%m-%dT%H:%M:%S"))


def test_a_body_with_neither_twin_nor_method_is_a_not_supported_500(api: Api) -> None:
    response = api.post({"JobId": "n1", "QueryCondition": "*"})
    assert response.status_code == 500
    body = response.json()
    assert body["Message"] == "An error has occurred."
    assert body["ExceptionType"] == "System.NotSupportedException"
    assert body["ExceptionMessage"] == "Specified method is not supported."
    assert "StackTrace" in body


def test_duplicate_job_id_is_a_409_conflicting_resource(api: Api) -> None:
    assert api.method_job("dup").status_code == 200
    response = api.method_job("dup")
    assert response.status_code == 409
    body = response.json()
    assert body["Message"] == "An error has occurred."
    assert body["ExceptionType"].endswith(".ConflictingResourceException")
    assert "JobAlreadyExists" in body["ExceptionMessage"]
    assert "StackTrace" not in body


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"JobId": "b1", "MethodParameter": {"Name": "reboot"}}, "queryCondition"),
        (
            {"JobId": "b2", "QueryCondition": "tags.x = ", "MethodParameter": {"Name": "reboot"}},
            "queryCondition",
        ),
        ({"JobId": "b3", "QueryCondition": "*", "MethodParameter": {}}, "methodName"),
        (
            {
                "JobId": "b4",
                "QueryCondition": "*",
                "MethodParameter": {"Name": "r", "ResponseTimeout": "00:10:00"},
            },
            "responseTimeoutInSeconds",
        ),
        (
            {"JobId": "b5", "QueryCondition": "*", "MethodParameter": {"Name": "r", "ResponseTimeout": "30"}},
            "responseTimeoutInSeconds",  # TimeSpan.Parse("30") is 30 days
        ),
        (
            {
                "JobId": "b6",
                "QueryCondition": "*",
                "MaxExecutionTimeInSeconds": 0,
                "MethodParameter": {"Name": "r"},
            },
            "maxExecution",
        ),
        (
            {"JobId": "b7", "QueryCondition": "*", "UpdateTwin": {"Properties": {"Reported": {"x": 1}}}},
            "reported",
        ),
        (
            {
                "JobId": "b8",
                "QueryCondition": "*",
                "MethodParameter": {"Name": "r", "JsonPayload": "{not json"},
            },
            "JSON",
        ),
        ({"JobId": "x" * 129, "QueryCondition": "*", "MethodParameter": {"Name": "r"}}, "Job id"),
    ],
)
def test_input_the_hub_refuses_is_a_400_argument_exception(api: Api, body: dict, needle: str) -> None:
    response = api.post(body)
    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["ExceptionType"] == "System.ArgumentException"
    assert needle in payload["ExceptionMessage"]


def test_missing_job_id_is_an_argument_null_400(api: Api) -> None:
    response = api.post({"QueryCondition": "*", "MethodParameter": {"Name": "r"}})
    assert response.status_code == 400
    assert response.json()["ExceptionType"] == "System.ArgumentNullException"


@pytest.mark.parametrize(
    "data",
    [
        b"{not json",
        b"[1, 2]",
        b'{"JobId": {"a": 1}, "MethodParameter": {"Name": "r"}}',
        b'{"StartTimeUtc": "soon"}',
    ],
)
def test_an_unreadable_body_is_a_null_reference_500(api: Api, data: bytes) -> None:
    response = api.session.post(
        api.base + "/v1/jobs", data=data, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 500
    assert response.json()["ExceptionType"] == "System.NullReferenceException"


def test_a_body_that_is_not_json_typed_is_415(api: Api) -> None:
    response = api.session.post(api.base + "/v1/jobs", data=b"{}", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415 and response.content == b""


def test_a_hub_throttle_surfaces_as_the_services_500(clock: ManualClock) -> None:
    with IoTHubManagerEmulator(devices=5, seed=1, clock=clock, max_active_jobs=1) as manager:
        api = Api(manager)
        assert api.method_job("first").status_code == 200
        response = api.method_job("second")
        assert response.status_code == 500
        body = response.json()
        assert body["ExceptionType"] == "Microsoft.Azure.Devices.Common.Exceptions.IotHubThrottledException"
        assert "ThrottlingMaxActiveJobCountExceeded" in body["ExceptionMessage"]


# -- GET /v1/jobs/{jobId} ------------------------------------------------------------------------------------------


def test_end_time_is_null_until_the_job_is_terminal(api: Api, clock: ManualClock) -> None:
    api.method_job("life")
    queued = api.get("/v1/jobs/life").json()
    assert queued["Status"] == 7 and "EndTimeUtc" not in queued
    clock.advance(0.6)
    running = api.get("/v1/jobs/life").json()
    assert running["Status"] == 2 and "EndTimeUtc" not in running
    _finish(clock)
    done = api.get("/v1/jobs/life").json()
    assert done["Status"] in (3, 4) and done["EndTimeUtc"].endswith("Z")
    stats = done["ResultStatistics"]
    assert set(stats) == {"DeviceCount", "FailedCount", "SucceededCount", "RunningCount", "PendingCount"}
    assert stats["DeviceCount"] == 30 and stats["FailedCount"] + stats["SucceededCount"] == 30


def test_device_details_and_device_job_status_filter(api: Api, clock: ManualClock) -> None:
    api.method_job("dd")
    _finish(clock)
    plain = api.get("/v1/jobs/dd").json()
    assert "Devices" not in plain
    everything = api.get("/v1/jobs/dd", includeDeviceDetails="true").json()
    devices = everything["Devices"]
    assert len(devices) == 30
    failed = [d for d in devices if d["Status"] == 4]
    assert failed, "offline devices fail a method job"
    sample = failed[0]
    assert set(sample) >= {
        "DeviceId",
        "Status",
        "StartTimeUtc",
        "EndTimeUtc",
        "CreatedDateTimeUtc",
        "LastUpdatedDateTimeUtc",
        "Error",
    }
    assert sample["Error"]["Code"] == "DeviceNotOnline" and "Description" in sample["Error"]
    succeeded = next(d for d in devices if d["Status"] == 3)
    assert succeeded["Outcome"]["Status"] == 200 and isinstance(succeeded["Outcome"]["JsonPayload"], str)
    for value in ("failed", "Failed", "4", "FAILED"):
        rows = api.get("/v1/jobs/dd", includeDeviceDetails="True", deviceJobStatus=value).json()["Devices"]
        assert [d["DeviceId"] for d in rows] == [d["DeviceId"] for d in failed]
    assert api.get("/v1/jobs/dd", includeDeviceDetails="true", deviceJobStatus="Completed").json()[
        "Devices"
    ] == [d for d in devices if d["Status"] == 3]
    assert api.get("/v1/jobs/dd", includeDeviceDetails="true", deviceJobStatus="0").json()["Devices"] == []
    # unbindable values bind nothing: no filter, or no details
    assert (
        len(api.get("/v1/jobs/dd", includeDeviceDetails="true", deviceJobStatus="bogus").json()["Devices"])
        == 30
    )
    assert "Devices" not in api.get("/v1/jobs/dd", includeDeviceDetails="1").json()
    assert (
        "Devices" not in api.get("/v1/jobs/dd", includeDeviceDetails="false", deviceJobStatus="failed").json()
    )


def test_an_unknown_job_id_is_200_with_unknown_type_and_status(api: Api) -> None:
    response = api.get("/v1/jobs/no-such-job")
    assert response.status_code == 200
    assert response.json() == {"JobId": "no-such-job", "Type": 0, "Status": 0}
    detailed = api.get("/v1/jobs/no-such-job", includeDeviceDetails="true").json()
    assert detailed == {"JobId": "no-such-job", "Type": 0, "Status": 0, "Devices": []}


def test_a_job_id_that_breaks_the_formatted_query_is_a_400(api: Api) -> None:
    response = api.get("/v1/jobs/it's", includeDeviceDetails="true")
    assert response.status_code == 400
    assert response.json()["ExceptionType"] == "System.ArgumentException"


# -- GET /v1/jobs --------------------------------------------------------------------------------------------------


def _ids(api: Api, **params: str) -> list[str]:
    response = api.get("/v1/jobs", **params)
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, list)
    return sorted(job["JobId"] for job in body)


def test_list_is_a_bare_array_of_every_job_whatever_the_page_size(api: Api) -> None:
    for index in range(7):
        api.method_job(f"p{index}")
    expected = [f"p{i}" for i in range(7)]
    assert _ids(api) == expected
    assert _ids(api, pageSize="2") == expected  # the service loops over every page
    assert _ids(api, pageSize="abc") == expected  # unbound: the hub's default
    response = api.get("/v1/jobs", pageSize="0")
    assert response.status_code == 400 and response.json()["ExceptionType"] == "System.ArgumentException"


def test_job_type_by_name_or_number_any_case(api: Api) -> None:
    api.method_job("m")
    api.twin_job("t", {"a": 1})
    for value in ("ScheduleDeviceMethod", "scheduledevicemethod", "3"):
        assert _ids(api, jobType=value) == ["m"]
    for value in ("ScheduleUpdateTwin", "4"):
        assert _ids(api, jobType=value) == ["t"]
    assert _ids(api, jobType="Unknown") == []
    assert _ids(api, jobType="9") == []  # an undefined number binds, and matches nothing
    assert _ids(api, jobType="nonsense") == ["m", "t"]  # not bindable: no filter
    assert _ids(api, jobType="") == ["m", "t"]


def test_job_status_by_name_or_number_any_case(api: Api, clock: ManualClock) -> None:
    api.method_job("done")
    _finish(clock)
    api.method_job("queued")
    assert _ids(api, jobStatus="Completed") == ["done"]
    assert _ids(api, jobStatus="completed") == ["done"]
    assert _ids(api, jobStatus="3") == ["done"]
    assert _ids(api, jobStatus="queued") == ["queued"]
    assert _ids(api, jobStatus="7") == ["queued"]
    assert _ids(api, jobStatus="Running") == []
    assert _ids(api, jobStatus="xyz") == ["done", "queued"]
    assert _ids(api, JOBSTATUS="completed") == ["done"]  # parameter names bind case-insensitively
    assert _ids(api, jobType="3", jobStatus="completed") == ["done"]


def test_from_and_to_bounds(api: Api, clock: ManualClock) -> None:
    api.method_job("old")
    clock.advance(10 * 86400)
    api.method_job("new")
    now = datetime.fromtimestamp(clock.now(), UTC)
    assert _ids(api, **{"from": "NOW-P1D"}) == ["new"]
    assert _ids(api, **{"from": "NOW-P30D"}) == ["new", "old"]
    assert _ids(api, **{"from": "NOW-P11D", "to": "NOW-P1D"}) == ["old"]
    assert _ids(api, **{"from": "NOW-PT1H"}) == ["new"]
    assert _ids(api, **{"to": "NOW-P1D"}) == ["old"]
    assert _ids(api, **{"from": "NOW+P1D"}) == []
    assert _ids(api, **{"to": "NOW"}) == ["new", "old"]
    assert _ids(api, **{"from": "NOW-P1M"}) == ["new", "old"]  # a month counts 30 days
    # Not readable as xs:duration -> default (MinValue): the seed's own "NOW-30D" filters nothing.
    assert _ids(api, **{"from": "NOW-30D"}) == ["new", "old"]
    assert _ids(api, **{"from": "NOW-P2W"}) == ["new", "old"]  # weeks are ISO 8601, not xs:duration
    assert _ids(api, **{"from": "now-P1D"}) == ["new", "old"]  # NOW is case-sensitive; "now-P1D" is no date
    assert _ids(api, **{"to": "garbage"}) == ["new", "old"]
    # date-times
    day_ago = now - timedelta(days=1)
    assert _ids(api, **{"from": day_ago.isoformat()}) == ["new"]
    assert _ids(api, **{"from": day_ago.strftime("%Y-%m-%dT%H:%M:%SZ")}) == ["new"]
    assert _ids(api, **{"to": day_ago.strftime("%a, %d %b %Y %H:%M:%S GMT")}) == ["old"]
    assert _ids(api, **{"to": day_ago.strftime("%m/%d/%Y %H:%M:%S")}) == ["old"]


def test_an_offset_past_year_9999_is_an_argument_out_of_range_400(api: Api) -> None:
    response = api.get("/v1/jobs", **{"to": "NOW+P9000Y"})
    assert response.status_code == 400
    assert response.json()["ExceptionType"] == "System.ArgumentOutOfRangeException"


def test_list_items_carry_hh_mm_ss_and_no_end_time_before_terminal(api: Api) -> None:
    api.method_job("shape", MethodParameter={"Name": "reboot", "ResponseTimeout": "00:02:00"})
    [job] = api.get("/v1/jobs").json()
    assert (
        HMS.fullmatch(job["MethodParameter"]["ResponseTimeout"])
        and job["MethodParameter"]["ResponseTimeout"] == "00:02:00"
    )
    assert "EndTimeUtc" not in job and "Devices" not in job
    assert job["CreatedTimeUtc"].endswith("Z")


# -- one state with the hub --------------------------------------------------------------------------------------


def test_a_job_posted_here_is_a_hub_job(api: Api, hub_client: HubClient, clock: ManualClock) -> None:
    api.method_job("shared", condition="tags.ring = 'canary'")
    response = hub_client.request("GET", "/jobs/v2/shared")
    assert response.status_code == 200
    hub_job = response.json()
    assert hub_job["type"] == "scheduleDeviceMethod" and hub_job["queryCondition"] == "tags.ring = 'canary'"
    assert hub_job["cloudToDeviceMethod"]["methodName"] == "reboot"
    assert hub_job["maxExecutionTimeInSeconds"] == 3600
    # cancelled on the hub (the manager has no cancel route): the manager reads Cancelled (5) with an end time
    assert hub_client.request("POST", "/jobs/v2/shared/cancel").status_code == 200
    job = api.get("/v1/jobs/shared").json()
    assert job["Status"] == 5 and "EndTimeUtc" in job


def test_a_hub_job_is_listed_here(api: Api, hub_client: HubClient, clock: ManualClock) -> None:
    body = {
        "jobId": "from-hub",
        "type": "scheduleUpdateTwin",
        "queryCondition": "*",
        "updateTwin": {"etag": "*", "tags": {"owner": "hub"}},
        "maxExecutionTimeInSeconds": 600,
    }
    assert hub_client.request("PUT", "/jobs/v2/from-hub", json=body).status_code == 200
    [job] = api.get("/v1/jobs", jobType="ScheduleUpdateTwin").json()
    assert job["JobId"] == "from-hub" and job["Type"] == 4 and job["MaxExecutionTimeInSeconds"] == 600
    assert job["UpdateTwin"]["Tags"] == {"owner": "hub"}
    # and the hub refuses a duplicate of a job the manager holds, and vice versa
    assert api.twin_job("from-hub", {"a": 1}).status_code == 409


# -- GET /v1/deviceProperties --------------------------------------------------------------------------------------


def test_device_properties_lists_whitelisted_and_fleet_names(
    api: Api, manager: IoTHubManagerEmulator
) -> None:
    response = api.get("/v1/deviceProperties")
    assert response.status_code == 200
    body = response.json()
    assert body["$metadata"] == {"$type": "DeviceProperties;1", "$url": "/v1/deviceProperties"}
    assert body["Tags"][0] == "IsSimulated" and {"site", "floor", "model", "ring"} <= set(body["Tags"])
    assert body["Reported"][:3] == ["Protocol", "SupportedMethods", "DeviceMethodStatus"]
    assert {"firmware", "telemetryIntervalSeconds"} <= set(body["Reported"])
    assert not any(name.startswith("$") for name in body["Reported"])
    manager.add_device("extra-1", tags={"building": {"wing": "east"}})
    assert "building.wing" in api.get("/v1/deviceproperties").json()["Tags"]  # routes are case-insensitive


# -- routes ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/v1/jobs/x"),
        ("POST", "/v1/jobs/x/cancel"),
        ("PUT", "/v1/jobs"),
        ("GET", "/v2/jobs"),
        ("GET", "/"),
    ],
)
def test_no_cancel_route_and_unknown_routes_are_bare_404(api: Api, method: str, path: str) -> None:
    response = api.session.request(method, api.base + path, timeout=10)
    assert response.status_code == 404 and response.content == b""


def test_trailing_slash_and_case(api: Api) -> None:
    api.method_job("c1")
    assert api.get("/V1/Jobs/").status_code == 200
    assert api.get("/v1/JOBS/c1").json()["JobId"] == "c1"
