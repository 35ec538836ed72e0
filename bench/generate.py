"""Large data sets for the benchmarks: N cases with their history and timers, written fast.

    python bench/generate.py --cases 1000000 --db sqlite:///bench/results/big.db
    python bench/generate.py --cases 100000 --open-fraction 1 --db postgresql://…

How: the real engine makes the *prototypes* — ``gridflow.builtin.demo`` simulates a month of Fenglin
Street (four-list problems, grid questions, department questions, timers ticking every
virtual half hour) into a small SQLite file, cached under bench/results/. The generator then
clones whole case families (a case and the raise-hand cases it spawned) until it has N cases,
shifting each clone back by a random whole number of weeks (0–51; weekday and time of day
stay, so deadlines stay at 17:30 of a working day) and giving it new ids. Rows go in with
``executemany`` in big transactions (SQLite; secondary indexes dropped first and rebuilt at
the end) or ``COPY`` (PostgreSQL; then ``ANALYZE``). Notices (the outbox) are not cloned.

``--open-fraction F`` picks families whose first case is still open for F of the cases (1.0:
only open cases, with their pending timers — the timer benchmark's data); without it the mix
is the simulation's own.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sqlite3
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, RESULTS

PROTO_QUARTER = "2026Q3"
PROTO_DAYS = 30
WEEKS = 52
FMT = "%Y-%m-%d %H:%M:%S.%f"
CHUNK = 20_000  # families per transaction
GENERATOR_VERSION = 2  # 2: schema 2 (facet columns)


# ---- columns ----------------------------------------------------------------------------
def _columns():
    from gridflow.storage import tables as t

    def cols(table, skip):
        return [(c.name, type(c.type).__name__) for c in table.columns if c.name not in skip]

    return {
        "gf_case": cols(t.case_t, ("id", "parent_id")),
        "gf_history": cols(t.history_t, ("case_id",)),
        "gf_timer": cols(t.timer_t, ("id", "case_id")),
    }


def schema_key() -> str:
    """A digest of today's tables, columns and schema version: a cached data set made for
    other tables is made again (a database at the same schema version may lack a table
    added since), and so is one of an older version (an engine refuses it until upgraded)."""
    from gridflow.storage import schema as t

    text = f"v{t.SCHEMA_VERSION};" + ";".join(
        f"{name}:{','.join(sorted(c.name for c in table.columns))}"
        for name, table in sorted(t.metadata.tables.items())
    )
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _q(name: str) -> str:
    return f'"{name}"'


# ---- prototypes -------------------------------------------------------------------------
def _proto_key(seed: int, days: int) -> str:
    h = hashlib.sha256(f"{GENERATOR_VERSION}:{seed}:{days}:{PROTO_QUARTER}".encode())
    for p in sorted((REPO / "gridflow" / "builtin" / "workflows").glob("*.yaml")):
        h.update(p.read_bytes())
    h.update((REPO / "gridflow" / "builtin" / "demo.py").read_bytes())
    return h.hexdigest()[:12]


def prototype_db(
    seed: int = 1, days: int = PROTO_DAYS, log=print, directory: Path | None = None
) -> Path:
    """The simulated month the clones come from (made once, then cached in ``directory``,
    default bench/results)."""
    directory = directory or RESULTS
    path = directory / f"proto-{_proto_key(seed, days)}.db"
    if path.exists():
        return path
    import logging

    from gridflow.builtin.demo import run
    from gridflow.drivers.notifiers.registry import build_channels

    logging.getLogger("gridflow").setLevel(logging.ERROR)  # template fallbacks etc.
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.mkdir(exist_ok=True)
    t = time.perf_counter()
    log(f"prototypes: simulating {days} days of {PROTO_QUARTER} (seed {seed}) …")
    channels = build_channels({"file": {"type": "file", "path": str(tmp / "out" / "notices")}})
    run(db_url=f"sqlite:///{tmp / 'proto.db'}", seed=seed, quarter=PROTO_QUARTER, days=days,
        channels=channels)  # fmt: skip
    src = sqlite3.connect(tmp / "proto.db")
    src.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    src.execute(f"VACUUM INTO '{path}'")
    src.close()
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    log(f"prototypes: {time.perf_counter() - t:.1f}s → {path.name}")
    return path


@dataclass
class Family:
    """A root case and the cases it spawned, ids relative (0 = the root)."""

    cases: list[tuple]  # (rel, rel_parent | None, *case columns)
    history: list[tuple]  # (rel, *history columns)
    timers: list[tuple]  # (rel, *timer columns)
    open_cases: int

    @property
    def size(self) -> int:
        return len(self.cases)

    @property
    def root_open(self) -> bool:
        return self.cases[0][2 + _CLOSED_AT] is None


_CLOSED_AT = -1  # set by load_families (index of closed_at among the case columns)


def load_families(path: Path) -> tuple[list[Family], datetime]:
    """The prototype families and the moment the simulation ended (the data's "now")."""
    global _CLOSED_AT
    cols = _columns()
    names = {k: [n for n, _ in v] for k, v in cols.items()}
    _CLOSED_AT = names["gf_case"].index("closed_at")
    db = sqlite3.connect(path)
    cases = db.execute(
        f"SELECT id, parent_id, {', '.join(map(_q, names['gf_case']))} FROM gf_case ORDER BY id"
    ).fetchall()
    parent = {r[0]: r[1] for r in cases}

    def root(cid: int) -> int:
        while parent.get(cid) is not None:
            cid = parent[cid]
        return cid

    members: dict[int, list[tuple]] = {}
    for r in cases:
        members.setdefault(root(r[0]), []).append(r)
    rel: dict[int, tuple[int, int]] = {}  # case id -> (family root, relative id)
    for rid, rows in members.items():
        for i, r in enumerate(rows):
            rel[r[0]] = (rid, i)
    fams: dict[int, Family] = {}
    for rid, rows in members.items():
        out = []
        for r in rows:
            rp = rel[r[1]][1] if r[1] is not None else None
            out.append((rel[r[0]][1], rp, *r[2:]))
        fams[rid] = Family(out, [], [], sum(1 for r in rows if r[2 + _CLOSED_AT] is None))
    hist = db.execute(
        f"SELECT case_id, {', '.join(map(_q, names['gf_history']))} FROM gf_history "
        "ORDER BY case_id, seq"
    )
    for r in hist:
        rid, i = rel[r[0]]
        fams[rid].history.append((i, *r[1:]))
    timers = db.execute(
        f"SELECT case_id, {', '.join(map(_q, names['gf_timer']))} FROM gf_timer ORDER BY id"
    )
    for r in timers:
        rid, i = rel[r[0]]
        fams[rid].timers.append((i, *r[1:]))
    end = db.execute("SELECT max(at) FROM gf_history").fetchone()[0]
    db.close()
    as_of = datetime.fromisoformat(end).replace(tzinfo=UTC)
    return [fams[k] for k in sorted(fams)], as_of


# ---- variants: a family shifted by whole weeks, in the target's value format -------------------
class Variants:
    def __init__(self, families: list[Family], dialect: str, revisions: dict[str, int]):
        self.families, self.dialect, self.revisions = families, dialect, revisions
        cols = _columns()
        self.kinds = {k: [kind for _, kind in v] for k, v in cols.items()}
        self.rev_index = [n for n, _ in cols["gf_case"]].index("revision")
        self.wf_index = [n for n, _ in cols["gf_case"]].index("workflow_id")
        self._cache: dict[tuple[int, int], tuple[list, list, list]] = {}

    def _convert(self, row: tuple, kinds: list[str], delta: timedelta, lead: int) -> tuple:
        out = list(row[:lead])
        pg = self.dialect == "postgresql"
        for v, kind in zip(row[lead:], kinds, strict=True):
            if v is not None and kind == "UTCDateTime":
                v = (datetime.fromisoformat(v) - delta).strftime(FMT)
                if pg:
                    v += "+00"
            elif v is not None and kind == "Boolean" and pg:
                v = bool(v)
            out.append(v)
        return tuple(out)

    def get(self, f: int, weeks: int) -> tuple[list, list, list]:
        key = (f, weeks)
        hit = self._cache.get(key)
        if hit is None:
            fam, delta = self.families[f], timedelta(weeks=weeks)
            cases = []
            for r in fam.cases:
                c = list(self._convert(r, self.kinds["gf_case"], delta, 2))
                c[2 + self.rev_index] = self.revisions.get(
                    c[2 + self.wf_index], c[2 + self.rev_index]
                )
                cases.append(tuple(c))
            hist = [self._convert(r, self.kinds["gf_history"], delta, 1) for r in fam.history]
            tims = [self._convert(r, self.kinds["gf_timer"], delta, 1) for r in fam.timers]
            hit = self._cache[key] = (cases, hist, tims)
        return hit


# ---- writers: staging tables, then set-based expansion in the database -------------------------
#
# The clone plan (which family, shifted by how many weeks, at which ids) and the variants it
# uses go into temporary staging tables (executemany / COPY); one INSERT … SELECT per table and
# chunk then expands them into gf_case / gf_history / gf_timer inside the database.
_PG_TYPES = {
    "Integer": "bigint",
    "Float": "double precision",
    "Boolean": "boolean",
    "UTCDateTime": "timestamptz",
    "JSON": "json",
    "AutoString": "text",
}
_LEAD = {"gf_case": ["rel", "relp"], "gf_history": ["rel"], "gf_timer": ["ti", "rel"]}


class Writer:
    """Common SQL of both databases; subclasses move rows and run statements."""

    dialect = ""

    def __init__(self, cols: dict[str, list[tuple[str, str]]]):
        self.cols = cols
        self.dropped: list[str] = []

    def stage_ddl(self) -> list[str]:
        out = []
        for table, cols in self.cols.items():
            lead = ", ".join(f"{n} bigint" for n in ["f", "w", *_LEAD[table]])
            rest = ", ".join(
                f"{_q(n)} {_PG_TYPES[k] if self.dialect == 'postgresql' else ''}".rstrip()
                for n, k in cols
            )
            out.append(f"CREATE TEMP TABLE stage_{table} ({lead}, {rest})")
            out.append(f"CREATE INDEX stage_{table}_fw ON stage_{table} (f, w)")
        out.append("CREATE TEMP TABLE stage_clone (k bigint PRIMARY KEY, f bigint, w bigint, "
                   "cb bigint, tb bigint)")  # fmt: skip
        return out

    def expand_sql(self) -> list[str]:
        names = {k: [n for n, _ in v] for k, v in self.cols.items()}

        def sel(table):
            return ", ".join(f"s.{_q(n)}" for n in names[table])

        join = "JOIN stage_clone c ON s.f = c.f AND s.w = c.w WHERE c.k >= {lo} AND c.k < {hi}"
        return [
            f"INSERT INTO gf_case (id, parent_id, {', '.join(map(_q, names['gf_case']))}) "
            f"SELECT c.cb + s.rel, c.cb + s.relp, {sel('gf_case')} FROM stage_gf_case s "
            f"{join} ORDER BY c.k, s.rel",
            f"INSERT INTO gf_history (case_id, {', '.join(map(_q, names['gf_history']))}) "
            f"SELECT c.cb + s.rel, {sel('gf_history')} FROM stage_gf_history s "
            f"{join} ORDER BY c.k, s.rel, s.seq",
            f"INSERT INTO gf_timer (id, case_id, {', '.join(map(_q, names['gf_timer']))}) "
            f"SELECT c.tb + s.ti, c.cb + s.rel, {sel('gf_timer')} FROM stage_gf_timer s "
            f"{join} ORDER BY c.k, s.ti",
        ]


class SqliteWriter(Writer):
    dialect = "sqlite"

    def __init__(self, url: str, cols):
        super().__init__(cols)
        self.path = url.split("sqlite:///", 1)[1]
        self.db = sqlite3.connect(self.path, isolation_level=None)
        # a bulk load: no journal, no syncs (a crash means: generate again); WAL at the end
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("PRAGMA cache_size=-262144")
        self.db.execute("PRAGMA temp_store=MEMORY")

    def max_ids(self) -> tuple[int, int]:
        a = self.db.execute("SELECT coalesce(max(id), 0) FROM gf_case").fetchone()[0]
        b = self.db.execute("SELECT coalesce(max(id), 0) FROM gf_timer").fetchone()[0]
        return a, b

    def drop_indexes(self) -> None:
        rows = self.db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
            "AND tbl_name IN ('gf_case', 'gf_history', 'gf_timer')"
        ).fetchall()
        for name, sql in rows:
            self.db.execute(f'DROP INDEX "{name}"')
            self.dropped.append(sql)

    def stage(self, rows: dict[str, list[tuple]], plan: list[tuple]) -> None:
        self.db.execute("BEGIN")
        for sql in self.stage_ddl():
            self.db.execute(sql)
        for table, data in rows.items():
            n = len(data[0]) if data else 0
            self.db.executemany(f"INSERT INTO stage_{table} VALUES ({', '.join('?' * n)})", data)
        self.db.executemany("INSERT INTO stage_clone VALUES (?, ?, ?, ?, ?)", plan)
        self.db.execute("COMMIT")

    def expand(self, lo: int, hi: int) -> None:
        self.db.execute("BEGIN")
        for sql in self.expand_sql():
            self.db.execute(sql.format(lo=lo, hi=hi))
        self.db.execute("COMMIT")

    def finish(self, meta: dict) -> None:
        for sql in self.dropped:
            self.db.execute(sql)
        self.db.execute(
            "INSERT OR REPLACE INTO gf_meta (key, value) VALUES ('bench_dataset', ?)",
            (json.dumps(meta),),
        )
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.close()


