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
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from gridflow.domain.suggest import did_you_mean

UNITS: dict[str, str] = {
    "wd": "working days",
    "wh": "working hours",
    "h": "calendar hours",
    "d": "calendar days",
    "m": "calendar minutes",
}
WORKING_UNITS = frozenset({"wd", "wh"})
_SECONDS = {"h": 3600, "d": 86400, "m": 60}

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
            raise ValueError(
                f"unknown unit {self.unit!r}{did_you_mean(self.unit, UNITS)}; use {_units_hint()}"
            )
        amount = float(self.amount)
        if not math.isfinite(amount) or amount < 0:
            raise ValueError(f"duration amount must be a finite number >= 0, not {self.amount!r}")
        object.__setattr__(self, "amount", amount)

    @classmethod
    def parse(cls, text: str | int | float) -> Duration:
        """Parse ``"5wd"``, ``"4wh"``, ``"48h"``, ``"3d"``, ``"1.5wh"``, ``"30m"``.

        Raises ``ValueError`` with a message fit for a person (e.g. ``unknown unit 'wds' (did
        you mean 'wd'?)``). Numbers without a unit (``5``, ``"5"``) are refused.
        """
        if isinstance(text, Duration):
            return text
        if isinstance(text, bool) or not isinstance(text, (str, int, float)):
            raise ValueError(f"a duration must be text like '5wd', not {text!r}")
        if not isinstance(text, str) or _FRACTION.match(text):
            raise ValueError(
                f"duration {text!r} has no unit; write e.g. '{text}wd' or '{text}h' "
                f"(units: {_units_hint()})"
            )
        match = _DURATION.match(text)
        if not match or not match.group(2):
            raise ValueError(
                f"cannot read duration {text!r}: expected a number and a unit like '5wd' "
                f"(units: {_units_hint()})"
            )
        number, unit = match.group(1), match.group(2).lower()
        if unit not in UNITS:
            raise ValueError(
                f"unknown unit {match.group(2)!r} in duration {text!r}"
                f"{did_you_mean(unit, UNITS)}; use {_units_hint()}"
            )
        if number.startswith("-"):
            raise ValueError(f"duration {text!r} is negative; durations must be >= 0")
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
            raise ValueError(f"{self} is working time; it needs the business calendar")
        return timedelta(seconds=self.amount * _SECONDS[self.unit])


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
