"""Run the gridflow benchmarks and write their figures.

    python bench/run.py --quick            # a few minutes: small sizes, few repeats
    python bench/run.py --readme           # the full set (1M-case data sets: a long run),
                                           # figures into bench/README.md
    python bench/run.py --only fire,tick   # some of them

Results go to bench/results/latest.json and latest.md (gitignored); ``--readme`` also puts
the markdown between the result markers of bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

# bench/http.py must not hide the standard library's `http` (the folder of a script run is
# first on sys.path): drop the folder, reach the modules as the `bench` package
_here = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
sys.path.insert(0, str(_here.parent))

from bench import cli, demo, fire, kpi, life, scale, tick, web  # noqa: E402
from bench import http as http_api  # noqa: E402
from bench.common import BENCH, RESULTS, fmt, machine, write_json  # noqa: E402

BENCHES = {
    "fire": fire,
    "life": life,
    "cli": cli,
    "tick": tick,
    "kpi": kpi,
    "scale": scale,
    "http": http_api,
    "demo": demo,
    "web": web,
}
START, END = "<!-- bench:results:start -->", "<!-- bench:results:end -->"


def _table(head: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def _verdict(res: dict) -> str:
    if "skipped" in res:
        return "skipped"
    if "error" in res:
        return "error"
    if res.get("met") is None:
        return "not judged at this size"
    return "**met**" if res.get("met") else "**missed**"


def markdown(results: dict) -> str:
    m = results["machine"]
    mode = "quick" if results["quick"] else "full"
    lines = [
        f"Run of {results['started']} ({mode} mode, {results['seconds']:.0f} s), git "
        f"`{m.get('git', '?')}`: {m['cores']} cores ({m['cpu']}), {m.get('memory_gb', '?')} GB, "
        f"{m['os']}; Python {m['python']}, SQLite {m['sqlite']}, PostgreSQL "
        f"{m['postgresql'] or 'not reachable'}, SQLAlchemy {m['sqlalchemy']}, SpiffWorkflow "
        f"{m.get('spiffworkflow', '?')}. Load average at start {m['load_avg_at_start']}, "
        f"at end {results.get('load_avg_at_end')} (other agents' test runs share the machine).",
        "",
        "Figures: median (min–max) over the repeats; ratios are taken within each repeat.",
        "",
    ]
    b = results["benches"]
    if "fire" in b and "rates" in b["fire"]:
        r = b["fire"]
        lines += [
            f"### 1. Persisted `fire()` — {_verdict(r)} (target ≥ 0.5 × floor)",
            "",
            f"{r['repeats']} repeats × {r['events_per_repeat']} events per subject, interleaved "
            "in blocks of 50.",
            "",
            _table(["subject", "events/s", "ratio"], fire.rows(r)),
            "",
            f"CPU-time ratio (events per CPU second, insensitive to other load): self-loop "
            f"{fmt(r['ratios']['loop_vs_core_cpu'])} × floor, raise_hand "
            f"{fmt(r['ratios']['raise_hand_vs_core_cpu'])} × floor.",
            "",
            f"Profile of `fire()` (self-loop; pyinstrument, {r['profile']['events']} events, "
            "self time by category; `bench/results/profile_fire.txt` has the tree):",
            "",
            _table(
                ["where", "share"],
                [[k, f"{v * 100:.0f} %"] for k, v in r["profile"]["share"].items() if v >= 0.005],
            ),
            "",
        ]
    if "life" in b and "ms_per_case" in b["life"]:
        r = b["life"]
        lines += [
            f"### 2. A case's life (start → close, 5 steps) — {_verdict(r)} (target ≥ 10× "
            "SpiffWorkflow)",
            "",
            _table(["subject", "per case", "comparison"], life.rows(r)),
            "",
            f"SpiffWorkflow's serialized workflow: {r['spiff_json_bytes']:,} bytes per step. "
            f"CPU time: gridflow {fmt(r['speedup']['vs_spiff_cpu'])}× faster than Spiff "
            "(stored each step).",
            "",
        ]
    if "tick" in b and "sizes" in b["tick"]:
        r = b["tick"]
        lines += [
            f"### 3. Timers: `tick()` by database size — {_verdict(r)} ({r['target']})",
            "",
            f"Windows of up to {r['timers_per_window']} timers (fewer where a data set holds "
            f"fewer pending), {r['repeats']} repeats; RSS is the "
            "peak of the ticking process (psutil, sampled every 20 ms). Floors, same process: "
            "the minimal durable work per timer (mark done, bump the case, a history note, "
            "an ~800-byte outbox row) one transaction per timer, and 500 per transaction. "
            "APScheduler 3.11's SQLAlchemyJobStore on SQLite (WAL, synchronous=NORMAL) firing "
            f"as many due jobs, each one insert: {fmt(r['apscheduler_per_s'], '/s', 0)}.",
            "",
            _table(
                [
                    "data set",
                    "tick timers/s",
                    "floor, 1 per tx",
                    "floor, 500 per tx",
                    "tick / batched floor",
                    "tick / APScheduler",
                    "idle pass",
                    "RSS peak",
                ],
                tick.rows(r),
            ),
            "",
        ]
    if "kpi" in b:
        r = b["kpi"]
        head = f"### 4. KPI report — {_verdict(r)} (target < 2 s on SQLite)"
        if "skipped" in r:
            lines += [head, "", f"Skipped: {r['skipped']}.", ""]
        elif "sqlite" in r:
            lines += [
                head,
                "",
                f"{r['cases']:,} cases ({r['dataset']['history_rows']:,} history rows, "
                f"{r['dataset']['timer_rows']:,} timers); {r['repeats']} repeats.",
                "",
                _table(["report", "time", "vs floor", "also"], kpi.rows(r)),
                "",
            ]
            for db in ("sqlite", "postgresql"):
                split = r.get(db, {}).get("parts")
                if split:
                    lines += [
                        f"One street report on {db}, part by part (the case and step passes "
                        "run at once, on the main and the worker thread):",
                        "",
                        _table(
                            ["part", "seconds", "share of the report", "thread"],
                            [
                                [
                                    f"`{x['part']}`" if x["thread"] else x["part"],
                                    f"{x['s']:.3f}",
                                    f"{x['share'] * 100:.0f} %",
                                    x["thread"],
                                ]
                                for x in split
                            ],
                        ),
                        "",
                    ]
    if "cli" in b and "ms" in b["cli"]:
        r = b["cli"]
        phases = "; ".join(f"{k} {v:.0f} ms" for k, v in r["list_phases_ms"].items())
        lines += [
            f"### 5. CLI — {_verdict(r)} (× `python -c pass`: {r['target']})",
            "",
            f"{r['runs']} runs each, interleaved, fresh processes.",
            "",
            _table(["command", "wall time", "vs `python -c pass`"], cli.rows(r)),
            "",
            f"`gridflow list`, phase by phase (fresh processes): {phases}.",
            "",
        ]
    if "scale" in b:
        r = b["scale"]
        head = f"### 6. PostgreSQL scale-out — {_verdict(r)} (target ≥ 0.7 × N)"
        if "skipped" in r:
            lines += [head, "", f"Skipped: {r['skipped']}.", ""]
        elif "per_s" in r:
            lines += [
                head,
                "",
                f"{r['cases']:,} open cases, runs of {r['timers_per_run']:,} due timers, "
                f"{r['repeats']} repeats, tick batches of {r['batch']}; {r['cores']} cores.",
                "",
                _table(
                    [
                        "daemons",
                        "timers/s",
                        "speed-up",
                        "efficiency (speed-up / N)",
                        "cores busy (workers + postgres)",
                    ],
                    scale.rows(r),
                ),
                "",
                "Worker CPU per timer (ms): "
                + ", ".join(f"{n}: {fmt(v)}" for n, v in r["worker_cpu_ms_per_timer"].items())
                + "; PostgreSQL CPU per timer (ms): "
                + ", ".join(f"{n}: {fmt(v)}" for n, v in r["pg_cpu_ms_per_timer"].items())
                + ".",
                "",
            ]
    if "http" in b:
        r = b["http"]
        lines += [
            f"### 7. HTTP API under load — {_verdict(r)} (target ≥ 0.5 × in-process at 16 "
            "clients on SQLite)",
            "",
            f"`gridflow serve` (one uvicorn process) vs `Engine.fire` in-process, the bench "
            f"self-loop; {r['events_per_subject']} events per subject, {r['repeats']} repeats.",
            "",
            _table(
                [
                    "database",
                    "clients",
                    "in-process events/s",
                    "in-process p50 / p99 ms",
                    "HTTP events/s",
                    "HTTP p50 / p99 ms",
                    "HTTP / in-process",
                ],
                http_api.rows(r),
            ),
            "",
        ]
        if "skipped" in r.get("postgresql", {}):
            lines += [f"PostgreSQL skipped: {r['postgresql']['skipped']}.", ""]
    if "web" in b and "board" in b["web"]:
        r = b["web"]
        board, weights = web.markdown_rows(r)
        lines += [
            f"### 8. Web workbench — {_verdict(r)} (target: area board render ≤ 3 × its query)",
            "",
            f"Area board of Wannan with {r['board']['cases']} open four-list problems "
            f"({r['board']['cards_shown']} cards shown, {r['board']['html_kb']} KB of HTML).",
            "",
            _table(["", "median (min–max)"], board),
            "",
            "Page weight (KB; JS + CSS: "
            + ", ".join(f"{k} {v}" for k, v in r["weights"]["assets"].items())
            + f"; {r['weights']['assets_gz_kb']} KB gzipped):",
            "",
            _table(["page", "HTML", "HTML gz", "HTML+JS+CSS", "… gz"], weights),
            "",
        ]
    if "demo" in b and "ratio" in b["demo"]:
        r = b["demo"]
        lines += [
            f"### 9. `gridflow demo` against the commit before this wave — {_verdict(r)} "
            f"({r['target']})",
            "",
            f"{r['repeats']} pairs, alternated, fresh processes, days: {r['days']}.",
            "",
            _table(["against", "baseline", "now", "now / baseline", "same headline"], demo.rows(r)),
            "",
        ]
    for name, r in b.items():
        if "error" in r:
            lines += [f"### {name}: error", "", "```", r["error"][-1500:], "```", ""]
    return "\n".join(lines)


def update_readme(md: str) -> None:
    path = BENCH / "README.md"
    text = path.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{path}: result markers missing")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{md}\n{END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    ap.add_argument("--only", help="comma-separated: " + ",".join(BENCHES))
    ap.add_argument("--readme", action="store_true", help="write the figures into README.md")
    ap.add_argument("--out", default=str(RESULTS / "latest.json"))
    ap.add_argument("--render", action="store_true", help="only re-render the markdown from --out")
    a = ap.parse_args(argv)
    if a.render:
        md = markdown(json.loads(Path(a.out).read_text()))
        Path(a.out).with_suffix(".md").write_text(md + "\n", encoding="utf-8")
        if a.readme:
            update_readme(md)
        print(md)
        return 0
    names = a.only.split(",") if a.only else list(BENCHES)
    unknown = set(names) - set(BENCHES)
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    results = {
        "started": time.strftime("%Y-%m-%d %H:%M %Z"),
        "quick": a.quick,
        "machine": machine(),
        "benches": {},
    }

    def log(msg: str) -> None:
        print(msg, flush=True)

    for name in names:
        log(f"== {name} ==")
        t = time.time()
        try:
            results["benches"][name] = BENCHES[name].run(quick=a.quick, log=log)
        except Exception:  # one failing benchmark must not lose the others' figures
            results["benches"][name] = {"error": traceback.format_exc()}
            log(traceback.format_exc())
        results["benches"][name]["bench_seconds"] = round(time.time() - t, 1)
        write_json(Path(a.out), results)
    results["seconds"] = time.time() - t0
    results["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    write_json(Path(a.out), results)
    md = markdown(results)
    Path(a.out).with_suffix(".md").write_text(md + "\n", encoding="utf-8")
    if a.readme:
        update_readme(md)
    log(md)
    failed = [n for n, r in results["benches"].items() if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
