"""Report periods: half-open intervals of UTC time read from local dates (domain, pure).

``2026Q1``, ``2026H2``, ``2026-03``, ``2026``, or ``--from``/``--to`` dates, read in the
business timezone; a period is ``[start, end)`` in aware UTC datetimes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gridflow.errors import PeriodError


@dataclass(frozen=True)
class Period:
    """A half-open interval ``[start, end)`` of aware UTC datetimes.

    ``label`` ("2026Q1", "2026-03", "2026", "2026-01-05..2026-02-10") and ``tz`` (the zone
    the local dates were read in) do not take part in equality.
    """

    start: datetime
    end: datetime
    label: str = field(default="", compare=False)
    tz: str = field(default="Asia/Shanghai", compare=False)

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value.tzinfo is None:
                raise PeriodError(f"Period.{name} must be an aware datetime")
            object.__setattr__(self, name, value.astimezone(UTC))
        if self.end <= self.start:
            raise PeriodError(f"the period ends ({self.end}) before it starts ({self.start})")

    # ---- constructors
    @classmethod
    def parse(
        cls,
        period: str | None = None,
        start: str | None = None,
        end: str | None = None,
        tz: str = "Asia/Shanghai",
        *,
        now: datetime | None = None,
    ) -> Period:
        """``"2026Q1"``, ``"2026H2"``, ``"2026-03"``, ``"2026"``; or ``start``/``end`` as dates
        (``end`` inclusive: the whole day) or ISO datetimes (``end`` exclusive), read in ``tz``.

        With ``start`` only, the period runs to ``now``; with nothing, it is the year of ``now``
        so far (``now`` defaults to the wall clock)."""
        zone = _zone(tz)
        if period and (start or end):
            raise PeriodError("give either a period (2026Q1) or --from/--to dates, not both")
        if period:
            return cls._named(period.strip(), zone)
        now = (now or datetime.now(UTC)).astimezone(UTC)
        if start is None and end is None:
            year = now.astimezone(zone).year
            p = cls.year(year, zone.key)
            return cls(p.start, max(min(p.end, now), p.start + timedelta(seconds=1)), p.label, p.tz)
        if start is None:
            raise PeriodError("--to needs --from (or give a period such as 2026Q1)")
        a = _moment(start, zone, end_of_day=False)
        b = _moment(end, zone, end_of_day=True) if end else now
        if b <= a:
            raise PeriodError(
                f"the period {start}..{end or 'now'} is empty (it ends before it starts)"
            )
        return cls(a, b, f"{start}..{end or 'now'}", zone.key)

    @classmethod
    def year(cls, year: int, tz: str = "Asia/Shanghai") -> Period:
        zone = _zone(tz)
        return cls(
            _local(date(year, 1, 1), zone), _local(date(year + 1, 1, 1), zone), str(year), zone.key
        )

    @classmethod
    def _named(cls, text: str, zone: ZoneInfo) -> Period:
        m = re.fullmatch(r"(\d{4})(?:[-]?(?:([QqHh])(\d)|(\d{1,2})))?", text)
        if not m:
            raise PeriodError(
                f"period {text!r} is not a year, half, quarter or month "
                "(e.g. 2026, 2026H1, 2026Q1, 2026-03)"
            )
        year = int(m[1])
        if m[2]:
            n, per = int(m[3]), {"q": 4, "h": 2}[m[2].lower()]
            if not 1 <= n <= per:
                raise PeriodError(f"period {text!r}: {m[2].upper()}{n} does not exist")
            months = 12 // per
            first, label = date(year, 1 + (n - 1) * months, 1), f"{year}{m[2].upper()}{n}"
            last = _add_months(first, months)
        elif m[4]:
            month = int(m[4])
            if not 1 <= month <= 12:
                raise PeriodError(f"period {text!r}: there is no month {month}")
            first, label = date(year, month, 1), f"{year}-{month:02d}"
            last = _add_months(first, 1)
        else:
            first, last, label = date(year, 1, 1), date(year + 1, 1, 1), str(year)
        return cls(_local(first, zone), _local(last, zone), label, zone.key)

    # ---- views
    def months(self) -> list[tuple[str, datetime, datetime]]:
        """The calendar months (local) overlapping the period, each clipped to it."""
        zone = _zone(self.tz)
        first = self.start.astimezone(zone).date().replace(day=1)
        out = []
        while True:
            a = max(_local(first, zone), self.start)
            nxt = _add_months(first, 1)
            b = min(_local(nxt, zone), self.end)
            if a >= self.end:
                break
            out.append((f"{first:%Y-%m}", a, b))
            first = nxt
        return out

    def as_dict(self) -> dict[str, str]:
        zone = _zone(self.tz)
        last = self.end.astimezone(zone) - timedelta(microseconds=1)
        return {
            "label": self.label,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "from": self.start.astimezone(zone).date().isoformat(),
            "to": last.date().isoformat(),  # inclusive, local
            "tz": self.tz,
        }


def _zone(tz: str | ZoneInfo) -> ZoneInfo:
    if isinstance(tz, ZoneInfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise PeriodError(f"unknown timezone {tz!r}") from None


def _local(d: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(d, time(0, 0), tzinfo=zone).astimezone(UTC)


def _add_months(d: date, n: int) -> date:
    m = d.month - 1 + n
    return date(d.year + m // 12, m % 12 + 1, 1)


def _moment(text: str, zone: ZoneInfo, *, end_of_day: bool) -> datetime:
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = date.fromisoformat(text)
            return _local(day + timedelta(days=1) if end_of_day else day, zone)
        value = datetime.fromisoformat(text)
    except ValueError:
        raise PeriodError(f"{text!r} is not a date (2026-03-31) or ISO datetime") from None
    return (value if value.tzinfo else value.replace(tzinfo=zone)).astimezone(UTC)
