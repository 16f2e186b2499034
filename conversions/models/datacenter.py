"""The data-centre ranges table, which the data-centre check reads."""

from django.db import models


class DatacenterRange(models.Model):
    """A hosting or cloud network. When the table has rows they replace the list shipped in the repo."""

    cidr = models.CharField(max_length=64, unique=True)
    provider = models.CharField(max_length=100, blank=True)
    loaded_at = models.DateTimeField()

    class Meta:
        ordering = ["cidr"]

    def __str__(self) -> str:
        return f"{self.cidr} ({self.provider})" if self.provider else self.cidr
