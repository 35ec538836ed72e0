"""JSON as the JSON columns store it: compact, non-ASCII kept, datetimes as text."""

from __future__ import annotations

import json
from typing import Any

# what json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str) builds on
# every call, built once (an encoder keeps no state between calls)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


def json_dumps(value: Any) -> str:
    return _ENCODER.encode(value)
