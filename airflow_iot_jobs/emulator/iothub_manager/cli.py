"""The ``iothub-manager`` subcommand: the service's own flags around the shared ones, and how to start it."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from airflow_iot_jobs.emulator.cli import (
    SharedParents,
    StoreExplicit,
    add_tier_argument,
    max_active_jobs,
    non_negative_int,
    positive_int,
    shared_options,
)

if TYPE_CHECKING:
    from airflow_iot_jobs.emulator.iothub_manager.server import IoTHubManagerEmulator

HELP = "Azure IoT Remote Monitoring IoTHub Manager /v1/jobs, in front of an emulated IoT Hub"


def parents(shared: SharedParents) -> list[argparse.ArgumentParser]:
    manager = argparse.ArgumentParser(add_help=False)
    manager.add_argument(
        "--auth",
        action="store_true",
        help="requests with an X-Source header need 'Authorization: Bearer <JWT>' (the first line's "
        "bearer_token); without X-Source, or without --auth, no auth",
    )
    manager.add_argument("--hub-name", default="emulated-hub", help="the fronted hub's name")
    manager.add_argument(
        "--hub-key", default=None, help="the hub's iothubowner key, base64 (default: random)"
    )
    manager.add_argument(
        "--hub-port",
        type=non_negative_int,
        default=0,
        help="TCP port of the hub's own API (0: any free port)",
    )
    manager.add_argument(
        "--max-active-jobs",
        type=positive_int,
        default=1,
        action=StoreExplicit,
        help="the hub's concurrent scheduled jobs (default 1 = S1; with --tier, the tier's)",
    )
    add_tier_argument(
        manager,
        "the fronted hub's tier (see 'iothub --help'); the manager's calls spend the hub's throttles, a "
        "throttled call is answered 500 IotHubThrottledException",
    )
    manager.add_argument("--units", type=positive_int, default=1, help="the hub's units (default 1)")
    return [shared.listen, manager, shared.fleet, shared.faults]


def start(args: argparse.Namespace) -> IoTHubManagerEmulator:
    from airflow_iot_jobs.emulator.iothub_manager.server import IoTHubManagerEmulator

    return IoTHubManagerEmulator(
        auth=args.auth,
        hub_name=args.hub_name,
        hub_key=args.hub_key,
        hub_port=args.hub_port,
        max_active_jobs=max_active_jobs(args),
        tier=args.tier,
        units=args.units,
        **shared_options(args),
    ).start()
