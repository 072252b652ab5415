"""Pytest plugin of the reliability suites: the session-end "reliability figures" section and the ``azurite_or_skip``
fixture (Azurite, or a skip that says why). Loaded by ``tests/conftest.py``; the cases counted are those marked
``reliability`` (the modules of the retry matrix, faults, throttling, secrets and fuzz suites, shared and
backend-only, set ``pytestmark = pytest.mark.reliability``)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness.reliability import FIGURES

pytest_plugins = ["tests.azurite"]

MARKER = "reliability"


@pytest.fixture(scope="session")
def azurite_or_skip(request: pytest.FixtureRequest) -> Any:
    """The Azurite blob service (session-wide), or skip: import/export cases need a real blob endpoint."""
    from tests.azurite import AzuriteError

    try:
        return request.getfixturevalue("azurite")
    except AzuriteError as err:
        pytest.skip(f"needs Azurite, the Azure Storage emulator (npm ci installs it): {err}")


def pytest_runtest_logreport(report: Any) -> None:
    if MARKER not in report.keywords:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
        FIGURES.outcomes[outcome] = FIGURES.outcomes.get(outcome, 0) + 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    f = FIGURES
    if not f.outcomes:
        return
    cases = sum(f.outcomes.values())
    detail = ", ".join(f"{n} {outcome}" for outcome, n in sorted(f.outcomes.items()))
    faults = ", ".join(f"{kind}: {n}" for kind, n in sorted(f.fault_counts.items())) or "none"
    terminalreporter.section("reliability figures")
    for line in (
        f"cases run: {cases} ({detail})",
        f"task instances checked for duplicate jobs: {f.task_instances_checked}; duplicate jobs found: "
        f"{f.duplicate_jobs}",
        f"fuzzed inputs tried: {f.fuzzed_inputs} (invalid ones checked: {f.invalid_inputs_checked}); "
        f"requests sent for invalid input: {f.requests_for_invalid_input} (outside the xfail cases of reported "
        f"library bugs, which sent {f.requests_in_known_bugs})",
        f"secret occurrences: {f.secret_occurrences} (in {f.secret_places_scanned} places scanned)",
        f"faults injected by the emulator: {faults}",
    ):
        terminalreporter.write_line(line)
