"""The public API: ``gridflow.__all__`` names exactly what ``from gridflow import *`` gives,
every name resolves to the object its module defines, and every exception is in the tree.

Defect this guards: ``from gridflow import TickResult`` and ``from gridflow import *`` raised
(an export pointed at a module that did not define the name).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import gridflow
import gridflow.errors

PACKAGE = Path(gridflow.__file__).parent


def test_all_lists_exactly_the_lazy_exports() -> None:
    assert set(gridflow.__all__) == {*gridflow._EXPORTS, "__version__"}
    assert len(gridflow.__all__) == len(set(gridflow.__all__))


def test_star_import_gives_every_public_name() -> None:
    namespace: dict[str, object] = {}
    exec("from gridflow import *", namespace)
    public = {k for k in namespace if not k.startswith("__")}
    assert public == set(gridflow.__all__) - {"__version__"}


@pytest.mark.parametrize("name", [n for n in gridflow.__all__ if n != "__version__"])
def test_each_public_name_is_its_module_s_object(name: str) -> None:
    module, attr = gridflow._EXPORTS[name]
    assert getattr(gridflow, name) is getattr(importlib.import_module(module), attr)


def test_tick_result_imports_in_a_fresh_interpreter() -> None:
    code = "from gridflow import TickResult, Engine; print(TickResult.__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "gridflow.service.timers"


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Engin'"):
        gridflow.Engin  # noqa: B018


def test_every_error_class_is_public_and_in_the_tree_docstring() -> None:
    errors = {
        name
        for name, obj in vars(gridflow.errors).items()
        if inspect.isclass(obj) and issubclass(obj, gridflow.errors.GridflowError)
    }
    internal = {"CaseMoved"}  # retried inside the engine, never raised to a caller
    assert errors - internal <= set(gridflow.__all__)
    doc = gridflow.errors.__doc__ or ""
    assert all(name in doc for name in errors), sorted(n for n in errors if n not in doc)


def _exception_classes_outside_errors() -> list[str]:
    """Every class deriving from an exception defined anywhere in the package but
    errors.py, except private signals (a leading underscore)."""
    found = []
    for info in pkgutil.walk_packages([str(PACKAGE)], "gridflow."):
        if info.name == "gridflow.errors":
            continue
        spec = importlib.util.find_spec(info.name)
        if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            continue
        tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                bases = {ast.unparse(b) for b in node.bases}
                if any(b.endswith(("Error", "Exception")) for b in bases):
                    found.append(f"{info.name}.{node.name}")
    return found


def test_no_exception_is_defined_outside_errors_py() -> None:
    assert _exception_classes_outside_errors() == []
