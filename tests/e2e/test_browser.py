"""A person's path through the Airflow UI: sign in (SimpleAuthManager), open the trigger form of
``iothub_fleet_command``, fill its params, trigger, and watch the run succeed. Headless Debian Chromium through
Playwright (``playwright install`` is never needed: the browser is /usr/bin/chromium from apt)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import ARTIFACTS, Deployment

CHROMIUM = Path(os.environ.get("IOT_JOBS_E2E_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DAG_ID = "iothub_fleet_command"
PARAMS = {
    "query_condition": "tags.ring = 'canary' AND tags.site = 'sea'",
    "method_name": "firmwareUpdate",
    "payload": '{"version": "3.0.0-ui"}',
    "success_threshold": "90%",
    "failure_threshold": "8%",
}


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (make e2e installs it with: apt-get install -y chromium)"
    return None


MISSING = _browser_missing()
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(300),
    # Decided before the Airflow deployment fixture starts anything.
    pytest.mark.skipif(MISSING is not None, reason=f"browser test skipped: {MISSING}"),
]


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="e2e-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=str(CHROMIUM),
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1400, "height": 1400},
                timeout=60_000,
            )
            try:
                context.set_default_timeout(30_000)
                # The payload editor (Monaco) takes a paste as is; typing would meet its auto-closing brackets.
                context.grant_permissions(["clipboard-read", "clipboard-write"])
                yield context.new_page()
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_trigger_fleet_command_from_the_ui(deployment: Deployment, page):
    airflow = deployment.airflow
    url = airflow.url
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    form_png = ARTIFACTS / "fleet-command-trigger-form.png"
    run_png = ARTIFACTS / "fleet-command-run-success.png"
    xcom_png = ARTIFACTS / "fleet-command-xcom.png"
    run_id = f"ui_e2e_{int(time.time())}"

    # Sign in on the SimpleAuthManager login page with the generated admin password.
    page.goto(f"{url}/")
    page.wait_for_url("**/auth/login**")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(airflow.admin_password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/")

    # The DAG page, its Trigger button, the params form.
    page.goto(f"{url}/dags/{DAG_ID}", wait_until="networkidle")
    page.get_by_role("button", name="Trigger").first.click()
    form = page.get_by_role("dialog")
    form.get_by_text("Run Parameters").wait_for()
    form.locator("#element_query_condition").fill(PARAMS["query_condition"])
    form.locator("#element_method_name").fill(PARAMS["method_name"])
    form.locator(".monaco-editor .view-lines").first.click()  # the payload (a JSON object param)
    page.keyboard.press("Control+A")
    page.evaluate("text => navigator.clipboard.writeText(text)", PARAMS["payload"])
    page.keyboard.press("Control+V")
    form.locator("#element_success_threshold").fill(PARAMS["success_threshold"])
    form.locator("#element_failure_threshold").fill(PARAMS["failure_threshold"])
    form.locator("#element_query_condition").click()  # leave the last field so the form settles
    form.screenshot(path=str(form_png))
    print(f"\nscreenshot of the filled trigger form: {form_png}")

    form.get_by_role("button", name="Advanced Options").click()
    form.get_by_label("Run ID").fill(run_id)
    form.get_by_role("button", name="Trigger", exact=True).click()
    page.wait_for_url(f"{url}/dags/{DAG_ID}/runs/{run_id}")

    # What the form sent is what the run got.
    run = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")
    assert run["run_type"] == "manual"
    assert run["conf"]["query_condition"] == PARAMS["query_condition"]
    assert run["conf"]["method_name"] == PARAMS["method_name"]
    assert run["conf"]["payload"] == {"version": "3.0.0-ui"}
    assert run["conf"]["success_threshold"] == PARAMS["success_threshold"]
    assert run["conf"]["failure_threshold"] == PARAMS["failure_threshold"]

    watch = airflow.watch_run(DAG_ID, run_id, timeout=180)
    assert watch.state == "success", watch.states
    assert "deferred" in watch.states["fleet_command"]

    # The finished run as the UI shows it.
    page.goto(f"{url}/dags/{DAG_ID}/runs/{run_id}", wait_until="networkidle")
    page.get_by_text("Success").first.wait_for()
    page.screenshot(path=str(run_png))
    print(f"screenshot of the finished run: {run_png}")

    page.goto(f"{url}/dags/{DAG_ID}/runs/{run_id}/tasks/fleet_command/xcom", wait_until="networkidle")
    page.get_by_text("return_value").first.wait_for()
    page.get_by_role("button", name="Expand all extra JSON").click()
    page.get_by_text('"succeeded"').first.wait_for()
    page.screenshot(path=str(xcom_png))
    print(f"screenshot of the fleet_command XCom: {xcom_png}")

    result = airflow.xcom(DAG_ID, run_id, "fleet_command")
    assert result["targeted"] == deployment.expected_devices(PARAMS["query_condition"]) > 0
    assert result["succeeded"] >= 0.9 * result["targeted"]
    updated = f"{PARAMS['query_condition']} AND properties.reported.firmware = '3.0.0-ui'"
    assert deployment.hub_count(updated) == result["succeeded"]
