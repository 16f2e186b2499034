"""Screening one conversion: run the offer's checks, score it, decide pass, flag or reject.

`conversion_screen` only reads; `conversion_screen_store` also writes the score and
signals on the conversion; `conversions_screen` screens a set for the processor. Status
changes are made by the caller (the processor, or a re-screen), through
conversions/processing/status.py, so they leave an audit row.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from conversions.fraud.checks import CHECKS
from conversions.fraud.context import ScreeningContext, ScreeningPreload, Signal, ThresholdInvalid
from conversions.models import Conversion, FraudSetting

log = logging.getLogger(__name__)

MAX_SCORE = 100
PASS, FLAG, REJECT, RECORD = "pass", FraudSetting.Action.FLAG, FraudSetting.Action.REJECT, FraudSetting.Action.RECORD

FLAG_REMARK = "Held for review by the network."


@dataclass(frozen=True)
class CheckSetting:
    enabled: bool
    threshold: object
    action: str
    from_row: bool = False


@dataclass
class Screening:
    total_score: int = 0
    signals: list[dict] = field(default_factory=list)  # as stored: code, score, action, evidence
    decision: str = PASS
    reason: str = ""  # the deciding check's code
    remark: str = ""

    @property
    def holds(self) -> bool:
        return self.decision in (FLAG, REJECT)

    @property
    def status(self) -> str:
        return {FLAG: Conversion.Status.SUSPICIOUS, REJECT: Conversion.Status.REJECTED}.get(self.decision, "")


def fraud_settings_for(offer_id: int) -> dict[str, CheckSetting]:
    """Every check's setting on the offer: its row if there is one, else the check's defaults."""
    rows = {row.check_code: row for row in FraudSetting.objects.filter(offer_id=offer_id)}
    settings = {}
    for code, check in CHECKS.items():
        row = rows.get(code) if check.configurable else None
        if row is None:
            settings[code] = CheckSetting(
                check.default_enabled, check.threshold_parse(check.default_threshold), check.default_action
            )
            continue
        threshold = row.threshold if row.threshold is not None else check.default_threshold
        try:
            parsed = check.threshold_parse(threshold)
        except ThresholdInvalid:
            # Rows saved through the admin are validated; one written around it must not stop processing.
            log.warning("fraud setting %s has an invalid threshold %r; using the default", row.pk, row.threshold)
            parsed = check.threshold_parse(check.default_threshold)
        settings[code] = CheckSetting(row.enabled, parsed, row.action, from_row=True)
    return settings


def _decide(fired: list[tuple[Signal, str]]) -> tuple[str, str]:
    """Reject beats flag; within one, the highest-scoring signal (then the registry's order) decides."""
    for decision in (REJECT, FLAG):
        candidates = [signal for signal, action in fired if action == decision]
        if candidates:
            return decision, max(candidates, key=lambda signal: signal.score).code
    return PASS, ""


def conversion_screen(
    conversion: Conversion,
    *,
    now: datetime | None = None,
    settings: dict[str, CheckSetting] | None = None,
    preload: ScreeningPreload | None = None,
) -> Screening:
    """Run every enabled check on the conversion and decide what its signals call for.

    A batch passes its offers' `settings` and a `preload` of what the checks read; the answer is the same.
    """
    now = now or timezone.now()
    context = ScreeningContext(conversion=conversion, now=now, preload=preload)
    fired: list[tuple[Signal, str]] = []
    if settings is None:
        settings = fraud_settings_for(conversion.offer_id)
    for code, setting in settings.items():
        if not setting.enabled:
            continue
        signal = CHECKS[code].run(context, setting.threshold)
        if signal is not None:
            fired.append((signal, setting.action))
    decision, reason = _decide(fired)
    if decision == REJECT:
        remark = f"Rejected by fraud screening: {CHECKS[reason].title.lower()}."
    elif decision == FLAG:
        remark = FLAG_REMARK
    else:
        remark = ""
    return Screening(
        total_score=min(MAX_SCORE, sum(signal.score for signal, _action in fired)),
        signals=[signal.as_json(action=action) for signal, action in fired],
        decision=decision,
        reason=reason,
        remark=remark,
    )


SCREENING_FIELDS = ["fraud_score", "fraud_signals", "screened_at"]


def conversion_screen_store(conversion: Conversion, *, now: datetime | None = None) -> Screening:
    """Screen the (locked) conversion and store its score and signals on it; the caller acts on the decision."""
    now = now or timezone.now()
    screening = conversion_screen(conversion, now=now)
    _screening_set(conversion, screening, now=now)
    conversion.save(update_fields=SCREENING_FIELDS)
    return screening


def conversions_screen(conversions: list[Conversion], *, now: datetime) -> list[Screening]:
    """Screen a batch of (locked) conversions, setting each one's score and signals; the caller saves them.

    The offers' settings are read once per offer and what the checks look up once per batch
    (ScreeningPreload), so a batch makes a handful of queries instead of several per conversion.
    """
    settings = {offer_id: fraud_settings_for(offer_id) for offer_id in {c.offer_id for c in conversions}}
    preload = ScreeningPreload(conversions)
    screenings = []
    for conversion in conversions:
        screening = conversion_screen(conversion, now=now, settings=settings[conversion.offer_id], preload=preload)
        _screening_set(conversion, screening, now=now)
        screenings.append(screening)
    return screenings


def _screening_set(conversion: Conversion, screening: Screening, *, now: datetime) -> None:
    conversion.fraud_score, conversion.fraud_signals, conversion.screened_at = (
        screening.total_score,
        screening.signals,
        now,
    )
