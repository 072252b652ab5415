"""``make bench`` cut short (SIGTERM from ``timeout``, Ctrl-C) leaves no process behind (issue 15, item 4).

Starts ``python -m benchmarks --only 6 --quick`` (figure 6 starts Azurite, in a session of its own, from a figure
child in another), waits until Azurite runs, stops the run with a signal and checks that every process of the
run's tree — recorded while it ran — is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.azurite import EXECUTABLE

ROOT = Path(__file__).resolve().parents[1]


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _started_here(since: float) -> list[psutil.Process]:
    """Processes created since ``since`` whose command line runs from this checkout, except this test's own."""
    mine = {os.getpid(), *(p.pid for p in psutil.Process().children(recursive=True))}
    found = []
    for process in psutil.process_iter(["pid", "cmdline", "create_time"]):
        info = process.info
        if info["pid"] in mine or (info["create_time"] or 0) < since - 0.01:
            continue
        if any(str(ROOT) in part for part in info["cmdline"] or ()):
            found.append(process)
    return found


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.skipif(not EXECUTABLE.exists(), reason="Azurite is not installed (npm ci)")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_bench_stops_azurite_and_every_child(tmp_path: Path, signum: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    bench = subprocess.Popen(
        [sys.executable, "-m", "benchmarks", "--only", "6", "--quick", "--out", str(tmp_path / "r.json")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the test can always clean up the run's own group
    )
    root = psutil.Process(bench.pid)
    began = root.create_time()
    seen: dict[int, psutil.Process] = {}
    try:
        deadline = time.monotonic() + 30
        azurite = None
        while azurite is None:
            assert time.monotonic() < deadline, "Azurite never started"
            assert bench.poll() is None, "the bench ended before Azurite started"
            for process in _tree(root):
                seen.setdefault(process.pid, process)
                try:
                    if "azurite" in " ".join(process.cmdline()):
                        azurite = process
                except psutil.NoSuchProcess:
                    pass
            time.sleep(0.1)
        for process in _tree(root):  # everything running at the moment of the signal
            seen.setdefault(process.pid, process)
        assert azurite.pid in seen and len(seen) >= 3  # bench, the figure, Azurite (node)

        bench.send_signal(signum)  # to the bench alone, as `timeout` does to the command it runs
        assert bench.wait(timeout=20) != 0

        survivors = [p for p in seen.values() if _alive(p)]
        deadline = time.monotonic() + 5
        while survivors and time.monotonic() < deadline:
            time.sleep(0.1)
            survivors = [p for p in survivors if _alive(p)]
        assert survivors == [], [(p.pid, p.cmdline()) for p in survivors]
        # ... nor one the run started after the signal (a child spawned while the signal arrived)
        late = [p for p in _started_here(began) if p.pid not in seen and _alive(p)]
        assert late == [], [(p.pid, p.cmdline()) for p in late]
    finally:
        for process in seen.values():
            if _alive(process):
                process.kill()
        if bench.poll() is None:
            os.killpg(bench.pid, signal.SIGKILL)
            bench.wait()
