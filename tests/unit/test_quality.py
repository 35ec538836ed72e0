"""The rings, the types and the style, checked by their own tools on every test run.

- import-linter: drivers → report → builtin → service → storage → domain, and nothing
  outside ``gridflow/storage`` imports SQLAlchemy, SQLModel or the tables (pyproject.toml).
- mypy over the whole package, with the settings in pyproject.toml (no blanket ignores).
- ruff: lint and format.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.quality


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return path


def test_import_contracts_are_kept() -> None:
    result = _run(_tool("lint-imports"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" KEPT") == 3


def test_mypy_is_clean() -> None:
    result = _run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_lint_and_format_are_clean() -> None:
    lint = _run(_tool("ruff"), "check", ".")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = _run(_tool("ruff"), "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_no_blanket_type_ignores() -> None:
    """Every ``type: ignore`` names its error code; no module switches mypy off."""
    bare = []
    for path in (ROOT / "gridflow").rglob("*.py"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "type: ignore" in line and "type: ignore[" not in line:
                bare.append(f"{path.relative_to(ROOT)}:{n}")
            if "mypy: ignore-errors" in line:
                bare.append(f"{path.relative_to(ROOT)}:{n}")
    assert bare == []
