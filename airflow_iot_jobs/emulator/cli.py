"""The emulator command line: flags every backend shares, and the registry of backends.

The shared flags live in three parent parsers (``add_help=False``) so they mean the same on every backend:
``listen`` (--port --devices --seed), ``fleet`` (--offline-rate --failure-rate --speed) and ``faults``
(--fault-*). A backend's subcommand takes them through ``parents=[...]``, interleaved with its own parents
where its help has always listed them in that order, and turns them into :class:`Emulator` keywords with
:func:`shared_options`. A new backend adds one :class:`Backend` to :data:`BACKENDS`.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_iot_jobs.emulator.faults import DEFAULT_FAULT_KINDS, parse_fault_kinds


def rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be within [0, 1], got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def tier_name(text: str) -> str:
    from airflow_iot_jobs.emulator.throttle import check_tier

    try:
        return check_tier(text)  # type: ignore[return-value]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class StoreExplicit(argparse.Action):
    """Store the value and remember it was given (``<dest>_given``): a ``--tier`` changes only defaults."""

    def __call__(
        self, parser: Any, namespace: argparse.Namespace, values: Any, option_string: Any = None
    ) -> None:
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_given", True)


def max_active_jobs(args: argparse.Namespace) -> int | None:
    """``--max-active-jobs`` for the emulator: as given; its default without ``--tier``; None (the tier's) with."""
    if getattr(args, "max_active_jobs_given", False) or getattr(args, "tier", None) is None:
        return args.max_active_jobs
    return None


def add_tier_argument(parser: argparse.ArgumentParser, meaning: str) -> None:
    """``--tier F1|S1|S2|S3`` (default: none, no throttling); ``meaning`` says what a tier does on the backend."""
    parser.add_argument(
        "--tier",
        type=tier_name,
        default=None,
        metavar="{F1,S1,S2,S3}",
        help=f"throttle like the service (default: no throttling): {meaning}",
    )


def fault_kinds(text: str) -> str:
    try:
        return ",".join(parse_fault_kinds(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def fault_match(text: str) -> str:
    try:
        re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"not a valid regular expression: {exc}") from None
    return text


@dataclass(frozen=True)
class SharedParents:
    listen: argparse.ArgumentParser
    fleet: argparse.ArgumentParser
    faults: argparse.ArgumentParser


def shared_parents() -> SharedParents:
    listen = argparse.ArgumentParser(add_help=False)
    listen.add_argument(
        "--port", type=non_negative_int, default=0, help="TCP port on 127.0.0.1 (0: any free port)"
    )
    listen.add_argument(
        "--devices", type=non_negative_int, default=1000, help="simulated devices (default 1000)"
    )
    listen.add_argument("--seed", type=int, default=0, help="fleet and outcome seed (default 0)")

    fleet = argparse.ArgumentParser(add_help=False)
    fleet.add_argument(
        "--offline-rate", type=rate, default=0.02, help="share of offline devices (default 0.02)"
    )
    fleet.add_argument(
        "--failure-rate", type=rate, default=0.0, help="share of method calls the device fails (default 0)"
    )
    fleet.add_argument("--speed", type=positive_float, default=1.0, help="emulated seconds per real second")

    faults = argparse.ArgumentParser(add_help=False)
    faults.add_argument(
        "--fault-rate",
        type=rate,
        default=0.0,
        help="share of authenticated requests that fail (default 0: none); deterministic for --seed",
    )
    faults.add_argument(
        "--fault-kinds",
        type=fault_kinds,
        default=",".join(DEFAULT_FAULT_KINDS),
        help="comma-separated faults to draw from: 500, 503, 429 (half with Retry-After: 1), reset (dropped, "
        "not applied), reset-after (applied, then dropped), slow (answered after --fault-delay); 'all' = every "
        f"kind (default {','.join(DEFAULT_FAULT_KINDS)})",
    )
    faults.add_argument(
        "--fault-delay",
        type=non_negative_float,
        default=1.0,
        help="seconds a 'slow' fault waits (default 1)",
    )
    faults.add_argument(
        "--fault-max-consecutive",
        type=non_negative_int,
        default=0,
        help="never more than this many faults in a row (default 0: no cap)",
    )
    faults.add_argument(
        "--fault-match",
        type=fault_match,
        default=None,
        help="only requests whose 'METHOD /path' matches this regex can fail (default: every request)",
    )
    return SharedParents(listen, fleet, faults)


def shared_options(args: argparse.Namespace) -> dict[str, Any]:
    """The shared flags as :class:`~airflow_iot_jobs.emulator.base.Emulator` keywords."""
    return {
        "devices": args.devices,
        "seed": args.seed,
        "offline_rate": args.offline_rate,
        "failure_rate": args.failure_rate,
        "speed": args.speed,
        "port": args.port,
        "fault_rate": args.fault_rate,
        "fault_kinds": args.fault_kinds,
        "fault_delay": args.fault_delay,
        "fault_match": args.fault_match,
        "fault_max_consecutive": args.fault_max_consecutive or None,
    }


@dataclass(frozen=True)
class Backend:
    help: str
    #: The subcommand's parents, in help order: the shared ones plus the backend's own.
    parents: Callable[[SharedParents], list[argparse.ArgumentParser]]
    #: Builds and starts the emulator from the parsed flags (imports the backend lazily).
    start: Callable[[argparse.Namespace], Any]


def _iothub() -> Backend:
    from airflow_iot_jobs.emulator.iothub import cli

    return Backend(cli.HELP, cli.parents, cli.start)


def _iotcentral() -> Backend:
    from airflow_iot_jobs.emulator.iotcentral import cli

    return Backend(cli.HELP, cli.parents, cli.start)


def _aws() -> Backend:
    from airflow_iot_jobs.emulator.aws import cli

    return Backend(cli.HELP, cli.parents, cli.start)


def _iothub_manager() -> Backend:
    from airflow_iot_jobs.emulator.iothub_manager import cli

    return Backend(cli.HELP, cli.parents, cli.start)


#: name -> how to load its :class:`Backend` (cheap: the backend's server is imported only by ``start``).
BACKENDS: dict[str, Callable[[], Backend]] = {
    "iothub": _iothub,
    "iotcentral": _iotcentral,
    "aws": _aws,
    "iothub-manager": _iothub_manager,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_iot_jobs.emulator",
        description="Local emulators of IoT job services (loopback only).",
    )
    subcommands = parser.add_subparsers(dest="backend", required=True, metavar="BACKEND")
    shared = shared_parents()
    for name, load in BACKENDS.items():
        backend = load()
        subcommands.add_parser(name, help=backend.help, parents=backend.parents(shared))
    return parser


def start(args: argparse.Namespace) -> Any:
    return BACKENDS[args.backend]().start(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        emulator = start(args)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        info = emulator.info()
        sys.stdout.write(json.dumps(info) + "\n")
        for name, value in info.get("airflow_env", {}).items():
            # ready to paste: the connection a DAG needs, pointed at this emulator
            sys.stdout.write(f"export {name}={shlex.quote(value)}\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0