class PgWriter(Writer):
    dialect = "postgresql"

    def __init__(self, url: str, cols):
        import psycopg

        super().__init__(cols)
        self.db = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1))

    def max_ids(self) -> tuple[int, int]:
        a = self.db.execute("SELECT coalesce(max(id), 0) FROM gf_case").fetchone()[0]
        b = self.db.execute("SELECT coalesce(max(id), 0) FROM gf_timer").fetchone()[0]
        self.db.commit()
        return a, b

    def drop_indexes(self) -> None:
        rows = self.db.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i "
            "WHERE i.schemaname = current_schema() "
            "AND i.tablename IN ('gf_case', 'gf_history', 'gf_timer') "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname)"
        ).fetchall()
        for name, sql in rows:
            self.db.execute(f'DROP INDEX "{name}"')
            self.dropped.append(sql)
        self.db.commit()

    def stage(self, rows: dict[str, list[tuple]], plan: list[tuple]) -> None:
        with self.db.cursor() as cur:
            for sql in self.stage_ddl():
                cur.execute(sql)
            for table, data in [*rows.items(), ("clone", plan)]:
                name = f"stage_{table}"
                with cur.copy(f"COPY {name} FROM STDIN") as cp:
                    for row in data:
                        cp.write_row(row)
                cur.execute(f"ANALYZE {name}")
        self.db.commit()

    def expand(self, lo: int, hi: int) -> None:
        with self.db.cursor() as cur:
            for sql in self.expand_sql():
                cur.execute(sql.format(lo=lo, hi=hi))
        self.db.commit()

    def finish(self, meta: dict) -> None:
        for sql in self.dropped:
            self.db.execute(sql)
        for table in ("gf_case", "gf_timer"):
            self.db.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )
        self.db.execute(
            "INSERT INTO gf_meta (key, value) VALUES ('bench_dataset', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (json.dumps(meta),),
        )
        self.db.commit()
        self.db.autocommit = True
        for table in ("gf_case", "gf_history", "gf_timer"):
            self.db.execute(f"VACUUM ANALYZE {table}")
        self.db.close()


