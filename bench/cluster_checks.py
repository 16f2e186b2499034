"""bench/cluster.py's checks, in SQL on the primary once the soak has drained: every acknowledged click and
conversion stored exactly once, every conversion processed once, the ledger balanced; and the table.

Each check counts violations, so a run passes when every count is 0 (tests/test_cluster_checks.py makes each one
fail on purpose: a checker that cannot fail would pass a broken cluster).
"""

from tests.reliability.traffic import Answer, proof_table, soak_row

ACKNOWLEDGED = {"click": {302}, "convert": {200, 202}, "postback": {200, 202}, "read api": {200}, "dashboard": {200}}
# Endpoints that store what they acknowledge, and what the key of an answer is: a click id or an external id.
STORING = {"click": "click", "convert": "conversion", "postback": "conversion"}


def _counts(connection, sql: str, *params) -> dict[str, int]:
    return {key: count for key, count in connection.execute(sql, params).fetchall()}


def clicks_stored(connection, click_ids: list[str]) -> dict[str, int]:
    """How many click rows hold each of these click ids (those with none left out)."""
    return _counts(
        connection,
        "SELECT click_id, count(*) FROM referrals_click WHERE click_id = ANY(%s) GROUP BY click_id",
        click_ids,
    )


def conversions_stored(connection, advertiser_id: int, external_ids: list[str]) -> dict[str, int]:
    """How many of the advertiser's conversions hold each of these external ids."""
    return _counts(
        connection,
        "SELECT external_id, count(*) FROM conversions_conversion WHERE advertiser_id = %s "
        "AND external_id = ANY(%s) GROUP BY external_id",
        advertiser_id,
        external_ids,
    )


# Each: (what it counts, SQL whose one number must be 0). %(advertiser)s is the run's advertiser.
PROCESSING_CHECKS = (
    (
        "conversions still pending",
        "SELECT count(*) FROM conversions_conversion WHERE advertiser_id = %(advertiser)s AND status = 'pending'",
    ),
    (
        "conversions processed more than once",
        "SELECT count(*) FROM (SELECT change.conversion_id FROM conversions_statuschange change "
        "JOIN conversions_conversion conversion ON conversion.id = change.conversion_id "
        "WHERE conversion.advertiser_id = %(advertiser)s AND change.from_status = 'pending' "
        "GROUP BY change.conversion_id HAVING count(*) > 1) twice",
    ),
    (
        "conversions with more than one reward",
        "SELECT count(*) FROM (SELECT conversion_id FROM rewards_reward reward JOIN conversions_conversion "
        "conversion ON conversion.id = reward.conversion_id WHERE conversion.advertiser_id = %(advertiser)s "
        "GROUP BY conversion_id HAVING count(*) > 1) twice",
    ),
    (
        "rewards without exactly one accrual",
        "SELECT count(*) FROM rewards_reward reward WHERE (SELECT count(*) FROM rewards_transaction posting "
        "WHERE posting.reward_id = reward.id AND posting.kind = 'accrual') <> 1",
    ),
)
LEDGER_CHECKS = (
    (
        "ledger transactions whose entries do not sum to 0",
        "SELECT count(*) FROM (SELECT transaction_id FROM rewards_entry GROUP BY transaction_id "
        "HAVING sum(amount) <> 0) unbalanced",
    ),
    (
        "currencies whose entries do not sum to 0",
        "SELECT count(*) FROM (SELECT currency FROM rewards_entry GROUP BY currency HAVING sum(amount) <> 0) off",
    ),
    (
        "rewards whose accrual credits other than their amount",
        "SELECT count(*) FROM (SELECT reward.id FROM rewards_reward reward "
        "JOIN rewards_transaction posting ON posting.reward_id = reward.id AND posting.kind = 'accrual' "
        "JOIN rewards_entry entry ON entry.transaction_id = posting.id AND entry.amount > 0 "
        "GROUP BY reward.id, reward.amount HAVING sum(entry.amount) <> reward.amount) off",
    ),
)


def invariant_violations(connection, advertiser_id: int) -> dict[str, int]:
    """Each processing and ledger check with how many rows break it."""
    return {
        name: connection.execute(sql, {"advertiser": advertiser_id}).fetchone()[0]
        for name, sql in (*PROCESSING_CHECKS, *LEDGER_CHECKS)
    }


def soak_rows(connection, advertiser_id: int, answers: dict[str, list[Answer]], rates: dict, duration: float) -> list:
    """The table's rows: per endpoint, its answers against what the database holds for their keys, and the rate
    it was sent at beside the rate asked for (a loaded machine answers slower than the pace)."""
    acknowledged = {
        name: [answer.key for answer in endpoint if answer.status in ACKNOWLEDGED[name] and answer.key]
        for name, endpoint in answers.items()
    }
    click_ids = [key for name in answers if STORING.get(name) == "click" for key in acknowledged[name]]
    external_ids = [key for name in answers if STORING.get(name) == "conversion" for key in acknowledged[name]]
    stored = {
        "click": clicks_stored(connection, click_ids),
        "conversion": conversions_stored(connection, advertiser_id, external_ids),
    }
    return [
        {
            **soak_row(name, endpoint, ACKNOWLEDGED[name], stored[STORING[name]] if name in STORING else None),
            "sent/s (asked)": f"{len(endpoint) / duration:.1f} ({rates[name]:g})",
        }
        for name, endpoint in answers.items()
    ]


def error_statuses(answers: dict[str, list[Answer]]) -> dict[str, dict[int, dict]]:
    """Per endpoint and status not acknowledged (0: no answer at all), how many and the first one's body."""
    errors: dict[str, dict[int, dict]] = {}
    for name, endpoint in answers.items():
        for answer in endpoint:
            if answer.status not in ACKNOWLEDGED[name]:
                seen = errors.setdefault(name, {}).setdefault(answer.status, {"count": 0, "first": answer.detail})
                seen["count"] += 1
    return errors


def soak_table(rows: list[dict]) -> str:
    return proof_table("endpoint by endpoint (stored: in PostgreSQL after the drain):", rows)


def soak_passed(rows: list[dict], violations: dict[str, int]) -> bool:
    """Nothing acknowledged lost or stored twice, and every invariant held."""
    broken = any(isinstance(row["lost"], int) and (row["lost"] or row["doubled"]) for row in rows)
    return not broken and not any(violations.values())
