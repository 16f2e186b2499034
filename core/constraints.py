"""Model constraints the apps share."""

from django.db import models
from django.db.models import Q


def unique_where_set(fields: list[str], set_field: str, name: str) -> models.UniqueConstraint:
    """`fields` unique together among the rows whose `set_field` is not null (the others are not constrained)."""
    return models.UniqueConstraint(fields=fields, condition=Q(**{f"{set_field}__isnull": False}), name=name)