# ---- generate -------------------------------------------------------------------------------
def generate(
    url: str,
    cases: int,
    *,
    open_fraction: float | None = None,
    seed: int = 1,
    proto_days: int = PROTO_DAYS,
    proto_dir: Path | None = None,
    log=print,
) -> dict[str, Any]:
    """Add ``cases`` cases (with history and timers) to the database at ``url``."""
    import logging

    from gridflow.service.engine import Engine

    logging.getLogger("gridflow").setLevel(logging.ERROR)
    families, as_of = load_families(prototype_db(seed, proto_days, log, proto_dir))
    t0 = time.perf_counter()
    engine = Engine(url, clock=lambda: as_of)  # creates the schema, stores the definitions
    revisions = {wid: wf.revision for wid, wf in engine.workflows.items()}
    dialect = engine.store.dialect
    engine.close()
    cols = _columns()
    writer = SqliteWriter(url, cols) if dialect == "sqlite" else PgWriter(url, cols)
    case_base, timer_base = writer.max_ids()
    fresh = case_base == 0
    # the plan: (clone number, family, weeks back, first case id − 1, first timer id − 1)
    rng = random.Random(seed)
    if open_fraction is None:
        pools = [(list(range(len(families))), cases)]
    else:
        opened = [i for i, f in enumerate(families) if f.root_open]
        closed = [i for i, f in enumerate(families) if not f.root_open]
        n_open = round(cases * open_fraction)
        pools = [(opened, n_open), (closed, cases - n_open)]
    plan: list[tuple[int, int, int, int, int]] = []
    cb, tb = case_base, timer_base
    made = opened_cases = histories = timers = 0
    for pool, want in pools:
        if not pool or want <= 0:
            continue
        singles = [i for i in pool if families[i].size == 1] or pool
        biggest = max(families[i].size for i in pool)
        got = 0
        while got < want:
            left = want - got
            f = rng.choice(pool if left >= biggest else singles)
            fam = families[f]
            if fam.size > left:
                continue
            plan.append((len(plan), f, rng.randrange(WEEKS), cb, tb))
            cb += fam.size
            tb += len(fam.timers)
            got += fam.size
            opened_cases += fam.open_cases
            histories += len(fam.history)
            timers += len(fam.timers)
        made += got
    # the variants the plan uses, in the target's value format
    variants = Variants(families, dialect, revisions)
    staged: dict[str, list[tuple]] = {"gf_case": [], "gf_history": [], "gf_timer": []}
    for f, w in sorted({(p[1], p[2]) for p in plan}):
        vc, vh, vt = variants.get(f, w)
        # ids: the plan's base + 1-based position in the family (cases) or its timers
        staged["gf_case"] += [
            (f, w, r[0] + 1, None if r[1] is None else r[1] + 1, *r[2:]) for r in vc
        ]
        staged["gf_history"] += [(f, w, r[0] + 1, *r[1:]) for r in vh]
        staged["gf_timer"] += [(f, w, i + 1, r[0] + 1, *r[1:]) for i, r in enumerate(vt)]
    log(
        f"  plan: {len(plan):,} families from {len(families)} prototypes, "
        f"{len(staged['gf_case']):,} staged variant cases ({time.perf_counter() - t0:.1f}s)"
    )
    if fresh:
        writer.drop_indexes()
    writer.stage(staged, plan)
    step = max(1, CHUNK * 5)
    for lo in range(0, len(plan), step):
        writer.expand(lo, lo + step)
        done = min(len(plan), lo + step)
        log(f"  {done:,} of {len(plan):,} families written ({time.perf_counter() - t0:.1f}s)")
    t_rows = time.perf_counter() - t0
    meta = {
        "cases": made,
        "open_cases": opened_cases,
        "history_rows": histories,
        "timer_rows": timers,
        "open_fraction": open_fraction,
        "seed": seed,
        "prototypes": len(families),
        "as_of": as_of.isoformat(),
        "generator": GENERATOR_VERSION,
        "schema": schema_key(),
    }
    log("  indexes" + (", VACUUM ANALYZE" if dialect != "sqlite" else "") + " …")
    writer.finish(meta)
    meta["seconds"] = round(time.perf_counter() - t0, 1)
    meta["seconds_rows"] = round(t_rows, 1)
    rows = made + histories + timers
    meta["rows_per_s"] = round(rows / meta["seconds"])
    log(
        f"generated {made:,} cases ({opened_cases:,} open), {histories:,} history rows, "
        f"{timers:,} timers in {meta['seconds']}s ({meta['rows_per_s']:,} rows/s)"
    )
    return meta


