"""The verdict table: every workload of issue 8 with its figure, its target and pass or MISS."""

from bench.wrk import CLICK

# The targets of issue 8 for the wrk candidates: a share of their baseline's req/s, and a p99.
RATIO_TARGETS = {"click": 0.65, "convert": 0.50, "postback": 0.50}
P99_TARGETS_MS = {"click": 6, "convert": 15, "postback": 15}


def verdict(*values, **raw) -> dict:
    """A row of the table from its workload, detail, figure, unit, target and pass, in this order."""
    return dict(zip(("workload", "detail", "figure", "unit", "target", "pass"), values, strict=True)) | raw


def verdict_rows(rows: list[dict], batch: list[dict]) -> list[dict]:
    """Every workload with a target: the wrk candidates' (with W1b's buffer lag), then the batch ones."""
    verdicts = []
    for row in rows:
        if row["workload"] not in RATIO_TARGETS:
            continue
        name, baseline = f"W{1 if row['workload'] == CLICK.name else 2} {row['workload']}", row["baseline"]
        ratio, ratio_target = row["ratio_req_per_s_paired"], RATIO_TARGETS[row["workload"]]
        p99_limit = P99_TARGETS_MS[row["workload"]]
        verdicts += [
            verdict(
                name,
                f"{row['req_per_s']:,.0f} req/s vs {baseline}",
                ratio,
                f"of {baseline}",
                f"ratio >= {ratio_target:.2f} of {baseline}",
                ratio is not None and ratio >= ratio_target,
            ),
            verdict(
                f"{name} p99",
                "the median of the rounds' p99",
                row["p99_ms"],
                "ms",
                f"p99 <= {p99_limit} ms",
                row["p99_ms"] <= p99_limit,
            ),
        ]
        if row["workload"] == CLICK.name:
            lag = max(run.get("buffer_lag_max_s", 0.0) for run in row["runs"])
            verdicts.append(
                verdict(
                    "W1b buffer lag",
                    "the oldest buffered click's age, sampled every 0.1 s during the click rounds",
                    lag,
                    "s max",
                    "<= 2 s at the W1 rate",
                    lag <= 2,
                )
            )
    return verdicts + batch


def verdict_table(verdicts: list[dict]) -> str:
    lines = ["| workload | figure | target | verdict | detail |", "| --- | ---: | --- | --- | --- |"]
    for row in verdicts:
        figure = "n/a" if row["figure"] is None else f"{row['figure']:,.2f} {row['unit']}"
        verdict = "pass" if row["pass"] else "MISS"
        lines.append(f"| {row['workload']} | {figure} | {row['target']} | {verdict} | {row['detail']} |")
    return "\n".join(lines)
