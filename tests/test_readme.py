"""The README and the package metadata say what the package does (issue 10, points 2, 4, 8, 9, 11, 12)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"\n## {title}")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def test_first_screen_gives_exactly_the_two_commands():
    first_screen = README[: README.index("\n---")]
    commands = re.findall(r"^make \w+", first_screen, flags=re.M)
    assert commands == ["make demo", "make test"]


def test_one_threshold_rule_and_no_contradiction():
    text = section("Completion thresholds")
    assert "a string ending in `%` is a share" in text
    assert "is a **count of devices**" in text
    assert "`95 %` or `95 devices`" in text
    assert '"95"` raises' not in README and 'like `"95"`' not in README
    assert "**Operators** wait for the job" in text and "the **sensor** succeeds as soon as" in text
    assert "a running job that already\n  meets it is a success" not in README


def test_failure_result_key_and_new_parameters_are_documented():
    operators = section("Operators")
    assert "`job_result`" in operators and 'key="job_result"' in operators
    for name in ("allow_no_devices", "dry_run", "device_ids", "max_devices"):
        assert f"`{name}`" in operators, name
    assert "`max_devices`, `method_name`" in operators  # listed among the templated fields
    assert "rendered-template view shows the job id" in operators
    assert "… and N more (see XCom failed_devices)" in operators


def test_links_say_what_they_open():
    assert "the portal has no page per job" in section("Operators")


def test_local_set_up_is_spelled_out():
    text = section("Local set-up, step by step")
    assert "airflow db migrate" in text
    assert "npx azurite-blob" in text and "devstoreaccount1" in text
    assert "AIRFLOW_CONN_IOT_REGISTRY_STORAGE" in text and "`wasb`" in text
    emulator = section("Emulator")
    assert "--key <base64>" in emulator and "--port 8765" in emulator
    assert "ready to paste" in emulator
    for value in (
        "ams",
        "sea",
        "sgp",
        "fra",
        "gw-100",
        "canary",
        "1.4.2",
        "firmwareUpdate",
        '{"version": "1.5.0"}',
    ):
        assert value in emulator, value


def test_adding_a_backend_names_the_files_and_the_one_registration_place():
    text = section("Development")
    assert "### Adding a backend" in text
    assert "`get_provider_info()` is built from `BACKENDS`" in text
    for path in (
        "hooks/<backend>.py",
        "operators/<backend>.py",
        "emulator/<backend>/",
        "tests/harness/<backend>.py",
    ):
        assert path in text, path


def test_package_metadata_claims_only_what_is_in_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert all(
        name in project["description"]
        for name in ("IoT Hub", "IoT Central", "AWS IoT Jobs", "IoTHub Manager", "Device Management API")
    )
    assert {"Documentation", "Source", "Issues"} <= set(project["urls"])
    from airflow_iot_jobs.provider_info import PROVIDER_INFO

    assert [i["integration-name"] for i in PROVIDER_INFO["integrations"]] == [
        "Azure IoT Hub",
        "Azure IoT Central",
        "AWS IoT Jobs",
        "Azure IoTHub Manager (Remote Monitoring)",
        "AWS IoT Jobs through the Device Management API (cdk-iot-device-management)",
    ]
