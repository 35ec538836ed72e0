"""The error responses each operation documents (``responses=`` of the routes)."""

from __future__ import annotations

from typing import Any

from gridflow.drivers.http.schemas import Problem

DESCRIPTIONS = {
    400: "Bad request",
    401: "No valid credentials",
    403: "Not permitted (the role or permission needed is named)",
    404: "Not found (or not visible to the caller)",
    409: "Refused in the current state (what is allowed is named)",
    412: "The case moved on (If-Match names an older version)",
    413: "The body or the file is too large",
    415: "The file's type is not accepted",
    422: "Invalid input (one entry per field)",
    429: "Too many failed authentications from this address",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for these statuses plus what every API operation may answer."""
    every = {401, 403, 422, 429}
    return {
        code: {"model": Problem, "description": DESCRIPTIONS[code]}
        for code in sorted(every | set(codes))
    }
