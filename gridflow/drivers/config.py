"""Settings: one ``gridflow.toml`` (optional) plus environment variables, plus CLI flags.

Precedence, highest first: CLI flag → environment variable → ``gridflow.toml`` → default.
The file is ``$GRIDFLOW_CONFIG`` or ``./gridflow.toml``. Example (every key optional)::

    database_url = "sqlite:///gridflow.db"
    workflows = "workflows"            # folder of workflow YAML (default: built-ins)
    org = "org.yaml"                   # loaded with `gridflow org load`; this is only a default
    base_url = "https://gridflow.example/cases"

    [calendar]
    timezone = "Asia/Shanghai"
    work_hours = ["08:30-11:30", "13:00-17:30"]
    overrides = "calendar-overrides.yaml"

    [daemon]
    interval_seconds = 5
    [[daemon.cron]]                    # extra scheduled jobs
    job = "digest"                     # daily overdue digest per unit
    cron = "30 8 * * mon-fri"

    [database]
    upgrade_on_start = false           # true: an engine upgrades a schema behind the code
                                       # (default: it refuses; run `gridflow db upgrade`)

    [http]                             # `gridflow serve` (see drivers/http/settings.py)
    port = 8080

    [web]                              # the workbench beside it (see drivers/web/settings.py)
    idle_minutes = 480

    [channels.email]
    type = "smtp"
    host = "127.0.0.1"
    port = 25

This module is a driver-ring helper: the engine itself takes plain values.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gridflow.errors import GridflowError

if TYPE_CHECKING:
    from gridflow.domain.calendar import BusinessCalendar
    from gridflow.drivers.http.settings import HttpSettings
    from gridflow.drivers.web.settings import WebSettings

DEFAULT_DATABASE_URL = "sqlite:///gridflow.db"


@dataclass
class CalendarSettings:
    timezone: str = "Asia/Shanghai"
    work_hours: list[str] = field(default_factory=lambda: ["08:30-11:30", "13:00-17:30"])
    overrides: str | None = None  # path to a calendar override YAML file

    def zone(self) -> ZoneInfo:
        """The timezone, or a clean error naming the setting."""
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise GridflowError(
                f"[calendar] timezone: unknown timezone {self.timezone!r}"
            ) from None

    def build(self) -> BusinessCalendar:
        """The ``BusinessCalendar`` these settings describe."""
        from gridflow.domain.calendar import BusinessCalendar

        return BusinessCalendar.from_settings(
            timezone=self.timezone, work_hours=self.work_hours, overrides=self.overrides
        )


@dataclass
class DatabaseSettings:
    """``[database]``: ``upgrade_on_start`` lets an engine (CLI, daemon, serve) upgrade a
    database whose schema is behind the code when it opens it; by default it refuses and
    names ``gridflow db upgrade`` (``GRIDFLOW_UPGRADE_ON_START=1`` sets it too)."""

    upgrade_on_start: bool = False


@dataclass
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    workflows: str | None = None
    org: str | None = None
    base_url: str = "http://localhost/cases"
    calendar: CalendarSettings = field(default_factory=CalendarSettings)
    daemon: dict[str, Any] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    cache_dir: str | None = None  # parsed files kept by their text; "none": no cache
    source: str | None = None  # the file these came from, if any
    http: HttpSettings = field(default_factory=lambda: _http({}))  # `gridflow serve`
    web: WebSettings = field(default_factory=lambda: _web({}))  # the workbench (#14)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)

    def parse_cache(self) -> Path | None:
        """Where parsed workflow and org files are kept (``cache_dir``,
        ``GRIDFLOW_CACHE_DIR``; default ``~/.cache/gridflow``), or None when switched off."""
        if self.cache_dir and self.cache_dir.lower() == "none":
            return None
        if self.cache_dir:
            return Path(self.cache_dir)
        from gridflow.service.parse_cache import default_folder

        return default_folder()

    def workflows_dir(self) -> Path:
        """Explicit setting, else ``./workflows`` when it exists, else the built-ins."""
        if self.workflows:
            return Path(self.workflows)
        local = Path("workflows")
        if local.is_dir():
            return local
        from gridflow.service.definitions import BUILTIN_WORKFLOWS

        return BUILTIN_WORKFLOWS


# every setting a file may hold, with the type it must have
_TOP: dict[str, tuple[type, ...]] = {
    "database_url": (str,),
    "workflows": (str,),
    "org": (str,),
    "base_url": (str,),
    "calendar": (dict,),
    "daemon": (dict,),
    "channels": (dict,),
    "cache_dir": (str,),
    "http": (dict,),
    "web": (dict,),
    "database": (dict,),
}
_DATABASE: dict[str, tuple[type, ...]] = {"upgrade_on_start": (bool,)}
_CALENDAR: dict[str, tuple[type, ...]] = {
    "timezone": (str,),
    "work_hours": (list,),
    "overrides": (str,),
}
_TYPE_NAMES = {str: "text", dict: "a table", list: "a list", bool: "true or false"}


def _check(file: Path, section: str, values: dict[str, Any], known: dict[str, tuple]) -> None:
    """One clean error for an unknown key or a value of the wrong type in ``section``."""
    from gridflow.domain.suggest import did_you_mean

    where = f"{file}: [{section}] " if section else f"{file}: "
    for name, value in values.items():
        if name not in known:
            raise GridflowError(f"{where}unknown setting {name!r}{did_you_mean(name, known)}")
        if not isinstance(value, known[name]):
            want = " or ".join(_TYPE_NAMES[t] for t in known[name])
            raise GridflowError(f"{where}{name} must be {want}, not {value!r}")
    if section == "calendar" and not all(isinstance(w, str) for w in values.get("work_hours", [])):
        raise GridflowError(f'{where}work_hours must be a list like ["08:30-11:30", "13:00-17:30"]')


def load_settings(path: str | os.PathLike | None = None) -> Settings:
    """Read the config file (if any) and the ``GRIDFLOW_*`` environment variables."""
    path = path or os.environ.get("GRIDFLOW_CONFIG")
    candidate = Path(path) if path else Path("gridflow.toml")
    raw: dict[str, Any] = {}
    if candidate.is_file():
        try:
            raw = tomllib.loads(candidate.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise GridflowError(f"{candidate}: {exc}") from None
    elif path:
        raise GridflowError(f"config file {candidate} does not exist")
    _check(candidate, "", raw, _TOP)
    cal = raw.pop("calendar", {}) or {}
    _check(candidate, "calendar", cal, _CALENDAR)
    http = raw.pop("http", {}) or {}
    web = raw.pop("web", {}) or {}
    database = raw.pop("database", {}) or {}
    _check(candidate, "database", database, _DATABASE)
    settings = Settings(
        database=DatabaseSettings(**database),
        calendar=CalendarSettings(**cal),
        http=_http(http),
        web=_web(web),
        source=str(candidate) if candidate.is_file() else None,
        **raw,
    )
    env = os.environ
    settings.database_url = env.get("GRIDFLOW_DATABASE_URL", settings.database_url)
    settings.workflows = env.get("GRIDFLOW_WORKFLOWS", settings.workflows)
    settings.base_url = env.get("GRIDFLOW_BASE_URL", settings.base_url)
    settings.cache_dir = env.get("GRIDFLOW_CACHE_DIR", settings.cache_dir)
    settings.calendar.timezone = env.get("GRIDFLOW_TIMEZONE", settings.calendar.timezone)
    settings.calendar.overrides = env.get(
        "GRIDFLOW_CALENDAR_OVERRIDES", settings.calendar.overrides
    )
    upgrade = env.get("GRIDFLOW_UPGRADE_ON_START", "").strip().lower()
    if upgrade:
        if upgrade not in ("1", "true", "yes", "0", "false", "no"):
            raise GridflowError(
                f"GRIDFLOW_UPGRADE_ON_START must be 1/true/yes or 0/false/no, not {upgrade!r}"
            )
        settings.database.upgrade_on_start = upgrade in ("1", "true", "yes")
    return settings


def _http(raw: dict[str, Any]) -> HttpSettings:
    """The ``[http]`` table (``gridflow serve``), with its environment overrides."""
    from gridflow.drivers.http.settings import HttpSettings

    return HttpSettings.load(raw)


def _web(raw: dict[str, Any]) -> WebSettings:
    """The ``[web]`` table (the workbench of ``gridflow serve``)."""
    from gridflow.drivers.web.settings import WebSettings

    return WebSettings.load(raw)
