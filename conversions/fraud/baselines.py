"""The checks that compare a conversion with its offer's own history, and their per-process cache."""

import math
import statistics
import time
from datetime import timedelta

from django.db.models import F

from conversions.fraud.context import Check
from conversions.models.conversion import Conversion

# An offer's history moves slowly: each process computes a baseline once per offer and hour
# (the history up to the start of the conversion's hour) instead of once per conversion.
BASELINE_TTL_SECONDS = 600
_baselines: dict = {}


class BaselineCheck(Check):
    def baseline(self, conversion: Conversion, threshold: dict, **filters):
        """The offer's accepted conversions (with `filters`) of the `days` before the hour, as `history_stats`
        makes them a baseline (None: too few to judge by); cached."""
        until = conversion.created_at.replace(minute=0, second=0, microsecond=0)
        key = (self.code, conversion.offer_id, until, *sorted(filters.items()), *sorted(threshold.items()))
        now = time.monotonic()
        cached = _baselines.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        if len(_baselines) > 5000:
            _baselines.clear()
        history = Conversion.objects.filter(
            offer_id=conversion.offer_id,
            status=Conversion.Status.ACCEPTED,
            created_at__gte=until - timedelta(days=threshold["days"]),
            created_at__lt=until,
            **filters,
        ).order_by("-created_at")
        value = self.history_stats(history, threshold)
        _baselines[key] = (now + BASELINE_TTL_SECONDS, value)
        return value


class AmountOutlier(BaselineCheck):
    def history_stats(self, history, threshold):
        # Statistics need recent history, but never more than 500 rows.
        amounts = [float(amount) for amount in history.values_list("amount", flat=True)[:500]]
        if len(amounts) < threshold["min_samples"]:
            return None
        return statistics.fmean(amounts), statistics.pstdev(amounts), statistics.median(amounts), len(amounts)

    def run(self, context, threshold):
        conversion = context.conversion
        baseline = self.baseline(conversion, threshold, currency=conversion.currency)
        if baseline is None:
            return None
        mean, sd, median, samples = baseline
        amount = float(conversion.amount)
        sd_limit = mean + threshold["sd"] * sd
        median_limit = median * threshold["median_multiple"]
        over = ["mean_plus_sd"] if amount > sd_limit else []
        if median > 0 and amount > median_limit:
            over.append("median_multiple")
        if not over:
            return None
        return self.signal(
            amount=str(conversion.amount),
            currency=conversion.currency,
            over=over,
            history_mean=round(mean, 2),
            history_sd=round(sd, 2),
            history_median=round(median, 2),
            limit_mean_plus_sd=round(sd_limit, 2),
            limit_median_multiple=round(median_limit, 2),
            samples=samples,
        )


class CtitLearnedBaseline(BaselineCheck):
    """Click-to-conversion time far below the offer's recent distribution: a robust z-score,
    (log ctit - median) / (1.4826 * MAD). Log, because CTIT spans seconds to weeks; median and MAD,
    because the history itself may hold a few fast frauds that would drag a mean down."""

    # Below this spread (in log-seconds) the history is too uniform to score against.
    min_scale = 0.1

    def history_stats(self, history, threshold):
        ctits = history.annotate(ctit=F("occurred_at") - F("click__created_at")).values_list("ctit", flat=True)
        logs = sorted(math.log(max(ctit.total_seconds(), 1.0)) for ctit in ctits[: int(threshold["samples"])])
        if len(logs) < threshold["min_samples"]:
            return None
        median = statistics.median(logs)
        mad = statistics.median(abs(value - median) for value in logs)
        p1 = logs[max(0, math.ceil(0.01 * len(logs)) - 1)]
        return median, max(1.4826 * mad, self.min_scale), p1, len(logs)

    def run(self, context, threshold):
        seconds = context.ctit_seconds
        if seconds is None or (baseline := self.baseline(context.conversion, threshold, click__isnull=False)) is None:
            return None
        median, scale, p1, samples = baseline
        z = (math.log(max(seconds, 1.0)) - median) / scale
        if z >= -threshold["z"]:
            return None
        return self.signal(
            ctit_seconds=round(seconds, 1),
            robust_z=round(z, 2),
            threshold_z=threshold["z"],
            baseline_median_seconds=round(math.exp(median), 1),
            baseline_p1_seconds=round(math.exp(p1), 1),
            samples=samples,
        )
