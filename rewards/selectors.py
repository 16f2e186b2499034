"""Reads of rewards for the apps above (conversions' API and pages) and for the admin."""

from collections.abc import Iterable
from uuid import UUID

from rewards.models import Reward


def reward_for_conversion(conversion_id: UUID) -> Reward | None:
    return Reward.objects.filter(conversion_id=conversion_id).first()


def rewards_by_conversion(conversion_ids: Iterable[UUID]) -> dict[UUID, Reward]:
    """The rewards of many conversions in one query, for list views."""
    return {reward.conversion_id: reward for reward in Reward.objects.filter(conversion_id__in=list(conversion_ids))}
