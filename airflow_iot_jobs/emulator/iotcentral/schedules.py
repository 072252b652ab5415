"""When a scheduled job runs: the occurrences of a ``JobSchedule`` on the emulator's timeline.

Occurrence ``k`` is ``start`` plus ``k`` days, weeks or calendar months (``recurrence``; none: only ``k = 0``),
in *emulated* time, so ``--speed 86400`` runs a daily job every real second: its real instant is
``start + emulated_offset / speed``. ``end`` stops it after ``occurrences`` runs, or after the last occurrence
falling on or before ``date`` (UTC, emulated).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from airflow_iot_jobs.emulator.clock import Timeline, parse_iso

_PERIOD_DAYS = {"daily": 1, "weekly": 7}
MAX_SKIPPED = 100_000  # occurrences skipped at most when a schedule starts far in the past
#: Inferred: a first occurrence up to a minute old (a DAG that says "start now") still runs, at once.
FIRST_GRACE_SECONDS = 60.0


def _add_months(moment: datetime, months: int) -> datetime:
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


@dataclass(frozen=True)
class Schedule:
    start: float  # epoch seconds
    recurrence: str | None
    end_occurrences: int | None
    end_date: date | None

    @classmethod
    def from_json(cls, schedule: dict[str, Any]) -> Schedule:
        end = schedule.get("end") or {}
        return cls(
            start=parse_iso(schedule["start"]),
            recurrence=schedule.get("recurrence"),
            end_occurrences=end.get("occurrences") if end.get("type") == "occurrences" else None,
            end_date=date.fromisoformat(end["date"]) if end.get("type") == "date" else None,
        )

    def emulated(self, k: int) -> datetime:
        """Occurrence ``k`` in emulated time."""
        first = datetime.fromtimestamp(self.start, tz=UTC)
        if self.recurrence == "monthly":
            return _add_months(first, k)
        return first + timedelta(days=k * _PERIOD_DAYS.get(self.recurrence or "daily", 1))

    def occurrence(self, k: int, timeline: Timeline) -> float | None:
        """The real instant of occurrence ``k``, or None when the schedule has ended before it."""
        if k > 0 and self.recurrence is None:
            return None
        if self.end_occurrences is not None and k >= self.end_occurrences:
            return None
        moment = self.emulated(k)
        if self.end_date is not None and moment.date() > self.end_date:
            return None
        return self.start + timeline.real(moment.timestamp() - self.start)

    def first_from(self, now: float, timeline: Timeline) -> int:
        """The first occurrence at or after ``now`` (past ones are skipped, not run late)."""
        k = 0
        while k < MAX_SKIPPED:
            when = self.occurrence(k, timeline)
            if when is None or when >= now - (FIRST_GRACE_SECONDS if k == 0 else 0.0):
                return k
            k += 1
        return k
