"""``python -m airflow_iot_jobs.emulator <backend> [options]``: serve one emulated backend on 127.0.0.1.

The first stdout line is one JSON object describing the running emulator (endpoint, connection string,
...); the process then serves until SIGINT or SIGTERM and exits 0.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be within [0, 1], got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_iot_jobs.emulator",
        description="Local emulators of IoT job services (loopback only).",
    )
    backends = parser.add_subparsers(dest="backend", required=True, metavar="BACKEND")
    iothub = backends.add_parser("iothub", help="Azure IoT Hub service API (scheduled jobs, device queries)")
    iothub.add_argument(
        "--port", type=_non_negative_int, default=0, help="TCP port on 127.0.0.1 (0: any free port)"
    )
    iothub.add_argument(
        "--devices", type=_non_negative_int, default=1000, help="simulated devices (default 1000)"
    )
    iothub.add_argument("--seed", type=int, default=0, help="fleet and outcome seed (default 0)")
    iothub.add_argument(
        "--hub-name", default="emulated-hub", help="hub name; hostname is <name>.azure-devices.net"
    )
    iothub.add_argument("--key", default=None, help="iothubowner key, base64 (default: random per start)")
    iothub.add_argument(
        "--max-active-jobs", type=_positive_int, default=1, help="concurrent scheduled jobs (1 = S1 tier)"
    )
    iothub.add_argument(
        "--offline-rate", type=_rate, default=0.02, help="share of offline devices (default 0.02)"
    )
    iothub.add_argument(
        "--failure-rate", type=_rate, default=0.0, help="share of method calls the device fails (default 0)"
    )
    iothub.add_argument("--speed", type=_positive_float, default=1.0, help="emulated seconds per real second")
    iothub.add_argument(
        "--allow-bearer", action="store_true", help="accept any 'Authorization: Bearer <token>' as the owner"
    )
    return parser


def _start_iothub(args: argparse.Namespace) -> Any:
    from airflow_iot_jobs.emulator.iothub.server import IoTHubEmulator

    return IoTHubEmulator(
        devices=args.devices,
        seed=args.seed,
        hub_name=args.hub_name,
        key=args.key,
        max_active_jobs=args.max_active_jobs,
        offline_rate=args.offline_rate,
        failure_rate=args.failure_rate,
        speed=args.speed,
        port=args.port,
        allow_bearer=args.allow_bearer,
    ).start()


STARTERS = {"iothub": _start_iothub}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        emulator = STARTERS[args.backend](args)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        sys.stdout.write(json.dumps(emulator.info()) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
