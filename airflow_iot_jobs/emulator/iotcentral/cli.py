"""The ``iotcentral`` subcommand: IoT Central's own flags around the shared ones, and how to start the emulator."""

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
    from airflow_iot_jobs.emulator.iotcentral.server import IoTCentralEmulator

HELP = "Azure IoT Central data-plane API 2022-07-31 (jobs, scheduled jobs, device groups)"


def parents(shared: SharedParents) -> list[argparse.ArgumentParser]:
    app = argparse.ArgumentParser(add_help=False)
    app.add_argument(
        "--app-subdomain", default="emulated-app", help="application subdomain (<name>.azureiotcentral.com)"
    )
    app.add_argument(
        "--max-active-jobs",
        type=positive_int,
        default=5,
        action=StoreExplicit,
        help="jobs running at the same time (default 5, IoT Central's limit)",
    )
    add_tier_argument(
        app,
        "IoT Central's per-application limits, the same for every tier name: 20 API requests per second "
        "(429 TooManyRequests with Retry-After) and 5 running jobs",
    )
    app.add_argument(
        "--allow-bearer", action="store_true", help="also accept any 'Authorization: Bearer <token>'"
    )
    return [shared.listen, app, shared.fleet, shared.faults]


def start(args: argparse.Namespace) -> IoTCentralEmulator:
    from airflow_iot_jobs.emulator.iotcentral.server import IoTCentralEmulator

    return IoTCentralEmulator(
        app_subdomain=args.app_subdomain,
        max_active_jobs=max_active_jobs(args),
        tier=args.tier,
        allow_bearer=args.allow_bearer,
        **shared_options(args),
    ).start()
