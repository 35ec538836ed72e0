"""Shared fixtures of the foundation tests: the test org, clocks, databases, engines.

Databases: ``db_url`` is parametrized over SQLite (a temporary file) and PostgreSQL
(``GRIDFLOW_TEST_PG``, default ``postgresql://postgres@127.0.0.1:5432/test``). Each
PostgreSQL test gets a schema of its own (``search_path`` in the URL, so spawned processes
see the same tables) that is dropped afterwards; PostgreSQL tests are skipped with the
connect error as the reason when the server cannot be reached (tried once per session).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from gridflow.domain.org import Actor, Directory, Grant

pytest_plugins = ["http_fixtures", "web_fixtures"]  # the HTTP API's and the workbench's fixtures

DATA = Path(__file__).parent / "data"
BROKEN = DATA / "broken"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"

# ---- the org of the tests (tests/data/org.yaml describes the same one) --------------------
UNITS = [
    ("xuhui", "徐汇区", "district", None, "Xuhui District"),
    ("fenglin", "枫林路街道", "street", "xuhui", "Fenglin Road Street"),
    ("wannan", "宛南片区", "area", "fenglin", "Wannan Area"),
    ("g1", "第一网格", "grid", "wannan", "Grid 1"),
    ("g2", "第二网格", "grid", "wannan", "Grid 2"),
    ("wanbei", "宛北片区", "area", "fenglin", "Wanbei Area"),
    ("g3", "第三网格", "grid", "wanbei", "Grid 3"),
    ("police", "派出所", "department", "fenglin", "Police"),
    ("housing", "房管办", "department", "fenglin", "Housing"),
]


def _person(pid: str, name: str, *grants: tuple[str, str], lang: str = "zh-CN") -> Actor:
    return Actor(pid, name, tuple(Grant(r, u) for r, u in grants), lang)


PEOPLE = [
    _person("li.clerk", "李受理", ("clerk", "fenglin")),
    _person("wang.chief", "王街长", ("chief", "fenglin")),
    _person("zhao.area", "赵片长", ("chief", "wannan")),
    _person("qian.north", "钱片长", ("chief", "wanbei")),
    _person("chen.grid", "陈网格", ("grid", "g1")),
    _person(
        "cop", "派出所联络员", ("handler", "police"), ("liaison", "police"), ("helper", "police")
    ),
    _person("fix", "房管联络员", ("handler", "housing"), ("liaison", "housing")),
    _person("sun.worker", "孙", ("worker", "fenglin"), ("anyone", "g3"), lang="en"),
    _person("nobody", "无名"),
]


def make_directory() -> Directory:
    return Directory.build(UNITS, PEOPLE)


@pytest.fixture
def directory() -> Directory:
    return make_directory()


# ---- time -----------------------------------------------------------------------------------
T0 = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai, a working day


class FakeClock:
    """An injectable clock: ``clock()`` is the current virtual time."""

    def __init__(self, start: datetime = T0):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> datetime:
        self.now += timedelta(**kw)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# ---- databases ------------------------------------------------------------------------------
_pg_state: dict[str, object] = {}


def pg_base_url() -> str:
    return os.environ.get("GRIDFLOW_TEST_PG", PG_DEFAULT)


def pg_unavailable() -> str | None:
    """``None`` when PostgreSQL answers, else why not (checked once per session)."""
    if "reason" not in _pg_state:
        try:
            import psycopg

            with psycopg.connect(pg_base_url(), connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            _pg_state["reason"] = None
        except Exception as exc:  # any failure means: skip, and say why
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            _pg_state["reason"] = f"PostgreSQL at {pg_base_url()} unreachable: {first}"
    return _pg_state["reason"]  # type: ignore[return-value]


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose ``search_path`` is a fresh schema, dropped after the test."""
    reason = pg_unavailable()
    if reason:
        pytest.skip(reason)
    import psycopg

    base = pg_base_url()
    schema = f"gridflow_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '20s'")  # a stuck helper must not hang the suite
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'gridflow.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request) -> str:
    """The same test on SQLite and on PostgreSQL."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


# ---- engines --------------------------------------------------------------------------------
@pytest.fixture
def make_engine(directory: Directory, clock: FakeClock) -> Iterator[Callable[..., object]]:
    """``make_engine(url, workflows=DATA, **kw)``: an Engine with the test org and clock,
    closed after the test (before its database goes away)."""
    from gridflow.service.engine import Engine

    made: list[Engine] = []

    def make(url: str, workflows=DATA, **kw) -> Engine:
        kw.setdefault("directory", directory)
        kw.setdefault("clock", clock)
        engine = Engine(url, workflows, **kw)
        made.append(engine)
        return engine

    yield make
    for engine in made:
        engine.close()


@pytest.fixture
def engine(make_engine, sqlite_url):
    """An Engine on a fresh SQLite file with the tests/data workflows."""
    return make_engine(sqlite_url)


@pytest.fixture
def any_engine(make_engine, db_url):
    """An Engine on SQLite and, as a second parameter, on PostgreSQL."""
    return make_engine(db_url)
