"""``domain.lazy.part``: made once per instance, on first use, the same object for every
thread that reads it at once."""

from __future__ import annotations

import threading
import time

from gridflow.domain.lazy import part


class Owner:
    made = 0

    @part
    def thing(self) -> object:
        """A part."""
        Owner.made += 1
        time.sleep(0.01)  # widen the window two readers could both make it in
        return object()


def test_a_part_is_made_on_first_use_and_kept():
    Owner.made = 0
    owner = Owner()
    assert "thing" not in owner.__dict__ and Owner.made == 0
    first = owner.thing
    assert owner.thing is first and Owner.made == 1
    assert Owner().thing is not first and Owner.made == 2
    assert Owner.thing.__doc__ == "A part."


def test_threads_reading_at_once_get_one_object():
    Owner.made = 0
    owner = Owner()
    seen: list[object] = []
    start = threading.Barrier(8)

    def read() -> None:
        start.wait()
        seen.append(owner.thing)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Owner.made == 1 and len({id(x) for x in seen}) == 1


def test_a_short_command_imports_no_api_part_and_no_report():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from gridflow.service.engine import Engine\n"
        "e = Engine('sqlite://', lazy=True)\n"
        "e.find(limit=5)\n"
        "print(sorted(m for m in sys.modules if m.startswith('gridflow.') and m.rsplit('.', 1)[-1] in "
        "('browse', 'tokens', 'audit', 'idempotency', 'files', 'ops', 'principals', 'kpi')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
