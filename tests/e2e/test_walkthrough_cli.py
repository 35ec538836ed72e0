"""``docs/walkthrough.md`` stays true: its commands run in real ``gridflow`` processes.

The page is a list of ``## `` sections; each section's ```` ```console ```` blocks hold
``$ command`` lines, each followed by what it printed. Every section runs in its own shell
environment (an ``export`` line sets a variable for the rest of that section), in one fresh
temporary folder, with ``GRIDFLOW_NOW`` unset (the real clock). Sections are independent
(each has its own database) and run side by side.

Compared: stdout, and the ``Error:`` line of a refused command (exit code 1); other stderr
lines (log warnings) are ignored. Real times, hours left and lateness are masked.

Each section runs in one real Python process of its own, which runs the ``gridflow`` commands
one after the other through the CLI's own entry point (a fresh CLI context and Engine per
command; exit codes from ``SystemExit``) and hands anything with shell syntax (pipes,
redirections, ``$(…)``) to ``bash``. Interpreter start-up would otherwise be most of the run
time. ``GRIDFLOW_WALKTHROUGH_STRICT=1`` runs every command as its own ``bash -c`` process
instead, as the page was captured.

Regenerate the outputs on the page after changing a workflow or the CLI (strict mode)::

    .venv/bin/python tests/e2e/test_walkthrough_cli.py --write
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "walkthrough.md"
BIN = Path(sys.executable).parent  # the venv's bin: gridflow lives next to python


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)
    line: int = 0  # where the command is on the page (1-based)


@dataclass
class Section:
    title: str
    steps: list[Step] = field(default_factory=list)


def parse(text: str) -> list[Section]:
    sections: list[Section] = []
    in_console = False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("## "):
            sections.append(Section(line[3:].strip()))
        elif line.strip() == "```console":
            in_console = True
        elif in_console and line.strip() == "```":
            in_console = False
        elif in_console and line.startswith("$ "):
            sections[-1].steps.append(Step(line[2:], line=number))
        elif in_console:
            sections[-1].steps[-1].expected.append(line)
    return [s for s in sections if s.steps]


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDFLOW_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONIOENCODING"] = "utf-8"
    return env


_EXPORT = re.compile(r"export (\w+)=(\S+)")
_SHELL = re.compile(r"[|<>;&$`]")


def _shown(stdout: str, stderr: str) -> list[str]:
    return stdout.splitlines() + [x for x in stderr.splitlines() if x.startswith("Error: ")]


def run_section(
    section: Section, cwd: Path, *, strict: bool = False
) -> list[tuple[Step, list[str], int, str]]:
    """Run a section's commands in order: (step, shown lines, exit code, stderr) each."""
    if not strict:
        here = Path(__file__).parent
        runner = f"import sys; sys.path[:0] = [{str(here)!r}, {str(here.parent)!r}]; "
        runner += "import test_walkthrough_cli as w; w.serve()"
        res = subprocess.run(
            [sys.executable, "-c", runner],
            input=json.dumps([step.command for step in section.steps]),
            cwd=cwd,
            env=base_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert res.returncode == 0, res.stderr
        results = json.loads(res.stdout)
        return [
            (step, _shown(out, err), code, err)
            for step, (out, err, code) in zip(section.steps, results, strict=True)
        ]
    env, out = base_env(), []
    for step in section.steps:
        export = _EXPORT.fullmatch(step.command)
        if export:
            env[export.group(1)] = export.group(2)
            out.append((step, [], 0, ""))
            continue
        res = subprocess.run(
            ["bash", "-c", step.command],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        out.append((step, _shown(res.stdout, res.stderr), res.returncode, res.stderr))
    return out


def serve() -> None:
    """The section runner (in its own process): commands as JSON on stdin, [stdout, stderr,
    exit code] for each as JSON on stdout."""
    import contextlib
    import io
    import shlex

    from gridflow.drivers.cli.main import cli

    results = []
    for command in json.load(sys.stdin):
        export = _EXPORT.fullmatch(command)
        if export:
            os.environ[export.group(1)] = export.group(2)
            results.append(("", "", 0))
            continue
        if _SHELL.search(command) or not command.startswith("gridflow "):
            res = subprocess.run(["bash", "-c", command], capture_output=True, text=True)
            results.append((res.stdout, res.stderr, res.returncode))
            continue
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.main(shlex.split(command)[1:], prog_name="gridflow")
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        results.append((out.getvalue(), err.getvalue(), code))
    json.dump(results, sys.stdout)


def run_all(sections: list[Section], cwd: Path, *, strict: bool = False):
    with ThreadPoolExecutor(len(sections)) as pool:
        return list(pool.map(lambda s: run_section(s, cwd, strict=strict), sections))


_MASKS = [
    (re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}"), "<time>"),
    (re.compile(r"\d+(\.\d+)? wh\b"), "<n> wh"),
    (re.compile(r"late \d+ min"), "late <n> min"),
    (re.compile(r", PROVISIONAL \(holiday data missing\)"), ""),
    (re.compile(r"-{2,}"), "-"),  # table rules follow the width of the (masked) columns
    (re.compile(r"[ \t]+"), " "),
]


def normalise(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        for pattern, repl in _MASKS:
            line = pattern.sub(repl, line)
        out.append(line.strip())
    while out and not out[-1]:
        out.pop()
    return out


# ---- the test ---------------------------------------------------------------------------------------
def test_walkthrough_page_has_every_process():
    text = DOC.read_text(encoding="utf-8")
    sections = parse(text)
    commands = [s.command for sec in sections for s in sec.steps]
    assert len(sections) == 4
    # the real clock throughout, but for the step after a timer pass run two weeks ahead
    virtual = [c for c in commands if "GRIDFLOW_NOW" in c]
    assert len(virtual) == 1 and virtual[0].split(" gridflow ")[1].startswith("fire 2 assign")
    assert any(c.startswith("gridflow graph four_list") for c in commands)
    assert any(c.startswith("gridflow graph raise_hand --format dot") for c in commands)
    assert any("direction=dept_asks" in c for c in commands)
    assert any(" ask " in c for c in commands)
    assert all(
        step.expected or step.command.startswith(("export ", "gridflow init"))
        for sec in sections
        for step in sec.steps
    )


@pytest.mark.slow
def test_walkthrough_commands_print_what_the_page_shows(tmp_path):
    sections = parse(DOC.read_text(encoding="utf-8"))
    problems = []
    strict = os.environ.get("GRIDFLOW_WALKTHROUGH_STRICT") == "1"
    for results in run_all(sections, tmp_path, strict=strict):
        for step, shown, code, stderr in results:
            refused = any(x.startswith("Error: ") for x in step.expected)
            if code != (1 if refused else 0):
                problems.append(f"line {step.line}: $ {step.command}\n  exit {code}\n{stderr}")
            elif normalise(shown) != normalise(step.expected):
                problems.append(
                    f"line {step.line}: $ {step.command}\n--- page\n"
                    + "\n".join(step.expected)
                    + "\n--- now\n"
                    + "\n".join(shown)
                )
    assert not problems, "\n\n".join(problems)


# ---- validate and graph, directly -------------------------------------------------------------------
@pytest.fixture
def cli_run(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from gridflow.drivers.cli.main import cli

    monkeypatch.chdir(tmp_path)
    env = {"GRIDFLOW_DATABASE_URL": None, "GRIDFLOW_WORKFLOWS": None, "GRIDFLOW_NOW": None}

    def run(*args: str):
        db = f"sqlite:///{tmp_path / 'g.db'}"
        return CliRunner().invoke(cli, ["--db", db, *args], env=env, catch_exceptions=False)

    return run


def test_validate_passes_on_both_builtin_workflows(cli_run):
    from gridflow.service.engine import BUILTIN_WORKFLOWS

    files = [str(BUILTIN_WORKFLOWS / f"{w}.yaml") for w in ("four_list", "raise_hand")]
    res = cli_run("validate", *files)
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines() == [
        f"ok  {files[0]}: four_list v1 — 14 states, 22 transitions",
        f"ok  {files[1]}: raise_hand v1 — 18 states, 31 transitions",
    ]
    assert " error" not in res.stderr


@pytest.mark.parametrize("fmt", ["mermaid", "dot"])
@pytest.mark.parametrize("workflow", ["four_list", "raise_hand"])
def test_graph_draws_every_state_and_trigger(cli_run, workflow, fmt):
    from test_four_list import _builtin_workflows

    from gridflow.service.engine import BUILTIN_WORKFLOWS

    res = cli_run("graph", workflow, "--format", fmt)
    assert res.exit_code == 0, res.output
    source = res.stdout
    assert source.startswith("---\n" if fmt == "mermaid" else "digraph ")
    d = _builtin_workflows(str(BUILTIN_WORKFLOWS))[workflow].definition
    for name, state in d.states.items():
        assert name in source and state.label.zh in source, name
    for t in d.transitions:
        assert t.trigger in source, t.trigger
    first = d.initial_states[0]  # where the start arrow points; no state is active
    if fmt == "mermaid":
        assert f"Class {first} s_default" in source and " s_active\n" not in source
        assert f"[*] --> {first}" in source
    else:
        assert re.search(rf'\n\t{first} \[label="[^"]*"\]\n', source), source[:400]
        assert "color=red" not in source


def test_graph_highlights_a_cases_state(cli_run):
    res = cli_run(
        "start", "raise_hand", "--actor", "police.liaison",
        "--set", "direction=dept_asks", "--set", "title=t", "--set", "department=police",
    )  # fmt: skip
    assert res.exit_code == 0 and res.stdout.strip() == "1"
    res = cli_run("graph", "raise_hand", "--case", "1")
    assert res.exit_code == 0, res.output
    assert "Class open s_active" in res.stdout and "Class raised s_default" in res.stdout


# ---- regenerate the page ----------------------------------------------------------------------------
def write_outputs(doc: Path = DOC) -> None:
    """Run the page's commands in a temporary folder and put their output under them."""
    import tempfile

    text = doc.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        results = run_all(parse(text), Path(tmp), strict=True)
    outputs = {step.line: shown for section in results for step, shown, _, _ in section}
    lines, out, in_console = text.splitlines(), [], False
    for number, line in enumerate(lines, 1):
        if line.strip() == "```console":
            in_console = True
        elif in_console and line.strip() == "```":
            in_console = False
        elif in_console and not line.startswith("$ "):
            continue  # old output
        out.append(line)
        if number in outputs:
            out += outputs[number]
    doc.write_text("\n".join(out) + "\n", encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: test_walkthrough_cli.py --write")
    write_outputs()