def dataset_meta(url: str) -> dict | None:
    """What ``generate`` stored about a SQLite data set, or None."""
    path = Path(url.split("sqlite:///", 1)[1])
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        row = db.execute("SELECT value FROM gf_meta WHERE key = 'bench_dataset'").fetchone()
        db.close()
    except sqlite3.Error:
        return None
    return json.loads(row[0]) if row else None


def ensure_sqlite(path: Path, cases: int, open_fraction: float | None, log=print) -> dict:
    """A cached SQLite data set of this size and mix (made when missing or different)."""
    from bench.common import remove_sqlite

    url = f"sqlite:///{path}"
    meta = dataset_meta(url)
    if (
        meta
        and meta.get("cases") == cases
        and meta.get("open_fraction") == open_fraction
        and meta.get("generator") == GENERATOR_VERSION
        and meta.get("schema") == schema_key()
    ):
        return meta
    remove_sqlite(path)
    return generate(url, cases, open_fraction=open_fraction, log=log)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, required=True)
    ap.add_argument("--db", required=True, help="sqlite:///file.db or postgresql://…")
    ap.add_argument("--open-fraction", type=float, default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--proto-days", type=int, default=PROTO_DAYS)
    a = ap.parse_args(argv)
    meta = generate(
        a.db, a.cases, open_fraction=a.open_fraction, seed=a.seed, proto_days=a.proto_days,
        log=lambda m: print(m, file=sys.stderr),
    )  # fmt: skip
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
