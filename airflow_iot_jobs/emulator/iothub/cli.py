"""The ``iothub`` subcommand: IoT Hub's own flags around the shared ones, and how to start the emulator."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from airflow_iot_jobs.emulator.cli import (
    SharedParents,
    StoreExplicit,
    add_tier_argument,
    max_active_jobs,
    positive_int,
    shared_options,
)

if TYPE_CHECKING:
    from airflow_iot_jobs.emulator.iothub.server import IoTHubEmulator

HELP = "Azure IoT Hub service API (scheduled jobs, device queries)"
TIER_HELP = (
    "IoT Hub's per-minute throttles per unit, 429 ThrottlingException with Retry-After: jobs operations 100/min "
    "(F1, S1, S2) or 5000/min (S3); queries 20/min (F1, S1, S2) or 1000/min (S3); concurrent jobs 1/1/5/10"
)


def parents(shared: SharedParents) -> list[argparse.ArgumentParser]:
    hub = argparse.ArgumentParser(add_help=False)
    hub.add_argument(
        "--hub-name", default="emulated-hub", help="hub name; hostname is <name>.azure-devices.net"
    )
    hub.add_argument("--key", default=None, help="iothubowner key, base64 (default: random per start)")
    hub.add_argument(
        "--max-active-jobs",
        type=positive_int,
        default=1,
        action=StoreExplicit,
        help="concurrent scheduled jobs (default 1 = S1; with --tier, the tier's: F1 1, S1 1, S2 5, S3 10)",
    )
    add_tier_argument(hub, TIER_HELP)
    hub.add_argument(
        "--units", type=positive_int, default=1, help="the hub's units; throttles scale with them (default 1)"
    )
    access = argparse.ArgumentParser(add_help=False)
    access.add_argument(
        "--allow-bearer", action="store_true", help="accept any 'Authorization: Bearer <token>' as the owner"
    )
    access.add_argument(
        "--storage-connection-string",
        default=None,
        help="storage account (AccountName, AccountKey) the hub's managed identity may use: import/export jobs "
        "with storageAuthenticationType identityBased (default: none, such jobs are refused)",
    )
    access.add_argument(
        "--import-export-cancel-unknown",
        choices=("500", "404"),
        default="500",
        help="answer to DELETE /jobs/{unknown id}: 500 as the real service (default) or 404 JobNotFound",
    )
    # This order is the one --help has always shown.
    return [shared.listen, hub, shared.fleet, access, shared.faults]


def start(args: argparse.Namespace) -> IoTHubEmulator:
    from airflow_iot_jobs.emulator.iothub.server import IoTHubEmulator

    return IoTHubEmulator(
        hub_name=args.hub_name,
        key=args.key,
        max_active_jobs=max_active_jobs(args),
        tier=args.tier,
        units=args.units,
        allow_bearer=args.allow_bearer,
        storage_connection_string=args.storage_connection_string,
        import_export_cancel_unknown=args.import_export_cancel_unknown,
        **shared_options(args),
    ).start()
