"""Figure 7 — each emulator's own ceiling: requests per second over keep-alive, and bursts of new connections.

Every emulator (``iothub``, ``iotcentral``, ``aws``, ``iothub-manager``) runs as the CLI runs it, in its own
process (``python -m airflow_iot_jobs.emulator <backend> --devices 100``, no tier, no faults), and is stopped with
its process group at the end. This process is the client, as cheap as a client gets: raw sockets sending one
pre-built authenticated request (``GET`` of a job that does not exist or of an empty job list: the app's full
path — auth, routing, state lock, error envelope — and a small answer) and reading answers by
``Content-Length``.

* **requests/s**: ``CLIENTS`` keep-alive connections, each sending the next request as soon as the answer is in,
  for ``SECONDS`` seconds; the best of the client counts. The goal is the service's highest documented rate the
  emulator can be asked to throttle at (``--tier``): the emulator must be able to serve more than it refuses.
* **connections**: bursts of ``BURSTS`` new connections opened at once, each sending one request and holding
  its connection until all are answered: the time until the last answer and how many failed (refused, reset or
  not answered within ``CONNECT_TIMEOUT``). The listen backlog is 512 (``emulator/http.py``).

Client and servers share the machine: on 2 cores, the client's CPU is part of the figure.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from benchmarks._common import ROOT, emit, row, sas_token, stop_on_signals, stop_process_group

BACKENDS = ("iothub", "iotcentral", "aws", "iothub-manager")
CLIENTS = (1, 8, 32)
SECONDS = 2.0
BURSTS = (200, 500)
CONNECT_TIMEOUT = 10.0
#: The highest rate each service's tiers throttle at (one unit), requests per second.
TOP_DOCUMENTED_RATE = {
    "iothub": (5000 / 60, "IoT Hub S3 jobs operations, 5,000/min/unit"),
    "iothub-manager": (5000 / 60, "its hub's S3 jobs operations, 5,000/min/unit"),
    "iotcentral": (20.0, "IoT Central, 20 API requests/s per application"),
    "aws": (10.0, "AWS IoT, 10 TPS per jobs API"),
}


def start(backend: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_iot_jobs.emulator", backend, "--devices", "100", "--seed", "1"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    line = process.stdout.readline()
    if not line:
        stop_process_group(process)
        raise RuntimeError(f"the {backend} emulator did not start")
    return process, json.loads(line)


def sigv4_headers(info: dict[str, Any], path: str) -> dict[str, str]:
    """A SigV4-signed ``GET`` for the ``iot`` service, signed once (the emulator allows AWS's 15 min of skew)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="GET", url=info["endpoint"] + path)
    credentials = Credentials(info["aws_access_key_id"], info["aws_secret_access_key"])
    SigV4Auth(credentials, "iot", info["region"]).add_auth(request)
    return dict(request.headers.items())


def cheap_request(backend: str, info: dict[str, Any]) -> bytes:
    """The raw bytes of one authenticated, cheap ``GET`` on ``backend``."""
    host = info["endpoint"].removeprefix("http://")
    if backend == "iothub":
        path = "/jobs/v2/bench-none?api-version=2021-04-12"
        headers = {"Authorization": sas_token(info["hostname"], info["connection_string"])}
    elif backend == "iotcentral":
        path = "/api/jobs/bench-none?api-version=2022-07-31"
        headers = {"Authorization": info["api_token"]}
    elif backend == "aws":
        path = "/jobs"
        headers = sigv4_headers(info, path)
    else:
        path = "/v1/jobs"
        headers = {}
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        *(f"{k}: {v}" for k, v in headers.items() if k != "Host"),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_answer(sock: socket.socket, buffer: bytearray) -> int:
    """Read one HTTP answer (headers + Content-Length body) from ``sock``; returns its status."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the answer")
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-answer")
        rest += chunk
    buffer[:] = rest[length:]
    return int(head.split(b" ", 2)[1])


def connect(port: int, timeout: float) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def keep_alive_rate(port: int, request: bytes, clients: int, seconds: float) -> dict[str, Any]:
    counts = [0] * clients
    errors = [0] * clients
    statuses: set[int] = set()
    stop_at = [0.0]
    ready = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        sock = connect(port, CONNECT_TIMEOUT)
        buffer = bytearray()
        ready.wait()
        try:
            while time.perf_counter() < stop_at[0]:
                sock.sendall(request)
                statuses.add(read_answer(sock, buffer))
                counts[index] += 1
        except OSError:
            errors[index] += 1
        finally:
            sock.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + 3600
    ready.wait()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    for thread in threads:
        thread.join(seconds + CONNECT_TIMEOUT)
    elapsed = time.perf_counter() - began
    return {
        "clients": clients,
        "requests": sum(counts),
        "requests_per_s": round(sum(counts) / elapsed, 1),
        "errors": sum(errors),
        "statuses": sorted(statuses),
    }


def burst(port: int, request: bytes, size: int) -> dict[str, Any]:
    """``size`` new connections at once, each one request, all held open until every answer is in."""
    answered = threading.Barrier(size + 1, timeout=CONNECT_TIMEOUT * 3)
    failures: list[str] = []
    done_at: list[float] = []
    lock = threading.Lock()
    go = threading.Event()

    def client() -> None:
        sock = None
        go.wait()
        try:
            sock = connect(port, CONNECT_TIMEOUT)
            sock.sendall(request)
            read_answer(sock, bytearray())
            with lock:
                done_at.append(time.perf_counter())
        except OSError as exc:
            with lock:
                failures.append(type(exc).__name__)
        with contextlib.suppress(threading.BrokenBarrierError):
            answered.wait()  # hold the connection until every client has its answer (or failed)
        if sock is not None:
            sock.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(size)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    go.set()
    with contextlib.suppress(threading.BrokenBarrierError):
        answered.wait()
    for thread in threads:
        thread.join(CONNECT_TIMEOUT)
    kinds: dict[str, int] = {}
    for kind in failures:
        kinds[kind] = kinds.get(kind, 0) + 1
    return {
        "connections": size,
        "answered": len(done_at),
        "failed": len(failures),
        "failures": kinds,
        "seconds_to_last_answer": round((max(done_at) - began) if done_at else float("nan"), 3),
    }


def measure(backend: str) -> dict[str, Any]:
    process, info = start(backend)
    try:
        port = info["port"]
        request = cheap_request(backend, info)
        rates = [keep_alive_rate(port, request, clients, SECONDS) for clients in CLIENTS]
        bursts = [burst(port, request, size) for size in BURSTS]
    finally:
        stop_process_group(process)
    return {"rates": rates, "bursts": bursts}


def main() -> int:
    rows = []
    for backend in BACKENDS:
        result = measure(backend)
        best = max(result["rates"], key=lambda r: r["requests_per_s"])
        rate, label = TOP_DOCUMENTED_RATE[backend]
        rows.append(
            row(
                7,
                f"{backend}: requests/s, keep-alive, best of {'/'.join(map(str, CLIENTS))} clients",
                best["requests_per_s"],
                rate,
                label,
                "≥ the rate it throttles at",
                best["requests_per_s"] >= rate and all(r["errors"] == 0 for r in result["rates"]),
                unit="req/s",
                best_clients=best["clients"],
                rates=result["rates"],
            )
        )
        for outcome in result["bursts"]:
            rows.append(
                row(
                    7,
                    f"{backend}: burst of {outcome['connections']} new connections, s to the last answer",
                    outcome["seconds_to_last_answer"],
                    None,
                    f"{outcome['failed']} failed",
                    "all answered",
                    outcome["failed"] == 0 and outcome["answered"] == outcome["connections"],
                    unit="s",
                    **outcome,
                )
            )
    emit(rows)
    return 0


if __name__ == "__main__":
    stop_on_signals()
    sys.exit(main())
