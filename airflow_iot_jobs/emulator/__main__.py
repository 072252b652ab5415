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

from airflow_iot_jobs.emulator.http import DEFAULT_FAULT_KINDS


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


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _fault_kinds(text: str) -> str:
    from airflow_iot_jobs.emulator.http import parse_fault_kinds

    try:
        return ",".join(parse_fault_kinds(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _fault_match(text: str) -> str:
    import re

    try:
        re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"not a valid regular expression: {exc}") from None
    return text


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
    iothub.add_argument(
        "--storage-connection-string",
        default=None,
        help="storage account (AccountName, AccountKey) the hub's managed identity may use: import/export jobs "
        "with storageAuthenticationType identityBased (default: none, such jobs are refused)",
    )
    iothub.add_argument(
        "--import-export-cancel-unknown",
        choices=("500", "404"),
        default="500",
        help="answer to DELETE /jobs/{unknown id}: 500 as the real service (default) or 404 JobNotFound",
    )
    iothub.add_argument(
        "--fault-rate",
        type=_rate,
        default=0.0,
        help="share of authenticated requests that fail (default 0: none); deterministic for --seed",
    )
    iothub.add_argument(
        "--fault-kinds",
        type=_fault_kinds,
        default=",".join(DEFAULT_FAULT_KINDS),
        help="comma-separated faults to draw from: 500, 503, 429 (half with Retry-After: 1), reset (dropped, "
        "not applied), reset-after (applied, then dropped), slow (answered after --fault-delay); 'all' = every "
        f"kind (default {','.join(DEFAULT_FAULT_KINDS)})",
    )
    iothub.add_argument(
        "--fault-delay",
        type=_non_negative_float,
        default=1.0,
        help="seconds a 'slow' fault waits (default 1)",
    )
    iothub.add_argument(
        "--fault-max-consecutive",
        type=_non_negative_int,
        default=0,
        help="never more than this many faults in a row (default 0: no cap)",
    )
    iothub.add_argument(
        "--fault-match",
        type=_fault_match,
        default=None,
        help="only requests whose 'METHOD /path' matches this regex can fail (default: every request)",
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
        storage_connection_string=args.storage_connection_string,
        import_export_cancel_unknown=args.import_export_cancel_unknown,
        fault_rate=args.fault_rate,
        fault_kinds=args.fault_kinds,
        fault_delay=args.fault_delay,
        fault_match=args.fault_match,
        fault_max_consecutive=args.fault_max_consecutive or None,
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
