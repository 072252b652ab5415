"""Tiered throttling for the emulators: token buckets refilled continuously, and the tiers' documented limits.

Off by default (no tier: no bucket, no check). With a tier, each backend checks the bucket of a request's
operation class after authentication and answers the service's own throttling error when it is empty, with
``Retry-After`` = whole seconds until the next token (at least 1) where the service sends one.

Buckets read the emulator's clock (``Timeline.now``: wall-clock seconds, *not* scaled by ``--speed``: a real
client meets real-time limits), so a test on a :class:`~airflow_iot_jobs.emulator.clock.ManualClock` refills a
bucket by advancing the clock.

The limits (per backend, see the README's *Tiers* section):

* IoT Hub (https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-quotas-throttling), per unit: jobs
  operations (create, get, cancel; import/export jobs too) 100/min on F1, S1 and S2, 5,000/min on S3; queries
  (``POST /devices/query``, ``GET /jobs/v2/query``) 20/min on F1, S1 and S2, 1,000/min on S3; concurrent jobs 1
  (F1, S1), 5 (S2), 10 (S3), not per unit; twin reads (``GET /twins/{id}``) 100/s on F1 and S1, the greater of
  100/s or 10/s per unit on S2, 500/s per unit on S3; twin updates (``PATCH /twins/{id}``) 50/s, the greater of
  50/s or 5/s per unit, 250/s per unit. F1 has one unit.
* IoT Central (concepts-quotas-limits): 20 API requests per second per application, 5 jobs running at the same
  time; the same for every tier name (Central's limits do not depend on a plan).
* AWS IoT Jobs: 10 requests per second per control-plane jobs API, the active-jobs limit of the account; the same
  for every tier name (AWS quotas are per account, not per tier).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

TIER_NAMES = ("F1", "S1", "S2", "S3")
_EPSILON = 1e-6


class TokenBucket:
    """``capacity`` tokens, refilled continuously at ``rate`` tokens per second; one request takes one token."""

    def __init__(self, capacity: float, rate: float, now: Callable[[], float]) -> None:
        if not capacity >= 1 or not rate > 0:
            raise ValueError(f"a bucket needs capacity >= 1 and rate > 0, got {capacity!r}, {rate!r}")
        self.capacity = float(capacity)
        self.rate = float(rate)
        self._now = now
        self._tokens = float(capacity)
        self._stamp = now()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._now()
        if now > self._stamp:
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now

    @property
    def tokens(self) -> float:
        with self._lock:
            self._refill()
            return self._tokens

    def take(self) -> float | None:
        """Take a token: ``None`` if there was one, else the seconds until there is one (nothing taken)."""
        with self._lock:
            self._refill()
            if self._tokens >= 1.0 - _EPSILON:  # epoch seconds are large floats: forgive rounding
                self._tokens = max(0.0, self._tokens - 1.0)
                return None
            return (1.0 - self._tokens) / self.rate


def retry_after(wait: float) -> str:
    """A ``Retry-After`` value: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(wait - 1e-9)))


@dataclass(frozen=True)
class Limit:
    """``count`` requests per ``per`` seconds (the bucket's capacity and refill)."""

    count: float
    per: float

    def bucket(self, now: Callable[[], float]) -> TokenBucket:
        return TokenBucket(self.count, self.count / self.per, now)


class Throttle:
    """Named buckets (operation classes); :meth:`take` on a class with no bucket always succeeds."""

    def __init__(self, limits: Mapping[str, Limit], now: Callable[[], float]) -> None:
        self.limits = dict(limits)
        self.buckets = {name: limit.bucket(now) for name, limit in self.limits.items()}
        self.throttled: dict[str, int] = {}  # answers refused, by class

    def take(self, kind: str | None) -> float | None:
        bucket = None if kind is None else self.buckets.get(kind)
        if bucket is None:
            return None
        wait = bucket.take()
        if wait is not None:
            self.throttled[kind] = self.throttled.get(kind, 0) + 1  # type: ignore[index]
        return wait


