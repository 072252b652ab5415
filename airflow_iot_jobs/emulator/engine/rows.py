"""The device rows of one running job, column by column, in device-id order.

Row states are small ints in a ``bytearray`` so a 1,000,000-row job stays cheap; ``counts`` is kept per state
so progress never needs a scan. The ``plan``, ``outcome`` and ``error`` columns belong to the backend: the
engine only stores them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

PENDING, RUNNING, COMPLETED, FAILED, CANCELED = range(5)
ROW_STATUS = ("pending", "running", "completed", "failed", "canceled")


class RowTable:
    def __init__(self, device_ids: list[str], created: float) -> None:
        n = len(device_ids)
        self.device_ids = device_ids
        self.created = created
        self.status = bytearray(n)  # all PENDING
        self.updated = [created] * n
        self.end = [0.0] * n
        self.plan = bytearray(n)  # how the backend decided a started row will end
        self.outcome: list[Any] = [None] * n
        self.error: list[Any] = [None] * n
        self.next_start = 0  # rows [0, next_start) have started
        self.running: list[tuple[float, int]] = []  # heap of (end, index)
        self.counts = [n, 0, 0, 0, 0]  # per ROW_STATUS

    def __len__(self) -> int:
        return len(self.device_ids)

    def set(self, index: int, status: int, when: float) -> None:
        self.counts[self.status[index]] -= 1
        self.counts[status] += 1
        self.status[index] = status
        self.updated[index] = when

    def append(self, device_id: str, when: float) -> int:
        """One more pending row at the end (a device that joins a job while it runs); returns its index."""
        self.device_ids.append(device_id)
        self.status.append(PENDING)
        self.updated.append(when)
        self.end.append(0.0)
        self.plan.append(0)
        self.outcome.append(None)
        self.error.append(None)
        self.counts[PENDING] += 1
        return len(self.device_ids) - 1

    def unfinished(self) -> Iterator[int]:
        """Indexes of the rows still pending or running."""
        for index in range(len(self.status)):
            if self.status[index] in (PENDING, RUNNING):
                yield index

    def stop(self) -> None:
        """No row starts or finishes any more (the caller has settled the unfinished ones)."""
        self.running.clear()
        self.next_start = len(self)

    @property
    def finished(self) -> bool:
        return self.counts[PENDING] == 0 and self.counts[RUNNING] == 0
