"""Status changes: which status may follow which, and a set of changes written with its audit rows (who, when,
why) in three statements, then the postbacks. Every change goes through `StatusWrites.change`."""

from datetime import datetime

from conversions.errors import ConversionTransitionNotAllowed
from conversions.fraud.screening import SCREENING_FIELDS
from conversions.models import Conversion, StatusChange
from conversions.postbacks.services import partner_postbacks_enqueue, partners_with_postbacks
from core.rows import JsonOnce, rows_copy, rows_update

# The lifecycle of DESIGN.md: which status may follow which.
ALLOWED_TRANSITIONS = {
    Conversion.Status.PENDING: {Conversion.Status.ACCEPTED, Conversion.Status.REJECTED, Conversion.Status.SUSPICIOUS},
    Conversion.Status.SUSPICIOUS: {Conversion.Status.ACCEPTED, Conversion.Status.REJECTED},
    Conversion.Status.ACCEPTED: {Conversion.Status.REJECTED},
    Conversion.Status.REJECTED: set(),
}

# What processing writes on a conversion, changed or not: one UPDATE of the same columns for the whole set.
WRITTEN_FIELDS = ["status", "status_reason", "status_remark", "processed_at", "reward_explanation", *SCREENING_FIELDS]

_AUDIT_COLUMNS = ["conversion_id", "from_status", "to_status", "reason", "remark", "actor_id", "channel", "created_at"]


class StatusWrites:
    """The status changes of a set of conversions, decided in memory and written together by `write`."""

    def __init__(self) -> None:
        self.changes: list[tuple[Conversion, tuple]] = []  # each conversion with its audit row (_AUDIT_COLUMNS)

    def change(
        self,
        conversion: Conversion,
        to_status: str,
        *,
        reason: str,
        remark: str,
        channel: str,
        now: datetime,
        actor=None,
    ) -> None:
        """Move the conversion to `to_status` (in memory) if the lifecycle allows it, with its audit row."""
        if to_status not in ALLOWED_TRANSITIONS[conversion.status]:
            raise ConversionTransitionNotAllowed(f"A {conversion.status} conversion cannot become {to_status}.")
        row = (conversion.pk, conversion.status, to_status, reason, remark, actor.pk if actor else None, channel, now)
        self.changes.append((conversion, row))
        conversion.status, conversion.status_reason, conversion.status_remark = to_status, reason, remark
        conversion.processed_at = now

    def write(self, conversions: list[Conversion], *, json_once: JsonOnce | None = None) -> None:
        """Save `conversions` (every one the set took, changed or not) and the audit rows; then the postbacks."""
        if self.changes:
            rows_copy(StatusChange, _AUDIT_COLUMNS, (row for _, row in self.changes))
        rows_update(Conversion, WRITTEN_FIELDS, conversions, json_once=json_once)
        # Postbacks read the saved status, so they come after the update; one query finds who has any.
        with_postbacks = partners_with_postbacks({conversion.partner_id for conversion, _ in self.changes})
        for conversion, _ in self.changes:
            if conversion.partner_id in with_postbacks:
                partner_postbacks_enqueue(conversion_id=conversion.pk, event="status_changed")
        self.changes = []


def conversion_status_set(conversion: Conversion, to_status: str, **change) -> None:
    """One conversion's status change (`StatusWrites.change`'s arguments), written now: a set of one."""
    writes = StatusWrites()
    writes.change(conversion, to_status, **change)
    writes.write([conversion])


def conversion_status_keep(conversion: Conversion, *, now: datetime, **note) -> None:
    """The audit row of a change that keeps the status (an amount changed); `note`: reason, remark, channel, actor."""
    status = conversion.status
    StatusChange.objects.create(conversion=conversion, from_status=status, to_status=status, created_at=now, **note)
