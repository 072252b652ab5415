"""An isolated Airflow home on SQLite, and the backends' harnesses (tests/harness/): emulators on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.register_assert_rewrite("tests.harness")

from tests.harness import HARNESSES, BackendHarness, emulator_fixture  # noqa: E402

# Airflow reads its configuration at import: isolate it before anything imports airflow.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="airflow-iot-jobs-tests-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parent.parent / "example_dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"
os.environ.setdefault("IOT_JOBS_EXAMPLE_POLL_SECONDS", "0.5")

# The IoT Hub harness brings the ``make_hub`` / ``hub`` fixtures; ``tests.harness.figures`` the "reliability
# figures" section printed at the end of the session.
pytest_plugins = ["tests.azurite", "tests.harness.iothub", "tests.harness.figures"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "reliability: a case of the reliability suites (counted in the reliability figures)"
    )


@pytest.fixture(scope="session", autouse=True)
def airflow_db() -> Path:
    """A migrated SQLite metadata DB, once per session (dag.test() needs one)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    return _AIRFLOW_HOME


@pytest.fixture(scope="session", params=HARNESSES, ids=[h.name for h in HARNESSES])
def harness(request: pytest.FixtureRequest) -> BackendHarness:
    """Each backend's harness in turn: the shared suites in tests/contract/ run once per backend."""
    return request.param


@pytest.fixture
def make_emulator(harness: BackendHarness, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Start ``harness``'s emulator with the given options and point the default connection at it."""
    yield from emulator_fixture(harness, monkeypatch)


@pytest.fixture
def logs(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture):
    """What the run logged: dag.test() prints the task's own lines and hands other loggers to logging."""

    def read() -> str:
        captured = capfd.readouterr()
        return captured.out + captured.err + caplog.text

    return read
