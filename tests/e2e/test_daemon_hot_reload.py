"""Issue #17, finding 2 (and 1): a broken file pushed into a running daemon stalls nothing.

On the old main a NUL byte, U+FFFE or 400 levels of nesting in a workflow file made every
pass fail until the file was fixed (no timers, no heartbeat: the reload caught only
definition errors), and a ``9**99999999`` guard froze the daemon for good. Here one daemon
(a real process on the virtual clock) is fed each bad input in turn: each is refused with a
located error and the last good definitions kept, and after each the timers of freshly
seeded overdue cases are acted on and the heartbeat goes on. The webhook side of the issue
(a peer that trickles or never answers) is the delivery work of issue #12.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import timedelta

import pytest
from test_daemon import DRILL, T0, counts, daemon_env, daemon_log, heartbeats, write_config
from waiting import wait_for_progress

from gridflow.service.engine import Engine

pytestmark = pytest.mark.slow

GOOD = (DRILL / "drill.yaml").read_text(encoding="utf-8")


def at(text: str, char: str) -> str:
    """``:LINE:COL: character U+XXXX`` of the first ``char`` in ``text``."""
    i = text.index(char)
    line, col = text.count("\n", 0, i) + 1, i - text.rfind("\n", 0, i)
    return f":{line}:{col}: character U+{ord(char):04X}"


NUL = GOOD.replace("title: {zh: 演练", "title: {zh: 演\x00练", 1)
FFFE = GOOD.replace("Drill}", "Dr\ufffeill}", 1)
BAD = {
    "nul": (NUL, at(NUL, "\x00")),
    "ufffe": (FFFE, at(FFFE, "\ufffe")),
    "nesting": (
        GOOD + "".join("  " * k + f"k{k}:\n" for k in range(400)),
        ": nesting deeper than 64 levels",
    ),
    "flow-nesting": (GOOD + "x: " + "[" * 400 + "]" * 400 + "\n", ": nesting deeper than 64"),
    "pow-guard": (
        GOOD.replace(
            "{trigger: finish, source: waiting, dest: done, roles: [anyone]}",
            '{trigger: finish, source: waiting, dest: done, roles: [anyone], when: "9**99999999"}',
        ),
        "integer too large",
    ),
    "not-utf8": (None, "not UTF-8 text"),
}


def seed_overdue(url: str, n: int, tag: str) -> None:
    """``n`` drill cases started 4 h before the daemon's clock: both rungs of their overdue
    ladder (at the 1 h deadline, and 2 h later) are due when the daemon next looks."""
    engine = Engine(url, DRILL, clock=lambda: T0 - timedelta(hours=4))
    try:
        for i in range(n):
            engine.start("drill", actor="wannan-r1.chief", data={"title": f"{tag}{i}"})
    finally:
        engine.close()


def test_each_bad_file_is_refused_located_and_passes_go_on(tmp_path):
    url = f"sqlite:///{tmp_path / 'hot.db'}"
    folder = tmp_path / "wf"
    folder.mkdir()
    target = folder / "drill.yaml"
    target.write_text(GOOD, encoding="utf-8")
    cfg = write_config(tmp_path)
    env = daemon_env(url, cfg, T0)
    env["GRIDFLOW_WORKFLOWS"] = str(folder)
    with open(tmp_path / "daemon.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gridflow.drivers.cli.main", "daemon"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        why = lambda: daemon_log(cfg)[-3000:]  # noqa: E731
        wait_for_progress(lambda: heartbeats(url), lambda n: n >= 1, alive=[proc], why=why)
        expired = 0
        for number, (name, (text, located)) in enumerate(BAD.items(), start=1):
            if text is None:
                target.write_bytes(GOOD.encode("utf-8") + b"\n# \xff\xfe\n")
            else:
                target.write_text(text, encoding="utf-8")
            # refused by itself (the daemon watches the folder) and logged, located
            wait_for_progress(
                lambda: daemon_log(cfg).count("reload refused"),
                lambda n, k=number: n >= k,
                alive=[proc],
                why=why,
            )
            assert f"{target}" in daemon_log(cfg) and located in daemon_log(cfg), (name, why())
            beats = heartbeats(url)
            seed_overdue(url, 5, name)
            expired += 5
            # the timers of the new cases are acted on, with the last good definitions
            wait_for_progress(
                lambda: counts(url)[0]["expire"],
                lambda n, want=expired: n >= want,
                alive=[proc],
                why=why,
            )
            assert counts(url)[2] == 0  # nothing left pending
            wait_for_progress(  # and the heartbeat goes on
                lambda: heartbeats(url), lambda n, b=beats: n > b, alive=[proc], why=why
            )
        target.write_text(GOOD.replace("Drill}", "Drill again}"), encoding="utf-8")
        wait_for_progress(
            lambda: daemon_log(cfg).count("reloaded workflows"),
            lambda n: n >= 1,
            alive=[proc],
            why=why,
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, daemon_log(cfg)[-3000:]
    log = daemon_log(cfg)
    assert "Traceback" not in log and "pass failed" not in log, log[-3000:]
    assert log.count("reload refused; keeping the last good definitions") == len(BAD)
