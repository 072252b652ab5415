"""Fault injection: a server that misbehaves like a real service on a bad day, deterministically for a seed.

500 / 503 / 429 answers, connections dropped before or after the request is applied, slow answers. The
injector only *decides*; :class:`~airflow_iot_jobs.emulator.http.EmulatorHTTPServer` acts on the decision (a
reset needs the raw socket) and the backend's error factory writes the error bodies.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from airflow_iot_jobs.emulator.http import ErrorFactory, Request, Response, default_error_response

#: Every kind of fault: an error answer (``500`` server error, ``503`` unavailable, ``429`` throttled, half of
#: them with ``Retry-After: 1``); ``reset``: the connection is dropped without an answer and the request is NOT
#: applied; ``reset-after``: the request IS applied, then the connection is dropped without an answer (what makes
#: a blind retry of a create call dangerous); ``slow``: the right answer, after a delay.
FAULT_KINDS = ("500", "503", "429", "reset", "reset-after", "slow")
DEFAULT_FAULT_KINDS = ("500", "503", "429", "reset", "slow")
_FAULT_ERRORS = {
    "500": (500, "ServerError", "Injected fault: an unexpected error occurred"),
    "503": (503, "ServiceUnavailable", "Injected fault: the service is temporarily unavailable"),
    "429": (429, "ThrottlingException", "Injected fault: too many requests"),
}


def parse_fault_kinds(kinds: str | Iterable[str]) -> tuple[str, ...]:
    """``"500,503,reset"`` or an iterable of kinds (``"all"`` = every kind), validated, duplicates removed."""
    items = kinds.split(",") if isinstance(kinds, str) else list(kinds)
    chosen: list[str] = []
    for item in (str(k).strip() for k in items):
        if not item:
            continue
        for kind in FAULT_KINDS if item == "all" else (item,):
            if kind not in FAULT_KINDS:
                raise ValueError(
                    f"unknown fault kind {kind!r}; choose from {', '.join(FAULT_KINDS)} or 'all'"
                )
            if kind not in chosen:
                chosen.append(kind)
    if not chosen:
        raise ValueError("fault kinds must name at least one kind")
    return tuple(chosen)


class InjectedFault(NamedTuple):
    method: str
    path: str
    kind: str
    at: float  # time.monotonic() when the fault was decided


@dataclass(frozen=True)
class Fault:
    kind: str
    retry_after: int | None = None  # seconds, for 429 answers that carry Retry-After


class FaultInjector:
    """Decides, per request and before the app runs, whether the request fails and how.

    ``rate`` is the share of eligible requests that fail, each with a kind drawn from ``kinds``. Draws come from
    a ``random.Random`` seeded from ``seed`` (never from the time), so a client that sends the same requests in
    the same order meets the same faults. Eligible: requests for which ``applies_to`` (set by the backend, e.g.
    "the request is authenticated") is true and whose ``"METHOD /path"`` matches the regex ``match`` (searched;
    default: every request). ``script(...)`` queues faults for the next eligible requests, whatever the rate
    (``None`` in a script lets that request through). ``max_consecutive`` caps how many drawn faults come in a
    row (a bounded burst; an outage is a different test). Every injected fault is appended to ``log`` as an
    :class:`InjectedFault`.
    """

    def __init__(
        self,
        rate: float = 0.0,
        kinds: str | Iterable[str] = DEFAULT_FAULT_KINDS,
        seed: int = 0,
        *,
        delay: float = 1.0,
        match: str | None = None,
        max_consecutive: int | None = None,
        error_response: ErrorFactory | None = None,
        applies_to: Callable[[Request], bool] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(f"emulator-faults:{seed}")
        self._throttled = 0
        self._streak = 0  # faults drawn in a row (scripted ones excepted)
        self._script: deque[str | None] = deque()
        self.error_response = error_response  # None: the envelope of the app that would have answered
        self.applies_to = applies_to
        self.log: list[InjectedFault] = []
        self.rate = 0.0
        self.kinds: tuple[str, ...] = DEFAULT_FAULT_KINDS
        self.delay = 1.0
        self.match: re.Pattern[str] | None = None
        self.max_consecutive: int | None = None
        self.configure(rate=rate, kinds=kinds, delay=delay, match=match, max_consecutive=max_consecutive)

    def configure(
        self,
        *,
        rate: float | None = None,
        kinds: str | Iterable[str] | None = None,
        delay: float | None = None,
        match: str | None = None,
        max_consecutive: int | None = None,
    ) -> FaultInjector:
        """Change the settings while the server runs (``match=""`` removes the filter, ``max_consecutive=0``
        the cap)."""
        with self._lock:
            if rate is not None:
                if isinstance(rate, bool) or not 0.0 <= float(rate) <= 1.0:
                    raise ValueError(f"fault rate must be within [0, 1], got {rate!r}")
                self.rate = float(rate)
            if kinds is not None:
                self.kinds = parse_fault_kinds(kinds)
            if delay is not None:
                if not float(delay) >= 0:
                    raise ValueError(f"fault delay must be >= 0 seconds, got {delay!r}")
                self.delay = float(delay)
            if match is not None:
                self.match = re.compile(match) if match else None
            if max_consecutive is not None:
                if isinstance(max_consecutive, bool) or int(max_consecutive) < 0:
                    raise ValueError(f"max_consecutive must be >= 0, got {max_consecutive!r}")
                self.max_consecutive = int(max_consecutive) or None
        return self

    def script(self, *kinds: str | None) -> FaultInjector:
        """Inject exactly these faults, in order, into the next eligible requests (then back to ``rate``);
        ``None`` lets one request through untouched."""
        checked = [None if kind is None else parse_fault_kinds([kind])[0] for kind in kinds]
        with self._lock:
            self._script.extend(checked)
        return self

    @property
    def enabled(self) -> bool:
        return self.rate > 0 or bool(self._script)

    def counts(self) -> dict[str, int]:
        """Injected faults so far, by kind."""
        counted: dict[str, int] = {}
        for fault in list(self.log):
            counted[fault.kind] = counted.get(fault.kind, 0) + 1
        return counted

    def decide(self, request: Request) -> Fault | None:
        if not self.enabled:
            return None
        target = f"{request.method} {request.path}"
        if self.match is not None and not self.match.search(target):
            return None
        if self.applies_to is not None and not self.applies_to(request):
            return None
        with self._lock:
            if self._script:
                kind = self._script.popleft()
                if kind is None:
                    return None
            else:
                if self.rate <= 0:
                    return None
                draw, pick = self._random.random(), self._random.randrange(len(self.kinds))
                capped = self.max_consecutive is not None and self._streak >= self.max_consecutive
                if draw >= self.rate or capped:
                    self._streak = 0
                    return None
                self._streak += 1
                kind = self.kinds[pick]
            retry_after = None
            if kind == "429":
                retry_after = 1 if self._throttled % 2 == 0 else None  # every other 429 carries Retry-After
                self._throttled += 1
            self.log.append(InjectedFault(request.method, request.path, kind, time.monotonic()))
        return Fault(kind, retry_after)

    def error(self, fault: Fault, factory: ErrorFactory | None = None) -> Response:
        """The answer to an error fault, in ``error_response``'s envelope, else ``factory``'s, else the neutral
        one."""
        status, code, message = _FAULT_ERRORS[fault.kind]
        headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
        build = self.error_response or factory or default_error_response
        return build(status, code, message, headers)
