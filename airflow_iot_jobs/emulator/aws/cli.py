"""The ``aws`` subcommand: AWS's own flags around the shared ones, and how to start the emulator."""

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
    from airflow_iot_jobs.emulator.aws.server import AwsIoTEmulator

HELP = "AWS IoT Jobs: control plane (jobs, job templates, things, thing groups) and the iot-jobs-data plane"


def parents(shared: SharedParents) -> list[argparse.ArgumentParser]:
    aws = argparse.ArgumentParser(add_help=False)
    aws.add_argument(
        "--things",
        dest="devices",
        type=int,
        default=argparse.SUPPRESS,
        help="simulated things thing-00000... (the same as --devices)",
    )
    aws.add_argument("--region", default="us-east-1", help="the region clients sign for (default us-east-1)")
    aws.add_argument("--account-id", default="123456789012", help="12-digit account id in ARNs")
    aws.add_argument("--access-key-id", default=None, help="the access key id (default: random per start)")
    aws.add_argument("--secret-access-key", default=None, help="its secret (default: random per start)")
    aws.add_argument(
        "--max-active-jobs",
        type=positive_int,
        default=1000,
        action=StoreExplicit,
        help="IN_PROGRESS jobs the account may have; CreateJob past it is LimitExceededException (default 1000; "
        "with --tier 100)",
    )
    add_tier_argument(
        aws,
        "the account's default quotas, the same for every tier name: 10 requests per second per control-plane "
        "jobs API (ThrottlingException) and 100 active jobs",
    )
    aws.add_argument(
        "--device-management-auth",
        choices=("none", "iam", "cognito"),
        default="none",
        help="authorization of the softchef Job API under /device-management/prod: none (the construct's "
        "default), iam (SigV4 for execute-api with the emulator's key) or cognito (the ID token printed as "
        "device_management_id_token, in Authorization)",
    )
    return [shared.listen, aws, shared.fleet, shared.faults]


def start(args: argparse.Namespace) -> AwsIoTEmulator:
    from airflow_iot_jobs.emulator.aws.server import AwsIoTEmulator

    options = shared_options(args)
    things = options.pop("devices")
    if things < 0:
        raise ValueError("--things must be >= 0")
    return AwsIoTEmulator(
        things=things,
        region=args.region,
        account_id=args.account_id,
        aws_access_key_id=args.access_key_id,
        aws_secret_access_key=args.secret_access_key,
        max_active_jobs=max_active_jobs(args),
        tier=args.tier,
        device_management_auth=args.device_management_auth,
        **options,
    ).start()
