"""Emulated AWS IoT Jobs: ``python -m airflow_iot_jobs.emulator aws``.

Command line::

    python -m airflow_iot_jobs.emulator aws --port 0 --things 200 --seed 7 --region us-east-1 \\
        [--offline-rate 0.02] [--failure-rate 0.1] [--speed 60] [--max-active-jobs 1000] \\
        [--access-key-id AKIA... --secret-access-key ...] [--account-id 123456789012] \\
        [--fault-rate 0.05 --fault-kinds 429,500 ...]

The first stdout line is one JSON object (``service`` "aws", ``endpoint``, ``region``, ``account_id``,
``aws_access_key_id``, ``aws_secret_access_key``, ``airflow_env`` with ``AIRFLOW_CONN_AWS_DEFAULT``: an Amazon
provider ``aws`` connection, login = key id, password = secret, extra ``region_name`` and ``endpoint_url``); the
second is that connection as an ``export`` line. It binds 127.0.0.1 only. In Python:
``AwsIoTEmulator(things=..., seed=..., region=..., speed=..., clock=..., max_active_jobs=..., fault_*=...)``.

One endpoint serves both planes: ``iot`` (jobs, job executions, job templates, things, thing groups) and
``iot-jobs-data`` (the device side). Their paths collide, so the SigV4 credential scope's service
(``iot`` / ``iot-jobs-data``, botocore's ``signingName``) picks the plane. Every request must be signed for a
known key (``UnrecognizedClientException``) with the right secret (``InvalidSignatureException``); the check is
botocore's own signer run again on the received request.

From botocore's service models (``iot`` 2015-05-28, ``iot-jobs-data`` 2017-09-29), not typed by hand: every
route (method, ``requestUri``), where each input member is read (uri / querystring / header / body), the
constraints checked (required, min/max, pattern, enum: ``InvalidRequestException`` with AWS's validation
message), the output shapes written, and error statuses (``ResourceNotFoundException`` 404,
``ResourceAlreadyExistsException`` 409, ``LimitExceededException`` 410, ``InvalidStateTransitionException`` 409,
``ConflictException`` 409, ``ThrottlingException`` 400 in iot / 429 in iot-jobs-data, ...). Job statuses are
AWS's ``JobStatus`` (IN_PROGRESS, SCHEDULED, COMPLETED, CANCELED, DELETION_IN_PROGRESS), never moto's QUEUED.

The fleet: ``--things N`` simulated things ``thing-00000``... from the shared fleet, attributes ``site``,
``floor``, ``model``, ``ring``, ``firmware``; groups ``fleet`` > ``site-<site>`` (nested), ``model-<model>``,
``ring-<ring>``. A simulated online thing runs its executions itself (QUEUED -> IN_PROGRESS -> SUCCEEDED /
FAILED / REJECTED / TIMED_OUT after a latency, on the shared job engine); an offline one never picks them up.
A thing created with ``CreateThing`` is not simulated: a client runs its executions through the jobs data plane.
What a simulated thing does with a document: see :meth:`models.AwsIoTState.run_document`.

Modelled: rollout rates (``maximumPerMinute``, ``exponentialRate``), ``abortConfig`` (job CANCELED with a
reason), ``timeoutConfig`` (TIMED_OUT), ``jobExecutionsRetryConfig`` (new ``executionNumber``),
``schedulingConfig`` (SCHEDULED until ``startTime``; ``endBehavior`` at ``endTime``), SNAPSHOT jobs COMPLETED
when every execution is terminal, CONTINUOUS jobs (things joining a target group later get executions, leaving
ones REMOVED), cancel / force-cancel, delete (DELETION_IN_PROGRESS, then gone), ``jobProcessDetails`` counted
from the executions, the active-jobs limit, ``nextToken`` paging on every list. Inferred where AWS documents
nothing: see README.md next to this file.

Layers, moto-style: ``wire`` (botocore models: routes, input, constraints, output), ``sigv4``, ``errors``,
``things`` (registry), ``policies`` (AWS rollout/abort rules for the shared engine), ``models`` (state),
``responses`` (the two apps), ``server`` (``AwsIoTEmulator``), ``cli`` (the subcommand).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_iot_jobs.emulator.aws.server import AwsIoTEmulator

__all__ = ["AwsIoTEmulator"]


def __getattr__(name: str) -> Any:
    if name == "AwsIoTEmulator":
        from airflow_iot_jobs.emulator.aws.server import AwsIoTEmulator

        return AwsIoTEmulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