def tier_limits(throttle: Throttle | None) -> dict[str, dict[str, float]]:
    """``{"throttles": {class: {"count": n, "per_seconds": s}}}`` for the first output line."""
    if throttle is None:
        return {}
    return {
        "throttles": {
            name: {"count": lim.count, "per_seconds": lim.per} for name, lim in throttle.limits.items()
        }
    }


def check_tier(tier: str | None) -> str | None:
    if tier is None:
        return None
    name = str(tier).strip().upper()
    if name not in TIER_NAMES:
        raise ValueError(f"tier must be one of {', '.join(TIER_NAMES)}, got {tier!r}")
    return name


# -- IoT Hub --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HubTier:
    name: str
    jobs_per_minute: int  # per unit
    queries_per_minute: int  # per unit
    max_concurrent_jobs: int  # per hub
    max_units: int | None = None
    #: twin reads / updates per second: (per hub at least, per unit): "the greater of 100/sec or 10/sec/unit"
    twin_reads_per_second: tuple[int, int] = (100, 0)
    twin_updates_per_second: tuple[int, int] = (50, 0)


HUB_TIERS: dict[str, HubTier] = {
    "F1": HubTier("F1", 100, 20, 1, max_units=1),
    "S1": HubTier("S1", 100, 20, 1),
    "S2": HubTier("S2", 100, 20, 5, twin_reads_per_second=(100, 10), twin_updates_per_second=(50, 5)),
    "S3": HubTier("S3", 5000, 1000, 10, twin_reads_per_second=(0, 500), twin_updates_per_second=(0, 250)),
}


def hub_tier(tier: str | None, units: int = 1) -> HubTier | None:
    name = check_tier(tier)
    if isinstance(units, bool) or int(units) < 1:
        raise ValueError(f"units must be >= 1, got {units!r}")
    if name is None:
        return None
    chosen = HUB_TIERS[name]
    if chosen.max_units is not None and units > chosen.max_units:
        raise ValueError(f"a {name} hub has at most {chosen.max_units} unit(s), got {units}")
    return chosen


def hub_throttle(tier: HubTier, units: int, now: Callable[[], float]) -> Throttle:
    return Throttle(
        {
            "jobs": Limit(tier.jobs_per_minute * units, 60.0),
            "queries": Limit(tier.queries_per_minute * units, 60.0),
            "twin_reads": Limit(
                max(tier.twin_reads_per_second[0], tier.twin_reads_per_second[1] * units), 1.0
            ),
            "twin_updates": Limit(
                max(tier.twin_updates_per_second[0], tier.twin_updates_per_second[1] * units), 1.0
            ),
        },
        now,
    )


# -- IoT Central ----------------------------------------------------------------------------------------------

CENTRAL_REQUESTS_PER_SECOND = 20
CENTRAL_MAX_ACTIVE_JOBS = 5


def central_throttle(now: Callable[[], float]) -> Throttle:
    return Throttle({"requests": Limit(CENTRAL_REQUESTS_PER_SECOND, 1.0)}, now)


# -- AWS IoT Jobs ---------------------------------------------------------------------------------------------

AWS_JOBS_TPS = 10
#: The active (IN_PROGRESS) jobs a tiered AWS emulator allows, as issue 15 states the account default.
AWS_MAX_ACTIVE_JOBS = 100
#: The control-plane jobs APIs the tier throttles (each its own bucket of ``AWS_JOBS_TPS`` per second).
AWS_THROTTLED_OPERATIONS = (
    "AssociateTargetsWithJob",
    "CancelJob",
    "CancelJobExecution",
    "CreateJob",
    "CreateJobTemplate",
    "DeleteJob",
    "DeleteJobExecution",
    "DeleteJobTemplate",
    "DescribeJob",
    "DescribeJobExecution",
    "DescribeJobTemplate",
    "GetJobDocument",
    "ListJobExecutionsForJob",
    "ListJobExecutionsForThing",
    "ListJobTemplates",
    "ListJobs",
    "UpdateJob",
)


def aws_throttle(now: Callable[[], float]) -> Throttle:
    return Throttle({name: Limit(AWS_JOBS_TPS, 1.0) for name in AWS_THROTTLED_OPERATIONS}, now)
