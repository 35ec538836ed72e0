"""``part``: an attribute made on first use, once per instance, safely across threads.

The engine and the store are composed of parts; a command that lists cases needs neither the
HTTP API's parts nor the report passes, and importing them costs a short command a good part
of its run. A ``part`` runs its factory (which imports what it needs) the first time the
attribute is read, under a lock, and keeps the result on the instance::

    class Engine:
        @part
        def reports(self) -> Reports:
            from gridflow.service.kpi import Reports
            return Reports(self.rt, self.definitions)

Unlike ``functools.cached_property`` (whose lock was dropped in Python 3.12), two threads
reading a part at once get the same object: parts hold state (caches, rate limits).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

__all__ = ["part"]

T = TypeVar("T")

_LOCK = threading.RLock()  # parts are made rarely: one lock for all of them is plenty


class part(Generic[T]):
    """A lazily made, thread-safe, per-instance attribute (see the module docstring)."""

    def __init__(self, factory: Callable[[Any], T]):
        self._factory = factory
        self.__doc__ = factory.__doc__
        self._name = factory.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, instance: None, owner: type) -> part[T]: ...

    @overload
    def __get__(self, instance: object, owner: type) -> T: ...

    def __get__(self, instance: object | None, owner: type) -> part[T] | T:
        if instance is None:
            return self
        found = instance.__dict__.get(self._name, _MISSING)
        if found is _MISSING:
            with _LOCK:
                found = instance.__dict__.get(self._name, _MISSING)
                if found is _MISSING:
                    found = self._factory(instance)
                    instance.__dict__[self._name] = found
        return found


_MISSING: Any = object()
