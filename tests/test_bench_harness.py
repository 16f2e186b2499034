"""The bench harness's arithmetic: what it reads from wrk and how it turns rounds into a table row."""

from bench.wrk import CLICK, NOOP_DJANGO, parse_wrk_output, workload_summary

# Captured from wrk 4.1.0 with bench/report.lua against a link code that does not exist (all 404).
WRK_OUTPUT_ALL_404 = """\
Running 1s test @ http://127.0.0.1:54121/c/nosuchcode
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.11ms    9.07ms  75.62ms   93.84%
    Req/Sec   631.60    227.09     0.94k    60.00%
  Latency Distribution
     50%    2.17ms
     75%    4.38ms
     90%    8.21ms
     99%   53.36ms
  630 requests in 1.00s, 287.60KB read
  Non-2xx or 3xx responses: 630
Requests/sec:    628.88
Transfer/sec:    287.08KB
BENCH_RESULT {"requests": 630, "duration_us": 1001784, "bytes": 294498, "latency_us": {"p50": 2173, "p90": 8209, \
"p99": 53359, "mean": 5111.6, "max": 75619}, "errors": {"connect": 0, "read": 0, "write": 0, "status": 630, \
"timeout": 0}}
"""


def run_result(req_per_s: float, p50_ms: float, p99_ms: float, errors: int = 0) -> dict:
    return {
        "requests": int(req_per_s * 8),
        "req_per_s": req_per_s,
        "p50_ms": p50_ms,
        "p99_ms": p99_ms,
        "errors": errors,
        "non_2xx_3xx": errors,
    }


def test_wrk_output_counts_4xx_answers_as_errors_and_reads_exact_latencies():
    result = parse_wrk_output(WRK_OUTPUT_ALL_404)

    assert result["requests"] == 630
    assert result["req_per_s"] == 628.9
    assert result["p50_ms"] == 2.173
    assert result["p99_ms"] == 53.359
    assert result["non_2xx_3xx"] == 630
    assert result["errors"] == 630


def test_summary_keeps_the_median_of_each_number_sums_errors_and_pairs_rounds_for_the_ratio():
    baseline = workload_summary(
        NOOP_DJANGO, [run_result(7000, 2.0, 5.0), run_result(7400, 2.2, 9.0), run_result(6000, 1.9, 6.0)], None
    )
    click = workload_summary(
        CLICK,
        [run_result(2500, 6.0, 20.0, errors=3), run_result(1000, 7.0, 30.0), run_result(2600, 5.0, 25.0)],
        baseline,
    )

    assert (baseline["req_per_s"], baseline["p50_ms"], baseline["p99_ms"]) == (7000, 2.0, 6.0)
    assert baseline["ratio_req_per_s"] == 1.0
    assert (click["req_per_s"], click["p50_ms"], click["p99_ms"]) == (2500, 6.0, 25.0)
    assert click["errors"] == 3
    assert click["request"] == "GET /c/<code>?sub1=x"
    assert click["ratio_req_per_s"] == round(2500 / 7000, 3)
    # Round by round: 2500/7000, 1000/7400, 2600/6000; the median is the first.
    assert click["ratio_req_per_s_paired"] == round(2500 / 7000, 3)
    assert click["ratio_p99"] == round(25.0 / 6.0, 3)


def test_the_verdict_table_holds_every_workload_against_its_target():
    from bench.verdicts import verdict_rows, verdict_table
    from bench.wrk import CONVERT, NOOP_DRF

    noop = workload_summary(NOOP_DJANGO, [run_result(1000, 2.0, 5.0)], None)
    click = workload_summary(CLICK, [{**run_result(700, 3.0, 6.0), "buffer_lag_max_s": 2.5}], noop)
    noop_drf = workload_summary(NOOP_DRF, [run_result(1000, 2.0, 5.0)], None)
    convert = workload_summary(CONVERT, [run_result(300, 3.0, 6.0)], noop_drf)
    batch = [
        {
            "workload": "W3 processing",
            "figure": 1200.0,
            "unit": "conversions/s",
            "target": ">= 3000/s",
            "pass": False,
            "detail": "3,000 conversions",
        }
    ]

    verdicts = verdict_rows([noop, click, noop_drf, convert], batch)

    assert [(row["workload"], row["pass"]) for row in verdicts] == [
        ("W1 click", True),
        ("W1 click p99", True),  # 6 ms is the limit itself
        ("W1b buffer lag", False),  # 2.5 s > 2 s
        ("W2 convert", False),
        ("W2 convert p99", True),
        ("W3 processing", False),
    ]
    table = verdict_table(verdicts)
    assert "| W1 click | 0.70 of noop-django | ratio >= 0.65 of noop-django | pass |" in table
    assert "| W2 convert | 0.30 of noop-drf |" in table and "MISS" in table
