"""Durations as written in workflow files and on the command line: ``5wd``, ``4wh``, ``48h``.

Units:

======  ===================================================================
``wd``  working days (次日起算: counted from the day after the start; see
        ``gridflow.domain.calendar`` for the exact rule)
``wh``  working hours (only inside the working windows of working days)
``h``   calendar hours (plain elapsed time)
``d``   calendar days (plain elapsed time, 24 h each)
``m``   calendar minutes (plain elapsed time)
======  ===================================================================

The amount is a non-negative decimal (``1.5wh``). Units are case-insensitive and may be
separated from the number by spaces (``5 wd``); ``str(Duration)`` gives the canonical form
(``5wd``) and parses back to an equal value. A bare number is refused: the unit is what
decides between working time and calendar time, so it is never guessed.

Bounds: a duration's text is at most ``MAX_TEXT`` characters, and no duration is longer than
``MAX_DURATION`` (a century), compared on a *nominal* scale (:attr:`Duration.nominal_days`:
a working day spans 7/5 calendar days — five in a week of seven —, a working hour 1/7.5 of a
working day). Larger ones (``99999999wd``, a 300-digit ``h``) are a ``DurationError`` naming
the limit, never an overflow. Fields that people fill in have a tighter cap
(``fields.NAME.max``, by default ``DEFAULT_FIELD_MAX``: a year).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from gridflow.domain.suggest import did_you_mean
from gridflow.errors import DurationError

UNITS: dict[str, str] = {
    "wd": "working days",
    "wh": "working hours",
    "h": "calendar hours",
    "d": "calendar days",
    "m": "calendar minutes",
}
WORKING_UNITS = frozenset({"wd", "wh"})
_SECONDS = {"h": 3600, "d": 86400, "m": 60}

# nominal calendar days per unit (for comparing durations of different units)
_NOMINAL_DAYS = {"wd": 7 / 5, "wh": 7 / 5 / 7.5, "d": 1.0, "h": 1 / 24, "m": 1 / 1440}
MAX_TEXT = 64  # characters of a duration's text
MAX_DAYS = 36_525  # nominal days of the longest duration (a century)

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_DURATION = re.compile(rf"^\s*(-?{_NUMBER})\s*([^\d\s.].*?)?\s*$")
_FRACTION = re.compile(rf"^\s*({_NUMBER})\s*$")
_PERCENT = re.compile(rf"^\s*({_NUMBER})\s*%\s*$")


def _units_hint() -> str:
    return ", ".join(f"{u} ({name})" for u, name in UNITS.items())


def _format_amount(amount: float) -> str:
    """``5.0`` → ``"5"``, ``1.5`` → ``"1.5"``, never scientific notation."""
    if amount.is_integer():
        return str(int(amount))
    return format(Decimal(repr(amount)), "f")


@dataclass(frozen=True)
class Duration:
    """A length of time in one unit. ``amount >= 0``; ``unit`` is a key of ``UNITS``."""

    amount: float
    unit: str

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise DurationError(
                f"unknown unit {self.unit!r}{did_you_mean(self.unit, UNITS)}; use {_units_hint()}"
            )
        try:
            amount = float(self.amount)
        except (OverflowError, TypeError, ValueError):
            amount = math.nan
        if not math.isfinite(amount) or amount < 0:
            shown = str(self.amount)[:20] + ("…" if len(str(self.amount)) > 20 else "")
            raise DurationError(f"duration amount must be a finite number >= 0, not {shown}")
        object.__setattr__(self, "amount", amount)
        if self.nominal_days > MAX_DAYS:
            raise DurationError(
                f"duration {self} is longer than the longest gridflow accepts "
                f"({MAX_DAYS}d, a century)"
            )

    @property
    def nominal_days(self) -> float:
        """The length on a nominal scale of calendar days (1wd = 1.4 d, 1wh = 1/7.5 wd)."""
        return self.amount * _NOMINAL_DAYS[self.unit]

    def longer_than(self, other: Duration) -> bool:
        """Whether this duration is nominally longer than ``other`` (any units)."""
        return self.nominal_days > other.nominal_days + 1e-9

    @classmethod
    def parse(cls, text: str | int | float) -> Duration:
        """Parse ``"5wd"``, ``"4wh"``, ``"48h"``, ``"3d"``, ``"1.5wh"``, ``"30m"``.

        Raises ``DurationError`` (a ``ValueError``) with a message fit for a person (e.g.
        ``unknown unit 'wds' (did you mean 'wd'?)``). Numbers without a unit (``5``, ``"5"``)
        are refused, and so are texts over ``MAX_TEXT`` characters and durations over
        ``MAX_DURATION``.
        """
        if isinstance(text, Duration):
            return text
        if isinstance(text, bool) or not isinstance(text, (str, int, float)):
            raise DurationError(f"a duration must be text like '5wd', not {_short(text)}")
        if isinstance(text, str) and len(text) > MAX_TEXT:
            raise DurationError(
                f"duration {_short(text)} is longer than {MAX_TEXT} characters; write e.g. '5wd'"
            )
        if not isinstance(text, str) or _FRACTION.match(text):
            raise DurationError(
                f"duration {text!r} has no unit; write e.g. '{text}wd' or '{text}h' "
                f"(units: {_units_hint()})"
            )
        match = _DURATION.match(text)
        if not match or not match.group(2):
            raise DurationError(
                f"cannot read duration {text!r}: expected a number and a unit like '5wd' "
                f"(units: {_units_hint()})"
            )
        number, unit = match.group(1), match.group(2).lower()
        if unit not in UNITS:
            raise DurationError(
                f"unknown unit {match.group(2)!r} in duration {text!r}"
                f"{did_you_mean(unit, UNITS)}; use {_units_hint()}"
            )
        if number.startswith("-"):
            raise DurationError(f"duration {text!r} is negative; durations must be >= 0")
        return cls(float(number), unit)

    def __str__(self) -> str:
        return f"{_format_amount(self.amount)}{self.unit}"

    @property
    def is_working_time(self) -> bool:
        """True for ``wd``/``wh`` (needs the business calendar), False for plain clock time."""
        return self.unit in WORKING_UNITS

    def as_timedelta(self) -> timedelta:
        """Plain elapsed time for ``h``/``d``/``m``; ``ValueError`` for working-time units."""
        if self.is_working_time:
            raise DurationError(f"{self} is working time; it needs the business calendar")
        return timedelta(seconds=self.amount * _SECONDS[self.unit])


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:23] + "…"


MAX_DURATION = Duration(MAX_DAYS, "d")
DEFAULT_FIELD_MAX = Duration(366, "d")  # what a person may enter in a duration field: a year


def parse_fraction(text: str | int | float) -> float | None:
    """``"50%"`` → ``0.5``, ``"0.8"`` / ``0.8`` → ``0.8``; ``None`` when ``text`` is not a fraction.

    A bare number counts as a fraction only within 0..1 (``"2"`` → ``None``); a percentage may
    exceed 100 % (``"150%"`` → ``1.5``). Text that ends in ``%`` but is not a valid
    non-negative percentage raises ``ValueError``.
    """
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        value = float(text)
        return value if math.isfinite(value) and 0 <= value <= 1 else None
    if not isinstance(text, str):
        return None
    if match := _PERCENT.match(text):
        return float(match.group(1)) / 100
    if text.strip().endswith("%"):
        raise ValueError(f"cannot read percentage {text!r}: expected e.g. '50%'")
    if match := _FRACTION.match(text):
        value = float(match.group(1))
        return value if value <= 1 else None
    return None
