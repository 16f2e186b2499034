import itertools
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from conversions.models import Conversion, StatusChange

_numbers = itertools.count(1)


def make_conversion(offer, partner, **fields) -> Conversion:
    """A pending conversion as ingestion stores it (attribution is not what these tests are about)."""
    occurred_at = fields.pop("occurred_at", datetime(2025, 6, 2, 12, 0, tzinfo=UTC))
    conversion = Conversion.objects.create(
        advertiser=offer.advertiser,
        offer=offer,
        partner=partner,
        external_id=fields.pop("external_id", f"order-{next(_numbers)}"),
        type=fields.pop("type", "purchase"),
        amount=Decimal(fields.pop("amount", "100.00")),
        currency=fields.pop("currency", offer.currency),
        product_id=fields.pop("product_id", "sku-1"),
        occurred_at=occurred_at,
        created_at=fields.pop("created_at", occurred_at),
        **fields,
    )
    StatusChange.objects.create(conversion=conversion, to_status="pending", channel="api", created_at=occurred_at)
    return conversion


@pytest.fixture
def conversion_for():
    return make_conversion
