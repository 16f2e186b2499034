"""The cron configuration the scheduler process loads."""

import pytest
from django_rq.cron import DjangoCronScheduler


@pytest.mark.django_db
def test_the_cron_config_schedules_the_sweeper_the_rate_retry_approvals_pruning_and_click_partitions():
    scheduler = DjangoCronScheduler()
    scheduler.load_config_from_file("config.cron")
    assert {job.func_name for job in scheduler.get_jobs()} == {
        "conversions.processing.jobs.process_pending_conversions",
        "conversions.processing.jobs.process_conversions_waiting_for_rates",
        "rewards.jobs.approve_due_rewards",
        "conversions.processing.jobs.prune_ingestion_records",
        "referrals.jobs.maintain_click_partitions",
    }
