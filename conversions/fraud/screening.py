"""Screening conversions: run their offers' checks, score each one, decide pass, flag or reject. The caller (the
processor, or a re-screen) changes the status, through conversions/processing/status.py, which audits it."""

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from conversions.fraud.checks import CHECKS, ThresholdInvalid
from conversions.fraud.context import ScreeningContext, ScreeningPreload
from conversions.models import Conversion, FraudSetting

log = logging.getLogger(__name__)

PASS, FLAG, REJECT = "pass", FraudSetting.Action.FLAG, FraudSetting.Action.REJECT
SCREENING_FIELDS = ["fraud_score", "fraud_signals", "screened_at"]


@dataclass(frozen=True)
class CheckSetting:
    enabled: bool
    threshold: object
    action: str = FLAG
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
        default = check.threshold_parse(check.default_threshold)
        if row is None:
            settings[code] = CheckSetting(check.default_enabled, default)
            continue
        try:
            threshold = default if row.threshold is None else check.threshold_parse(row.threshold)
        except ThresholdInvalid:
            # Rows saved through the admin are validated; one written around it must not stop processing.
            log.warning("fraud setting %s has an invalid threshold %r; using the default", row.pk, row.threshold)
            threshold = default
        settings[code] = CheckSetting(row.enabled, threshold, row.action, from_row=True)
    return settings


def _screening(context: ScreeningContext, settings: dict[str, CheckSetting]) -> Screening:
    fired = []
    for code, setting in settings.items():
        if setting.enabled and (signal := CHECKS[code].run(context, setting.threshold)) is not None:
            fired.append((signal, setting.action))
    screening = Screening(
        total_score=min(100, sum(signal.score for signal, _action in fired)),
        signals=[{"code": s.code, "score": s.score, "action": action, "evidence": s.evidence} for s, action in fired],
    )
    # Reject beats flag; within one, the highest-scoring signal (then the registry's order) decides.
    if holding := [(signal, action) for signal, action in fired if action in (REJECT, FLAG)]:
        signal, screening.decision = max(holding, key=lambda held: (held[1] == REJECT, held[0].score))
        screening.reason = signal.code
        screening.remark = "Held for review by the network."
        if screening.decision == REJECT:
            screening.remark = f"Rejected by fraud screening: {CHECKS[signal.code].title.lower()}."
    return screening


def conversions_screen(conversions: list[Conversion], *, now: datetime) -> list[Screening]:
    """Screen (locked) conversions, setting each one's score and signals; the caller saves them and acts.
    Settings are read once per offer and what the checks look up once for the set (ScreeningPreload)."""
    settings = {offer_id: fraud_settings_for(offer_id) for offer_id in {c.offer_id for c in conversions}}
    preload = ScreeningPreload(conversions)
    screenings = []
    for conversion in conversions:
        screening = _screening(ScreeningContext(conversion, preload), settings[conversion.offer_id])
        conversion.fraud_score, conversion.fraud_signals = screening.total_score, screening.signals
        conversion.screened_at = now
        screenings.append(screening)
    return screenings


def conversion_screen_store(conversion: Conversion, *, now: datetime | None = None) -> Screening:
    """Screen the (locked) conversion and store its score and signals on it; the caller acts on the decision."""
    [screening] = conversions_screen([conversion], now=now or timezone.now())
    conversion.save(update_fields=SCREENING_FIELDS)
    return screening
