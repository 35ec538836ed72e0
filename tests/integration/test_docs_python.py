"""The Python in the README and in docs/ runs as written, and says what it prints.

Every ```python block of README.md and docs/*.md is executed in a fresh namespace in an
empty folder. A ``print(x)   # text`` line in a block must print ``text``.
"""

from __future__ import annotations

import contextlib
import io
import re
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^( *)```python\n(.*?)^\1```", re.S | re.M)


def python_blocks() -> list[tuple[str, str]]:
    out = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for m in BLOCK.finditer(text):
            line = text[: m.start()].count("\n") + 1
            out.append((f"{doc.relative_to(ROOT)}:{line}", textwrap.dedent(m.group(2))))
    return out


BLOCKS = python_blocks()


def test_the_docs_have_python_to_run() -> None:
    assert any(where.startswith("README.md") for where, _ in BLOCKS)


@pytest.mark.parametrize(("where", "code"), BLOCKS, ids=[w for w, _ in BLOCKS])
def test_block_runs_and_prints_what_it_says(where, code, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("GRIDFLOW_CONFIG", "GRIDFLOW_DATABASE_URL", "GRIDFLOW_NOW", "GRIDFLOW_WORKFLOWS"):
        monkeypatch.delenv(name, raising=False)
    out = io.StringIO()
    namespace: dict[str, object] = {"__name__": "__doc_block__"}
    with contextlib.redirect_stdout(out):
        exec(compile(code, where, "exec"), namespace)
    engine = namespace.get("engine")
    if engine is not None:
        engine.close()  # type: ignore[attr-defined]
    expected = [m.group(1).strip() for m in re.finditer(r"^\s*print\(.*\)\s*#\s*(.+)$", code, re.M)]
    printed = out.getvalue().splitlines()
    assert printed[: len(expected)] == expected, (where, printed)
    if "def verify(" in code:  # docs/notices.md: a receiver's check agrees with the sender's
        from gridflow.drivers.notifiers.webhook import signature

        verify = namespace["verify"]
        body, ts = b'{"id": "n1"}', str(int(time.time()))
        headers = {
            "X-Gridflow-Id": "n1",
            "X-Gridflow-Timestamp": ts,
            "X-Gridflow-Signature": signature("s3cret", "n1", ts, body),
        }
        assert verify("s3cret", headers, body)
        assert not verify("s3cret", headers, body + b" ")
        assert not verify("other", headers, body)
