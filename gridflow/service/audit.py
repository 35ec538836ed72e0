"""The audit log of refused attempts (service ring): who tried what, why it was refused,
when, from which address, with which request id. Accepted steps are audited beside the step
itself (``gf_step_origin``); this table holds what did *not* happen."""

from __future__ import annotations

from dataclasses import dataclass

from gridflow.service.runtime import Runtime
from gridflow.storage.api_records import AuditRecord

OUTCOMES = ("unauthenticated", "forbidden", "refused", "rate_limited")

__all__ = ["OUTCOMES", "Attempt", "Audit", "AuditRecord"]


@dataclass(frozen=True)
class Attempt:
    """A refused attempt, as the driver saw it."""

    outcome: str  # one of OUTCOMES
    status: int  # the HTTP status answered
    action: str  # "POST /api/v1/cases/{case_id}/events"
    reason: str
    principal: str | None = None
    token_id: str | None = None
    on_behalf_of: str | None = None
    case_id: int | None = None
    trigger: str | None = None
    channel: str = "api"
    address: str | None = None
    request_id: str | None = None


class Audit:
    """Write and list refused attempts."""

    def __init__(self, rt: Runtime):
        self.rt = rt

    def refused(self, attempt: Attempt) -> None:
        values = {k: getattr(attempt, k) for k in Attempt.__dataclass_fields__}
        values["reason"] = attempt.reason[:2000]
        values["action"] = attempt.action[:300]
        with self.rt.store.write() as tx:
            self.rt.store.audit.insert(tx, {**values, "at": self.rt.now()})

    def page(
        self,
        *,
        before_id: int | None = None,
        limit: int = 50,
        principal: str | None = None,
        outcome: str | None = None,
        case_id: int | None = None,
    ) -> list[AuditRecord]:
        """Refused attempts, newest first (keyset pages: ``before_id``)."""
        with self.rt.store.read() as tx:
            return self.rt.store.audit.page(
                tx,
                before_id=before_id,
                limit=limit,
                principal=principal,
                outcome=outcome,
                case_id=case_id,
            )
