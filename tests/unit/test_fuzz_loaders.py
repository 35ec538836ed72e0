"""Fuzzing the workflow, org and calendar-override loaders: every input ends in a located
``DefinitionError`` or a clean load — never another exception.

Two parts: every input kept in ``tests/data/fuzz/`` (inputs that once broke a loader, and
hand-made attacks) is replayed; then Hypothesis mutates the seeds (``tests/fuzzing.py``)
with a fixed budget of examples, derandomized so CI runs the same inputs every time.

A longer campaign (random, saving what breaks)::

    GRIDFLOW_FUZZ_EXAMPLES=20000 GRIDFLOW_FUZZ_RANDOM=1 GRIDFLOW_FUZZ_SAVE=tests/data/fuzz \\
        python -m pytest tests/unit/test_fuzz_loaders.py -q -x
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from fuzzing import CORPUS, KINDS, kind_of, mutated, outcome
from hypothesis import HealthCheck, given, settings

EXAMPLES = int(os.environ.get("GRIDFLOW_FUZZ_EXAMPLES", "120"))
RANDOM = bool(os.environ.get("GRIDFLOW_FUZZ_RANDOM"))
SLOW = 10.0  # seconds one input may take, on a loaded machine (they take milliseconds)

CORPUS_FILES = sorted(p for p in CORPUS.iterdir() if p.suffix == ".yaml")
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=not RANDOM,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", "surrogatepass")


def test_the_corpus_is_there():
    kinds = {kind_of(p) for p in CORPUS_FILES}
    assert len(CORPUS_FILES) >= 20 and kinds == set(KINDS), (len(CORPUS_FILES), kinds)


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_corpus_input_ends_cleanly(path: Path):
    started = time.perf_counter()
    outcome(kind_of(path), _read(path), path.name)
    assert time.perf_counter() - started < SLOW


def _fuzz(kind: str, text: str) -> None:
    started = time.perf_counter()
    outcome(kind, text)
    assert time.perf_counter() - started < SLOW, f"took {time.perf_counter() - started:.1f} s"


_EXTRA = {k: tuple(_read(p) for p in CORPUS_FILES if kind_of(p) == k) for k in KINDS}


@FUZZ
@given(mutated("workflow", _EXTRA["workflow"]))
def test_fuzz_workflow_loader(text: str):
    _fuzz("workflow", text)


@FUZZ
@given(mutated("org", _EXTRA["org"]))
def test_fuzz_org_loader(text: str):
    _fuzz("org", text)


@settings(FUZZ, max_examples=max(10, EXAMPLES // 4))
@given(mutated("calendar", _EXTRA["calendar"]))
def test_fuzz_calendar_overrides(text: str):
    _fuzz("calendar", text)
