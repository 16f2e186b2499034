"""The scheduled jobs, for rq's cron scheduler (the Procfile's `scheduler:`). Each is safe to run twice and to
overlap with itself (rows are taken with SKIP LOCKED and re-checked under their lock): a missed tick costs nothing.
"""

from rq import cron

from conversions.processing.jobs import (
    process_conversions_waiting_for_rates,
    process_pending_conversions,
    prune_ingestion_records,
)
from referrals.jobs import maintain_click_partitions
from rewards.jobs import approve_due_rewards

# The sweeper: pending conversions whose job was lost or that came faster than one job each can take.
cron.register(process_pending_conversions, "default", interval=60, job_timeout=600)
# Conversions waiting for an exchange rate; loading rates also triggers this at once.
cron.register(process_conversions_waiting_for_rates, "default", cron="17 * * * *", job_timeout=600)
# Validation terms end at local midnights, which fall on any quarter hour somewhere.
cron.register(approve_due_rewards, "default", cron="*/15 * * * *", job_timeout=600)
# Idempotency keys past 24 h, spent signatures, request-log entries past their retention.
cron.register(prune_ingestion_records, "default", cron="7 * * * *", job_timeout=600)
# The click table's months: partitions made ahead, months past CLICK_RETENTION_DAYS retired (one run at a time).
cron.register(maintain_click_partitions, "default", cron="41 * * * *", job_timeout=3600)
